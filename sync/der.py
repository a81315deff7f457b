"""Just enough DER (ITU-T X.690) to place SM2 keys and signatures in X.509 structures.

``cryptography`` builds and parses every X.509 certificate, request and revocation list
of the province's PKI, but cannot sign with SM2 nor encode an SM2 public key. For the
SM2 suite it builds the structure anyway (with a placeholder key), and this module cuts
the structure into its elements so that the SM2 suite can put its own public key and
signature algorithm in their place, and wrap the result with its signature. Only
definite-length, single-byte-tag elements are read: DER allows nothing else in the
structures concerned. A malformed input raises ``ValueError``.
"""

from __future__ import annotations

__all__ = [
    "BIT_STRING",
    "INTEGER",
    "OCTET_STRING",
    "OID",
    "SEQUENCE",
    "bit_string",
    "element",
    "elements",
    "integer",
    "oid",
    "read_integer",
    "sequence",
    "unwrap",
]

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
SEQUENCE = 0x30


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def element(tag: int, content: bytes) -> bytes:
    """One DER element: ``tag``, the definite length, ``content``."""
    return bytes([tag]) + _length(len(content)) + content


def sequence(*parts: bytes) -> bytes:
    return element(SEQUENCE, b"".join(parts))


def integer(value: int) -> bytes:
    """A non-negative INTEGER in its shortest two's-complement form."""
    if value < 0:
        raise ValueError("negative integers are not used here")
    return element(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def bit_string(data: bytes) -> bytes:
    """A BIT STRING of whole bytes (no unused bits)."""
    return element(BIT_STRING, b"\x00" + data)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form, e.g. ``1.2.156.10197.1.301``."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return element(OID, bytes(body))


def _header(data: bytes, at: int) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the element beginning at ``at``."""
    if at + 2 > len(data):
        raise ValueError("truncated DER element")
    tag, first = data[at], data[at + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags are not expected here")
    start = at + 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("bad DER length")
        size = int.from_bytes(data[start : start + count], "big")
        if size < 0x80 or data[start] == 0:
            raise ValueError("non-minimal DER length")
        start += count
    end = start + size
    if end > len(data):
        raise ValueError("truncated DER element")
    return tag, start, end


def unwrap(data: bytes, tag: int) -> bytes:
    """The content of ``data``, which must be exactly one element with ``tag``."""
    found, start, end = _header(data, 0)
    if found != tag or end != len(data):
        raise ValueError(f"expected one DER element of tag {tag:#04x}")
    return data[start:end]


def elements(content: bytes) -> list[bytes]:
    """The whole elements (tag, length and content) that ``content`` holds, in order."""
    found = []
    at = 0
    while at < len(content):
        _tag, _start, end = _header(content, at)
        found.append(content[at:end])
        at = end
    return found


def read_integer(data: bytes) -> int:
    """The value of a non-negative INTEGER element."""
    content = unwrap(data, INTEGER)
    if not content or content[0] & 0x80:
        raise ValueError("not a non-negative DER INTEGER")
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise ValueError("non-minimal DER INTEGER")
    return int.from_bytes(content, "big")
