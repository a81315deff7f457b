"""What is wrong with what sets a node up, in English: its topology file (every problem
``topology check`` lists), its database, the data wall's logins, the region list, the
service units and SFTP accounts it writes: :data:`SETUP`, said by
:func:`nodes.labels.said`. Taken in by :mod:`nodes.refusals_en`;
:mod:`nodes.refusals_setup_zh` says each in Chinese."""

from __future__ import annotations

__all__ = ["SETUP"]

SETUP: dict[str, str] = {
    # a topology file (nodes/topology.py): the error, then each problem with its line
    "m.topo_unreadable": "cannot read topology {path}: {error}",
    "m.topo_unreadable_hint": "check the path",
    "m.topo_not_utf8": "{path} is not UTF-8 text",
    "m.topo_not_utf8_hint": "save it as UTF-8",
    "m.topo_not_toml": "{path} is not valid TOML",
    "m.topo_not_toml_hint": "fix the TOML syntax",
    "m.topo_problem": "{path}: {count} problem in the topology",
    "m.topo_problems": "{path}: {count} problems in the topology",
    "m.topo_no_node": "node {code} is not in topology {name!r}",
    "m.topo_at": "{path}:{line}: {what}",
    "m.topo_at_file": "{path}: {what}",
    "m.topo_no_nodes": "no [[node]] tables: a topology lists every node",
    "m.topo_node_not_table": "each [[node]] must be a table",
    "m.topo_duplicate": "duplicate code {code} (first at line {first})",
    "m.topo_document_kinds": 'document_kinds must be a list of Chinese words, e.g. ["预", "教", "社"]',
    "m.topo_version_bad": "version must be a whole number of 0 or more, not {version!r}",
    "m.topo_unknown_key": "unknown key {key!r} (known: {known})",
    "m.topo_not_string": "{key} must be a string",
    "m.topo_no_code": "node without a code",
    "m.topo_code_bad": "{code!r} is not a node code (six digits, e.g. 410102, or 410000-dc for "
    "a center)",
    "m.topo_center_code": "center code {code} must be its province's code with a suffix, e.g. "
    "410000-dc",
    "m.topo_code_not_region": "code {code} is not in the region list ({source})",
    "m.topo_no_name": "node {code} has no name",
    "m.topo_role_bad": "node {code} has role {role!r}; expected one of {roles}",
    "m.topo_abbreviation_bad": "{code}: abbreviation {abbreviation!r} is not 1 to 8 Chinese "
    "characters (e.g. 豫财)",
    "m.topo_former_parents": '{code}: former_parents must be a list of codes, e.g. ["410100"]',
    "m.topo_host_key_alone": "{code}: host_key without an endpoint",
    "m.topo_bad_port": "{code}: bad port in endpoint {location!r}",
    "m.topo_endpoint_form": "{code}: endpoint must be sftp://USER@HOST[:PORT]/PATH",
    "m.topo_placeholder": "{code}: {placeholder} may stand once, in the user name only, "
    'e.g. "sftp://fs-{placeholder}@10.41.0.10:22/"',
    "m.topo_needs_host_key": "{code}: an sftp endpoint needs host_key (pinned, never learned)",
    "m.topo_host_key_form": "{code}: host_key must be 'TYPE BASE64' as in known_hosts, e.g. "
    "'ssh-ed25519 AAAA...'",
    "m.topo_endpoint_kind": "{code}: endpoint {location!r} is neither sftp:// nor a folder",
    "m.topo_no_province": "no node has role 'province'",
    "m.topo_two_provinces": "more than one province ({first} and {other})",
    "m.topo_two_centers": "more than one center ({first} and {other})",
    "m.topo_province_parent": "province {code} must not have a parent",
    "m.topo_no_parent": "{role} {code} has no parent",
    "m.topo_parent_unknown": "{code} names unknown parent {parent}",
    "m.topo_center_parent": "{code}: the center {parent} cannot be a fiscal parent",
    "m.topo_center_under": "center {code} must have the province as parent",
    "m.topo_cycle": "parent cycle: {path}",
    # a node's database (nodes/home.py) and settings (nodes/settings.py)
    "m.home_db_newer": "database {url} is at schema revision {revision}, newer than this "
    "fiscalsync",
    "m.home_db_taken": "database {url} already holds a fiscalsync schema",
    "m.home_db_taken_hint": "give each node a new, empty database",
    "m.settings_held_days": "{path}: [relay] held_days must be from 1 to 3650",
    # the data wall's logins (nodes/logins.py)
    "m.login_name_bad": "user name {name!r} is empty or holds ':' or a space",
    "m.login_password_short": "the password is shorter than {least} characters",
    "m.logins_unreadable": "cannot read the logins file {path}: {error}",
    "m.logins_line_bad": "{path}, line {number}: not 'name:scrypt$n$r$p$salt$hash'",
    "m.logins_line_bad_hint": "write lines with 'fiscalsync serve-password NAME'",
    "m.logins_empty": "the logins file {path} names no user",
    # the region list (nodes/regions.py)
    "m.regions_unreadable": "cannot read region list {path}: {error}",
    "m.regions_header": "{path}: the first line must be the header 'code<TAB>name'",
    "m.regions_row_bad": "{path}:{number}: expected 'code<TAB>name', got {row!r}",
    # service units (nodes/service.py)
    "m.service_not_absolute": "the home and the fiscalsync executable must be absolute paths",
    "m.service_home_hidden": "the home {home} is under {hidden}, which the units hide from the "
    "service",
    "m.service_home_volatile": "the home {home} is under {volatile}, which is emptied at every "
    "restart",
    "m.service_home_move_hint": "move the home under /srv or /var/lib (fiscalsync restore or a "
    "copy)",
    "m.service_user_bad": "user {user!r} is not a user name",
    "m.service_no_folder": "no folder {folder}",
    "m.service_no_folder_hint": "give --dir an existing folder",
    # SFTP accounts of the children (nodes/sftp_accounts.py)
    "m.sftp_no_children": "{code} {name} has no children: no node logs in to its SFTP endpoint",
    "m.sftp_no_children_hint": "run sftp-config at the home of a node with children (a city, "
    "the province)",
    "m.sftp_keys_missing": "no SSH public key in {folder} for {codes}",
    "m.sftp_keys_missing_hint": "ask each of them for keys/ssh_ed25519.pub ('fiscalsync keys "
    "new' prints it) and save it as CODE.pub there, or name the folder with --keys",
    "m.sftp_key_unreadable": "cannot read SSH public key {path}: {error}",
    "m.sftp_key_bad": "{path} is not one SSH public key line ('ssh-ed25519 AAAA... comment')",
    "m.sftp_key_bad_hint": "copy the child's keys/ssh_ed25519.pub unchanged",
}
