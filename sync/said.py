"""Messages said by key below nodes/ (which sync does not depend on): :class:`Said` is a
message's English text, what logs, receipts, quarantine rows and JSON keep, kept with
its key and the values it names, so that where an operator reads it (cli.py's error
handler) it is shown in the operator's language from the word tables of nodes/.

The English texts of the messages said here are in :data:`ENGLISH`; nodes/words_en.py
takes them in, and nodes/words_zh.py says each in Chinese under the same key.
"""

from __future__ import annotations

from typing import Any, Self

from sync import said_en

__all__ = ["ENGLISH", "Said", "said", "unlabelled"]

ENGLISH: dict[str, str] = {
    **said_en.CHANGESETS,
    **said_en.TRUST,
    **said_en.TRANSPORTS,
    **said_en.FILES,
    **said_en.BACKUPS,
    # key material (sync/pki.py)
    "m.key_file_missing": "{what} {path} does not exist",
    "m.key_file_unreadable": "cannot read {what} {path}: {error}",
    "m.key_file_unwritable": "cannot write {path}: {error}",
    "m.key_file_exists": "{path} already exists; refusing to overwrite it",
    "m.key_folder_unmade": "cannot create {path}: {error}",
    "m.ca_passphrase_empty": "the CA passphrase must not be empty",
    "m.ca_exists": "{folder} already holds a CA ({file} exists)",
    "m.ca_exists_hint": "load the existing CA, or choose an empty folder for a new one",
    # the CA and the node's keys and certificates (sync/pki.py)
    "m.what_crl": "revocation list",
    "m.what_ca_key": "CA key",
    "m.what_ca_cert": "CA certificate",
    "m.what_node_cert": "node certificate",
    "m.what_node_key": "node key",
    "m.what_issued_cert": "issued certificate",
    "m.restore_ca_folder_hint": "restore the CA folder",
    "m.ca_missing_hint": "create it with init_root, or point to the folder holding {file}",
    "m.node_key_missing_hint": "make the node's key first (new_node_key) and have the province "
    "sign its node.csr",
    "m.node_cert_missing_hint": "have the province sign node.csr, then install the certificate",
    "m.renewal_needs_cert_hint": "a renewal needs the installed one",
    "m.not_node_code": "{code} is not a node code",
    "m.validity_days": "validity_days must be at least 1, not {days}",
    "m.ca_key_encrypted": "{path} is encrypted and no passphrase was given",
    "m.ca_key_encrypted_hint": "give the CA passphrase",
    "m.ca_key_plain": "{path} is not encrypted but a passphrase was given",
    "m.ca_key_plain_hint": "load it without a passphrase",
    "m.ca_wrong_passphrase": "wrong passphrase for {path} (or the key file is damaged)",
    "m.ca_wrong_passphrase_hint": "check the CA passphrase",
    "m.not_readable_private_key": "{path} is not a readable {suite} private key",
    "m.cert_not_of_key": "{cert} does not belong to {key}",
    "m.not_root_ca": "{path} is not a fiscalsync root CA certificate",
    "m.own_cert_not_begun": "this node's clock says {now}, before its certificate is valid (from "
    "{begins}): nothing it signs now would be accepted",
    "m.own_cert_not_begun_hint": "set the node's clock right (the province issued the "
    "certificate by its own)",
    "m.own_cert_expired": "this node's certificate expired on {ends}: nothing it signs now would "
    "be accepted",
    "m.own_cert_expired_hint": "renew it: fiscalsync keys new --renew, have the province sign "
    "node.csr, then fiscalsync keys install",
    "m.node_key_exists": "{path} already exists; refusing to replace this node's key",
    "m.node_key_exists_hint": "to renew the certificate with a new key, run 'fiscalsync keys new "
    "--renew'",
    "m.network_suite": "this node's network signs with {installed}, not {chosen}",
    "m.network_suite_hint": "leave --suite out, or give --suite {installed}",
    "m.nothing_to_renew": "nothing to renew: {folder} holds no installed key and certificate",
    "m.nothing_to_renew_hint": "make the node's first key with 'fiscalsync keys new'",
    "m.cert_not_of_code": "{path} is not a certificate of {code}",
    "m.renewal_pending": "a renewal is already pending: {path} waits for its certificate",
    "m.renewal_pending_hint": "install the certificate signed for node.csr (fiscalsync keys "
    "install), or delete {name} to start the renewal again",
    "m.csr_unreadable": "not a PEM certificate signing request ({error})",
    "m.csr_cn": "the signing request's CN {code} is not a node code",
    "m.unknown_role": "unknown role {role}; roles are {roles}",
    "m.csr_other_suite": "{error} (this network's suite is {suite})",
    "m.csr_other_suite_hint": "make the key with the network's suite: fiscalsync keys new "
    "--suite {suite}",
    "m.not_readable_key": "{path} is not a readable {suite} key",
    "m.cert_not_by_given_root": "certificate of {code} is not issued by the given root CA",
    "m.cert_not_by_given_root_hint": "install the certificate together with the ca.crt of the "
    "CA that signed it",
    "m.cert_suite_not_root": "certificate of {code} holds an {suite} key, but its root signs "
    "with {root}",
    "m.cert_other_key": "certificate of {code} is for another key than {keys}",
    "m.cert_other_key_hint": "install the certificate issued for this node's own node.csr",
    "m.other_root_held": "{path} already holds a different root CA",
    "m.other_root_held_hint": "remove it by hand only if the province really replaced its root CA",
    "m.cert_for_other_node": "the certificate is for {code}, but {path} is of another node",
    "m.cannot_replace": "cannot replace {path}: {error}",
    "m.node_cert_not_of_key_hint": "install the certificate signed for this key (fiscalsync keys "
    "install CERT --ca-cert ca.crt); after an interrupted renewal, install the new one again",
    "m.cannot_list": "cannot list {path}: {error}",
    "m.key_or_pending": "{key} or {pending}",
    "m.never_issued": "no certificate was ever issued to {code} by this CA",
}


