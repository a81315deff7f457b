"""Change-sets: the signed, content-addressed files in which every piece of data travels.

A change-set carries operations (JSON objects this module never interprets) from one
origin node to one recipient node. On disk it is ONE gzip file made of exactly two
members; decompressed, the whole file is newline-delimited JSON::

    member 1   line 1   header     RFC 8785 canonical JSON, see :class:`Header`
               line 2   seal       {"cert": base64 DER certificate, "sig": base64 signature}
    member 2   line 3…  body       one operation per line, compact JSON, no floats

Each member starts with the 16 bytes of :data:`MEMBER_PREFIX` (deflate, no time stamp,
unknown OS, and an extra field ``FS`` of 4 bytes) followed by those 4 bytes: the CRC-32
of the member's *compressed* deflate data. It ends with the usual gzip CRC-32 and size of
the decompressed data. The extra CRC is there because a deflate stream has bits that
change no output (the padding after its last block, a back-reference to an equal string
at another distance): without it, some single flipped bits would still decompress to the
signed content. With it, every changed byte fails a fixed header, the deflate decoder or a
checksum. Any gzip tool reads the file (``zcat`` shows the NDJSON). The body member's
deflate data is written to a temporary file while the body is hashed, then copied behind
the header member without recompression.

The change-set id is the SHA-256 of the canonical header; the file is named
``<origin>_<recipient>_<seq:010d>_<id>.fcs``. The origin signs ``DOMAIN + kind + NUL +
recipient + NUL + canonical header`` (domain separation: a receipt never verifies as an
appropriation, nor a change-set for one county as one for another); the header covers
the body through its hash (``"<hash>:<hex>"``, the hash of the signature suite) and its
operation count.

:func:`verify` checks a file in this order, each failure with its own exception: framing
and header syntax (:class:`MalformedChangeSet`), header signature
(:class:`SignatureInvalid`), signer certificate, valid at the header's ``created``, and
its binding to the origin (:class:`CertificateRejected`), recipient
(:class:`WrongRecipient`), the caller's authorisation (:class:`NotAuthorized`), and last
a streaming pass over the body (:class:`IntegrityError`). Reading and writing use bounded memory whatever the size.
"""

from sync.changeset.codec import MAX_OPERATION_BYTES
from sync.changeset.framing import COMPRESSION_LEVEL, MEMBER_PREFIX
from sync.changeset.header import (
    DOMAIN,
    FORMAT,
    SUFFIX,
    ChangeSetName,
    Header,
    Seal,
    parse_filename,
    signing_message,
)
from sync.changeset.reading import Verified, check_stored, iter_operations, read_header, verify
from sync.changeset.writing import (
    ChangeSetWriter,
    Encoded,
    WrittenChangeSet,
    encoded_operation,
    write_changeset,
)

__all__ = [
    "COMPRESSION_LEVEL",
    "DOMAIN",
    "FORMAT",
    "MAX_OPERATION_BYTES",
    "MEMBER_PREFIX",
    "SUFFIX",
    "ChangeSetName",
    "ChangeSetWriter",
    "Encoded",
    "Header",
    "Seal",
    "Verified",
    "WrittenChangeSet",
    "check_stored",
    "encoded_operation",
    "iter_operations",
    "parse_filename",
    "read_header",
    "signing_message",
    "verify",
    "write_changeset",
]
