"""The English texts of the messages said below nodes/ (:mod:`sync.said`), by concept:
the CA's and the node's keys, change-sets and their verification, signatures and
certificates, transports, the spool and quarantine, backups. Keys ``m.<key>``;
nodes/refusals_sync_zh.py (and, for key material, nodes/refusals_zh.py) says each in
Chinese."""

from __future__ import annotations

__all__ = ["BACKUPS", "CHANGESETS", "FILES", "KEYS", "TRANSPORTS", "TRUST"]

KEYS: dict[str, str] = {
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

CHANGESETS: dict[str, str] = {
    "m.labelled": "{label}: {what}",
    "m.cs_signer_not_origin": "signed with the certificate of {signer}, which does not belong "
    "to the origin {origin}",
    "m.cs_wrong_recipient": "addressed to {recipient}, not to this node ({me})",
    "m.cs_other_header": "the header is that of change-set {found}…, not of {expected}…",
    "m.cs_seal_not_signer": "the embedded certificate ({seal}…) is not the signer named in "
    "the header ({signer}…)",
    "m.cs_embedded_cert": "embedded certificate: {error}",
    "m.cs_key_unusable": "the signer's key is unusable ({error})",
    "m.cs_signature_fails": "header signature does not verify ({error})",
    "m.cs_name_mismatch": "the file name does not match its header (expected {expected})",
    "m.cs_body_hash": "body hash does not match the header (file altered or truncated)",
    "m.cs_no_end_of_line": "the last operation has no end of line",
    "m.cs_count": "body holds {count} operations but the header says {header}",
    "m.cs_replaced": "the header is no longer that of change-set {expected} (file replaced "
    "after it was verified)",
    "m.cs_op_too_long": "operation {index} is longer than {limit} bytes",
    "m.cs_op_float": "operation {index} holds the non-integer number {number} (amounts are "
    "integer fen)",
    "m.cs_op_not_object": "operation {index} is not exactly one JSON object",
    "m.cs_op_not_utf8": "operation {index} is not valid UTF-8",
    "m.cs_op_not_json": "operation {index} is not JSON ({error})",
    "m.cs_from_stream": "change-set {id} was verified from a stream; reopen it",
    "m.cs_unwritable": "cannot write change-set: {problem}",
    "m.cs_origin_not_signer": "origin {origin} is not the signer's code {signer}",
    "m.cs_cannot_write_in": "cannot write a change-set in {folder}: {error}",
    "m.cs_cannot_write_body": "cannot write the change-set body: {error}",
    "m.cs_cannot_publish": "cannot publish {path}: {error}",
    "m.cs_not_canonical": "the {part} is not in RFC 8785 canonical form",
    "m.cs_part_header": "header",
    "m.cs_part_seal": "seal",
    "m.cs_invalid_seal": "invalid seal: {problem}",
    "m.cs_seal_keys": 'not an object of exactly "sig" and "cert"',
    "m.cs_seal_base64": "sig or cert is not canonical base64",
    "m.cs_header_member": "header member",
    "m.cs_body_member": "body member",
    "m.cs_truncated": "file is truncated (it ends inside the {part})",
    "m.cs_no_gzip_header": "the {part} does not start with fiscalsync's gzip header",
    "m.cs_not_deflate": "the {part} is not valid deflate data ({error})",
    "m.cs_gzip_checksum": "the {part} fails its gzip checksum (file altered or damaged)",
    "m.cs_head_too_large": "the header member is larger than {limit} bytes",
    "m.cs_head_lines": "the header member does not hold exactly a header and a seal line",
    "m.cs_trailing": "unexpected data after the body member (trailing garbage)",
    "m.cs_not_a_name": "not a change-set file name",
    "m.json_repeated_key": "an object repeats a key",
    "m.json_float": "holds a non-integer number {number}",
    "m.json_invalid": "not valid JSON ({error})",
    # the header's fields (sync/changeset/header.py)
    "m.h_invalid": "invalid header: {problem}",
    "m.h_not_node_code": "{field} {value} is not a node code",
    "m.h_same_ends": "origin and recipient are both {code}",
    "m.h_kind": "kind {value} is not a lower-case word",
    "m.h_seq": "seq {value} is not an integer from 1 to {top}",
    "m.h_not_string": "{field} {value} is not a string",
    "m.h_prev_first": "prev must be empty for seq 1",
    "m.h_prev": "prev {value} is not the 64-hex-digit id of the previous change-set",
    "m.h_format": "format {value} is not {format} (written by a newer fiscalsync?)",
    "m.h_created_naive": "created {value} is not an aware datetime",
    "m.h_count": "count {value} is not an integer from 0 to 2**53-1",
    "m.h_body": "body {value} is not '{hash}:' and a hex digest",
    "m.h_signer": "signer {value} is not a 64-hex-digit certificate fingerprint",
    "m.h_epoch": "epoch {value} is not 32 hex digits",
    "m.h_not_object": "not a JSON object",
    "m.h_fields": "missing fields {missing}; unknown {extra}",
    "m.h_epoch_null": "epoch is null (leave it out instead)",
    "m.h_created": "created {value} is not YYYY-MM-DDTHH:MM:SS.ffffffZ",
}

TRUST: dict[str, str] = {
    "m.path_unreadable": "cannot read {path}: {error}",
    "m.ca_cert_missing": "CA certificate {path} does not exist",
    "m.ca_cert_missing_hint": "install the node's certificate first",
    "m.ca_cert_unreadable": "cannot read CA certificate {path}: {error}",
    "m.crl_file_missing": "{file} is missing",
    "m.crl_none_given": "none was given",
    "m.crl_missing": "no revocation list ({where}): no signer can be checked, so nothing is "
    "accepted",
    "m.crl_missing_hint": "install the province's crl.pem (from its CA folder): fiscalsync "
    "revocation install crl.pem",
    "m.crl_older": "revocation list number {number} is older than the one in use ({current}); "
    "revocation never goes backwards",
    "m.crl_same_number": "a different revocation list with the same number {number} as the one "
    "in use; refusing it",
    "m.crl_unrevokes": "revocation list number {number} no longer revokes {count} certificate(s) "
    "that list {current} revokes; revocation never goes backwards",
    "m.crl_unrevokes_hint": "the CA folder it came from may have been restored from an old copy",
    "m.cert_of": "certificate of {code}",
    "m.cert_plain": "certificate",
    "m.cert_not_issued_by_root": "{who} is not issued by this province's root CA",
    "m.cert_revoked": "{who} is revoked (serial {serial}, revocation list {number})",
    "m.cert_not_signed_by_root": "{who} is not signed by this province's root CA (signature "
    "does not verify)",
    "m.cert_extensions_unreadable": "{who} has unreadable extensions ({error})",
    "m.cert_is_ca": "{who} is a CA certificate, not a node certificate",
    "m.cert_may_not_sign": "{who} is not allowed to sign (key usage)",
    "m.cert_unknown_critical": "{who} carries an unknown critical extension {oid}",
    "m.cert_other_suite": "{who} holds an {suite} key; this network signs with {network}",
    "m.root_not_yet_valid": "the root CA certificate is not valid before {begins}",
    "m.root_expired": "the root CA certificate expired on {ends}",
    "m.cert_waits_for_clock": "{who} is not valid before {begins} and this node's clock says "
    "{now}: the change-set waits until the clock has caught up",
    "m.check_clock_hint": "check this node's clock",
    "m.cert_not_yet_valid": "{who} is not valid before {begins}, and this node's clock says {now}",
    "m.cert_not_yet_valid_hint": "check this node's clock; once it is right, release the file "
    "from quarantine",
    "m.cert_expired": "{who} expired on {ends}",
    "m.cert_signed_before": "{who} is not valid before {begins}, yet the change-set says it was "
    "signed at {signed} (is the signer's clock slow?)",
    "m.cert_signed_after": "{who} expired on {ends}, before the change-set was signed at {signed}",
    "m.cert_signed_after_hint": "the signer must renew its certificate (keys new --renew, pki "
    "sign, keys install)",
    "m.cert_unreadable": "not a readable X.509 certificate ({error})",
    "m.cert_no_code": "{who} does not name a node code in its subject CN",
    "m.cert_not_ours": "{who} is not a fiscalsync certificate (O={org})",
    "m.cert_no_role": "{who} has no known role in its subject OU (OU={role})",
    "m.cert_no_identity": "{who} lacks the fiscalsync identity extension {oid}",
    "m.cert_identity_unreadable": "{who} has an unreadable identity extension",
    "m.cert_identity_not_json": "{who} has an identity extension that is not JSON",
    "m.cert_identity_mismatch": "{who} has an identity extension {identity} that does not match "
    "its subject (code {code}, role {role})",
    "m.not_self_signed_ca": "{subject} is not a self-signed CA certificate",
    "m.not_self_signed_ca_hint": "use the province's ca.crt",
    "m.crl_no_number": "revocation list has no CRL number",
    "m.crl_extensions": "revocation list has unreadable extensions ({error})",
    "m.root_ca_cert": "the root CA certificate",
    "m.crl_not_by_root": "revocation list is not signed by this province's root CA",
    "m.crl_not_by_root_hint": "take the revocation list from the province that issued this "
    "node's certificate",
    "m.crl_unreadable": "not a readable PEM revocation list ({error})",
    "m.crl_install_again_hint": "install the province's crl.pem again: fiscalsync revocation "
    "install crl.pem",
    "m.crl_unknown_reason": "unknown revocation reason {reason}; reasons are {reasons}",
    "m.crl_validity": "a revocation list is valid from 1 hour to 366 days, not {validity}",
    "m.crl_validity_hint": "the default is 7 days",
    # signature suites (sync/signing.py, sync/national.py)
    "m.sig_key_type": "the signer's key is a {type}, not an {suite} key",
    "m.sig_fails": "{suite} signature does not verify",
    "m.key_not_suite": "a {type} is not an {suite} key",
    "m.csr_signature_fails": "the signing request's signature does not verify (damaged?)",
    "m.csr_not_suite": "the signing request does not hold an {suite} key",
    "m.csr_not_suite_because": "the signing request does not hold an {suite} key ({error})",
    "m.cert_not_suite": "the certificate does not hold an {suite} key",
    "m.cert_not_suite_because": "the certificate does not hold an {suite} key ({error})",
    "m.private_key_unreadable": "not a readable private key ({error})",
    "m.not_suite_key": "not an {suite} key",
    "m.cannot_sign_with": "a {type} cannot sign with the {suite} suite",
    "m.suite_unknown": "unknown signature suite {name} (known: {known})",
    "m.suite_unknown_hint": "upgrade fiscalsync on this node to one that knows this suite",
    "m.cert_no_suite": "the certificate holds a key of no known signature suite (known: {known})",
    "m.not_pem_key": "not a PEM private key",
    "m.pem_not_base64": "a PEM private key that is not base64",
    "m.key_needs_passphrase": "the key is encrypted and no passphrase was given",
    "m.sm2_key_too_short": "an encrypted sm2 key too short to hold one",
    "m.sm2_wrong_passphrase": "wrong passphrase for the sm2 key (or a damaged file)",
    "m.pem_other_label": "a PEM {label}, not an sm2 private key",
    "m.not_sm2_key": "not an sm2 key ({error})",
    "m.signed_unreadable": "cannot read back the signed structure ({error})",
}

TRANSPORTS: dict[str, str] = {
    "m.sftp_bad_url_because": "not an sftp URL: {url} ({error})",
    "m.sftp_bad_url": "not an sftp URL: {url}",
    "m.sftp_bad_url_hint": "write it as sftp://USER@HOST:PORT/PATH",
    "m.sftp_url_extras": "an sftp URL has no password, query or fragment: {url}",
    "m.host_key_form": "host key must read 'TYPE BASE64', like 'ssh-ed25519 AAAA...': {key}",
    "m.host_key_unusable": "unusable host key {type} {key}...: {error}",
    "m.client_key_unreadable": "cannot read client key {path}: {error}",
    "m.client_key_not_openssh": "{path} is not an unencrypted OpenSSH private key: {error}",
    "m.net_refused": "Connection refused",
    "m.net_reset": "Connection reset by peer",
    "m.net_host_unreachable": "No route to host",
    "m.net_unreachable": "Network is unreachable",
    "m.net_timed_out": "Connection timed out",
    "m.net_unknown_host": "unknown host ({error})",
    "m.net_cannot_connect": "cannot connect to {address}: {error}",
    "m.net_connect_timed_out": "timed out while connecting",
    "m.mailbox_root_not_folder": "mailbox root {root} is not a folder",
    "m.mailbox_root_missing": "mailbox root {root} does not exist",
    "m.host_key_mismatch": "{address} presented host key {found}, not the pinned {pinned}",
    "m.login_refused": "{address} refused the login of {user} with key {key}: {error}",
    "m.login_refused_hint": "add this node's public key to the server's authorized_keys for "
    "that user",
    "m.permission_denied": "permission denied",
    "m.sftp_rights_hint": "check the rights of the sftp account on the mailbox folders",
    "m.transfer_stalled": "no progress for {seconds} s; transfer aborted",
    "m.folder_is_file": "cannot create folder {path}: a file has its name",
    "m.remote_no_file": "no file {path}",
    "m.shrank": "{path} shrank while reading",
    "m.file_too_large": "{path} is larger than {limit} bytes",
    "m.doing_write": "write",
    "m.doing_sync": "sync",
    "m.doing_create_folder": "create folder",
    "m.doing_read": "read",
    "m.doing_list": "list",
    "m.doing_remove": "remove",
    "m.disk_full_cannot": "disk full: cannot {doing} {path}",
    "m.disk_full_hint": "free disk space (or raise the quota); the next sync resumes",
    "m.cannot_do": "cannot {doing} {path}: {error}",
    "m.mailbox_rights_hint": "check the ownership and permissions of the mailbox folders",
    "m.download_short": "download to {dest} ended at {received} of {size} bytes",
    "m.mailbox_missing": "mailbox folder {root} does not exist",
    # what a sync round says of a link (nodes/exchange.py)
    "m.link_unreachable": "{name} unreachable: {error}",
    "m.and_then": "{first}; {then}",
}

FILES: dict[str, str] = {
    "m.void_before_restore": "{name}: signed by {origin} before it was restored from a backup "
    "({at}) and not among what it took back when it rejoined: void, it went with the state it "
    "lost",
    "m.held_overdue": "held {days} day(s) for {recipient}, not in topology version {version} "
    "here (limit: [relay] held_days = {limit})",
    "m.q_no_entry": "no quarantine entry {id}",
    "m.q_no_entry_hint": "list them with 'fiscalsync quarantine'",
    "m.q_closed": "quarantine entry {id} is already closed",
    "m.q_dropped": "quarantine entry {id} is already dropped",
    "m.rejoining_sends_nothing": "{code} was restored from a backup and is rejoining: it sends "
    "nothing new until every peer has answered",
    "m.rejoining_sends_nothing_hint": "run 'fiscalsync sync' (the agent does) and look at "
    "'fiscalsync status'",
    "m.cs_replay": "{name}: a different change-set under seq {seq}, already taken as {taken}: a "
    "replay or a fork",
    "m.cs_fork": "{name}: seq {seq} names predecessor {prev} but this node took {took}: a fork",
    "m.returned_not_following": "{name}: returned as seq {seq}, but this node's channel to "
    "{recipient} is at seq {head}: it does not follow",
    "m.returned_receipt_other": "{name} is not {recipient}'s receipt for seq {seq}",
    "m.resent_out_of_order": "{name}: re-sent out of its channel's order",
    "m.resent_receipt_other": "{receipt} is not this node's receipt for {name}",
    "m.resent_verdict_changed": "{name} was {before} here before the restore, but is {verdict} "
    "now ({reason}): this node's restored state cannot honour its own receipt",
    "m.resent_channel_differs": "{name}: the channel from {origin} comes out other than this "
    "node's own receipt says",
    "m.parked_after": "parked after {attempts} failed rounds ({stage}); the last: {why}",
}

BACKUPS: dict[str, str] = {
    "m.bk_unknown_cipher": "unknown backup cipher {cipher}",
    "m.bk_wrap_malformed": "a wrapped data key is malformed: {error}",
    "m.bk_not_for_key": "this backup is not encrypted for the key given (fingerprint "
    "{fingerprint}…)",
    "m.bk_not_for_key_hint": "give the province's recovery kit, or this node's own keys/backup.key",
    "m.bk_wrap_scheme": "the data key wrapped for an {kind} key is an {scheme} wrap",
    "m.bk_wrap_altered": "the data key wrapped for this key does not open: the manifest was "
    "altered",
    "m.bk_wrap_other_key": "the data key wrapped for this key is not key {key}",
    "m.bk_not_object": "not a backup object (no FSB1, FSB2 or FSB3 header, or truncated)",
    "m.bk_chunk_holds": "the compressed chunk holds {named} bytes, not {size}",
    "m.bk_chunk_unexpandable": "the compressed chunk does not expand: {error}",
    "m.bk_chunk_expands": "the compressed chunk expands to {got} bytes, not {size}",
    "m.bk_object_problem": "object {name}…: {problem}",
    "m.bk_stream_short": "{name} ends after {read} of its {length} bytes",
    "m.bk_stream_short_hint": "it changed while it was read: take the backup again",
    "m.bk_unknown_key": "object {name}… is sealed under a key no manifest gives",
    "m.bk_chunk_fails": "object {name}… fails authentication at segment {index} (altered, "
    "truncated, reordered, or not the chunk the index names)",
    "m.bk_segment_fails": "object {name}… fails authentication at segment {index} (altered, "
    "truncated or reordered)",
    "m.bk_index_unreadable": "the backup's index is unreadable: {error}",
    "m.bk_format_newer": "{name}: a backup of format {format}, taken by a newer fiscalsync "
    "(this one reads up to format {known})",
    "m.bk_format_newer_hint": "restore it with the fiscalsync that took it, or a newer one",
    "m.bk_manifest_malformed": "not a well-formed backup manifest ({error})",
    "m.bk_manifest_other": "a manifest of node {node} signed by {origin}: a node backs up only "
    "itself",
    "m.bk_piece_base64": "an index piece is not base64",
    "m.bk_entry_malformed": "an object entry is malformed: {entry}",
    "m.bk_listed_twice": "object {name}… is listed twice",
    "m.bk_unexpected_op": "unexpected operation {kind}",
    "m.bk_counts": "the manifest's counts do not match what it carries",
    "m.bk_key_unreadable": "{where} holds no readable backup key",
    "m.bk_key_unreadable_because": "{where} holds no readable backup key ({error})",
    "m.bk_kit_hint": "give the recovery kit (PEM) file",
    "m.bk_key_type": "{where} holds a {type}, not an X25519 or SM2 backup key",
    "m.bk_key_file_unreadable": "cannot read the backup key {path}: {error}",
    "m.bk_kit_unreadable": "cannot read the key file {path}: {error}",
    "m.bk_no_private_key": "{path} holds no private key",
    "m.bk_cert_unreadable": "{where} holds an unreadable certificate",
    "m.bk_recovery_not_by_root": "{where} is not signed by this province's root CA",
    "m.bk_recovery_hint": "install the recovery certificate the province issued (ca/recovery.crt)",
    "m.bk_not_recovery": "{where} is not a recovery certificate",
    "m.bk_recovery_key_unreadable": "{where} holds an unreadable key",
    "m.bk_recovery_key_type": "{where} does not hold an X25519 or SM2 key",
}