class Said(str):
    """A message for people: its English text (what it is as a ``str``), kept with its
    key (``m.<key>`` in the word tables) and the values it names; a value may itself be
    a :class:`Said`."""

    key: str
    values: tuple[tuple[str, Any], ...]

    def __new__(cls, key: str, values: tuple[tuple[str, Any], ...] = ()) -> Self:
        text = cls.english(key).format(**dict(values))
        made = super().__new__(cls, text)
        made.key, made.values = key, values
        return made

    @classmethod
    def english(cls, key: str) -> str:
        """The English text of ``key``, with its ``{value}`` fields."""
        return ENGLISH[f"m.{key}"]

    def __getnewargs__(self) -> tuple[str, tuple[tuple[str, Any], ...]]:  # type: ignore[override]
        return self.key, self.values

    def said_in(self, words: dict[str, str]) -> str:
        """The message in the language of ``words`` (a table of ``m.<key>`` texts)."""
        values = {k: v.said_in(words) if isinstance(v, Said) else v for k, v in self.values}
        return words[f"m.{self.key}"].format(**values)


def unlabelled(message: str, *labels: object) -> str:
    """``message`` without the ``LABEL: `` it starts with, when LABEL is one of ``labels``
    (a file's path or name); a message said by key stays said by key."""
    names = [str(label) for label in labels]
    if isinstance(message, Said) and message.key == "labelled":
        values = dict(message.values)
        if str(values["label"]) in names:
            return values["what"]  # type: ignore[no-any-return]
    for name in names:
        message = message.removeprefix(f"{name}: ")
    return message


def said(key: str, /, **values: Any) -> Said:
    """The message ``m.<key>`` naming ``values``: ``said("ca_exists", folder=..., file=...)``."""
    return Said(key, tuple(values.items()))
