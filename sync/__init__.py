"""Domain-free sync machinery: change-sets, signatures, PKI, channels, transports.

It never learns what an appropriation is: operations are JSON objects to it, and what
they mean is the business of the applier that ``nodes`` hands to :func:`receive`.
"""

from sync.changeset import Header, Verified, WrittenChangeSet, read_header, verify, write_changeset
from sync.channel import Outcome, Received, Spool, enqueue, receive
from sync.clock import SYSTEM_CLOCK, Clock, FixedClock, SystemClock
from sync.errors import FiscalsyncError, VerificationError
from sync.pki import RootCA, Signer, load_signer
from sync.signing import SignatureSuite, get_suite, register_suite
from sync.trust import SignerInfo, TrustStore

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "FiscalsyncError",
    "FixedClock",
    "Header",
    "Outcome",
    "Received",
    "RootCA",
    "SignatureSuite",
    "Signer",
    "SignerInfo",
    "Spool",
    "SystemClock",
    "TrustStore",
    "VerificationError",
    "Verified",
    "WrittenChangeSet",
    "enqueue",
    "get_suite",
    "load_signer",
    "read_header",
    "receive",
    "register_suite",
    "verify",
    "write_changeset",
]
