"""Why a node refuses a change-set it received, in English (a negative receipt carries the
text, and the key beside it, to the origin's operator): the operations of appropriations
and their copies, year-end statements, reports and their lines, and the kinds a node does
not take: :data:`RECEIVED`, said by :func:`nodes.labels.said`. Taken in by
:mod:`nodes.refusals_en`; :mod:`nodes.refusals_received_zh` says each in Chinese. The
texts are those the receipts signed before they were said by key, byte for byte."""

from __future__ import annotations

__all__ = ["RECEIVED"]

RECEIVED: dict[str, str] = {
    # an appropriation operation (nodes/fiscal/appropriations/operations.py)
    "m.op_at_missing": "{where}: 'at' must be a UTC time",
    "m.op_at_bad": "{where}: 'at' {text!r} is not a UTC time: {error}",
    "m.op_amount_bad": "{where}: amount must be a positive whole number of fen, not {value!r}",
    "m.op_amount_too_large": "{where}: amount {amount} 元 is more than the largest amount of "
    "one line, {largest} 元",
    "m.op_text_missing": "{where}: {key!r} is missing",
    "m.op_not_text": "{where}: {key!r} is not text",
    "m.op_too_long": "{where}: {key!r} is longer than {limit} characters",
    "m.op_unknown": "{where}: unknown appropriation operation {kind!r}",
    "m.op_direct_bad": "{where}: direct (直达资金) must be true or false",
    "m.op_year_bad": "{where}: year must be a whole number",
    "m.op_not_own_number": "{where}: {issuer} may issue only ids it numbers itself "
    "({prefix}N), not {ident}",
    "m.op_indicator_bad": "indicator (指标类型) must be one of {choices}",
    "m.op_source_bad": "source (指标来源) must be one of {choices}",
    "m.op_carryover_upper": "a carry-over (结转) names the 文号 it carries over as its upper "
    "document (上级文号)",
    "m.op_source_upper": "source (指标来源) is upper (上级补助) exactly when an upper document "
    "(上级文号) is named",
    "m.op_level_bad": "level (预算级次) must be one of {choices}",
    # appropriations received (nodes/fiscal/appropriations/receiving.py)
    "m.recv_year_closed": "{code} closed {year} (已结转): it takes no new appropriation of that "
    "year, from {issuer} or any other issuer",
    "m.recv_mark_misplaced": "{where}: '{mark}' (a year) marks only the recovery (收回) of a "
    "year-end acceptance (年终结转)",
    "m.recv_closed_change": "{kind} of {ident} refused: {year} is closed here (已结转); it takes "
    "only its issuer's acceptance of the statement, which recovers the balance it named, "
    "{balance} 元",
    "m.recv_exceeds_available": "{kind} of {amount} 元 exceeds what is still available of "
    "{ident} here: {left} 元",
    "m.recv_over_largest": "{kind} of {amount} 元 takes {ident} past the largest amount of one "
    "appropriation, {largest} 元",
    # copies (抄送) received (nodes/fiscal/appropriations/copies.py)
    "m.copy_to_bad": "{where}: a copy names a recipient below {me} in 'to', not {to!r}",
    "m.copy_not_above": "{where}: {issuer} is not above {me} and {to}",
    "m.copy_opening_bad": "{where}: the opening of a copy is the issue of {ident}",
    "m.copy_held": "{where}: a copy of {ident} is held already",
    "m.copy_none": "{where}: {kind} of {ident}, of which no copy from {issuer} to {to} is held",
    "m.copy_out_of_bounds": "{where}: {kind} of {amount} 元 takes the copy of {ident} "
    "({standing} 元) out of bounds",
    # its own change-sets taken back after a restore (adopting.py, nodes/journal.py)
    "m.adopt_not_issued": "the change-set changes appropriation {ident}, which {me} did not "
    "issue to {recipient}",
    "m.adopt_not_issued_hint": "its own change-sets are taken back in the order it sent them",
    "m.cannot_take_back": "{code} cannot take back a {kind} change-set",
    # year-end statements (nodes/fiscal/yearend/closing.py, accepting.py)
    "m.ye_closed_once": "{code} closed {year} with {issuer} already: a year closes once",
    "m.ye_total_too_large": "the balances {code} states to {issuer} for {year} add up to "
    "{total}, more than the largest sum kept ({largest})",
    "m.ye_statement_empty": "a year-end statement names at least one appropriation",
    "m.ye_statement_year": "a year-end statement's year must be a whole number",
    "m.ye_statement_line": "{where}: a year-end statement holds only {kind} lines of {year}",
    "m.ye_statement_id": "{where}: an appropriation id, each named once",
    "m.ye_statement_balance": "{where}: balance must be a whole number of fen, at least 0",
    "m.ye_statement_text": "{where}: 'actor' and 'at' are text",
    "m.ye_statement_at": "{where}: 'at' is not a UTC time: {error}",
    "m.accept_not_issued": "{where}: {ident} is not an appropriation of {year} that {me} "
    "issued to {sender}",
    "m.accept_over_standing": "{where}: the balance of {ident}, {balance} 元, is more than what "
    "stands of it: {standing} 元",
    # reports received (nodes/fiscal/reports/receiving.py)
    "m.rep_report_op": "report operation",
    "m.rep_line_op": "line operation {number}",
    "m.rep_own": "report",
    "m.rep_consolidated": "consolidated report",
    "m.rep_field_kind": "{where}: {key!r} must be a {kind}, not {value!r}",
    "m.rep_time_bad": "{where}: {text!r} is not a UTC time: {error}",
    "m.rep_not_newer": "version {version} of the {period} {what} of {node} is not newer than "
    "version {held}, held here",
    "m.rep_no_children": "{node} has no nodes below it: it sends no consolidated (全辖) report",
    "m.rep_member_bad": "{where}: member {member!r} is not a report of {node}'s region",
    "m.rep_no_head": "a report change-set starts with its 'report' operation",
    "m.rep_not_reporting": "a report of {node!r}, which is not a reporting node of the topology",
    "m.rep_not_own": "the report of {node} came from {origin}: a node sends only its own",
    "m.rep_period_mismatch": "{where}: kind and year do not match period {period}",
    "m.rep_version_bad": "{where}: version {version} is not a version number",
    "m.rep_not_line": "{where}: {op!r} is not a 'line' operation",
    "m.rep_line_count": "the report announces {count} lines but carries {carried}",
    "m.rep_scope_bad": "{where}: scope {scope!r} is neither own nor all",
    # a report's lines and their arithmetic (nodes/fiscal/reports/lines.py)
    "m.rep_line_total": "{section} total",
    "m.rep_line": "{section} {rank} {code}",
    "m.rep_line_subtotal": "{section} {rank} {code} (subtotal)",
    "m.rep_line_named": "report line {section} {code}",
    "m.rep_line_named_total": "report line {section} total",
    "m.rep_section_bad": "section {section!r} is neither revenue nor expenditure",
    "m.rep_amount_bad": "{column} {amount!r} is not a whole number of fen",
    "m.rep_total_code": "a total line has no code, not {code!r}",
    "m.rep_code_bad": "code {code!r} is not a classification code",
    "m.rep_level_digits": "a level {level} code has {digits} digits",
    "m.rep_leaf_digits": "a classification code has 3, 5, 7 or 9 digits",
    "m.rep_level_bad": "level {level!r} is not 0 (total), 1 (类), 2 (款) or 3 (the codes booked)",
    "m.rep_line_twice": "{line}: the line appears twice",
    "m.rep_month_not_period": "{line}: the month to date {month} 元 of a monthly report is not "
    "its period's {period} 元",
    "m.rep_total_missing": "{section}: the total line is missing",
    "m.rep_subtotal_missing": "{section}: the subtotal {code} line is missing",
    "m.rep_not_sum": "{line}: {column} {amount} 元 is not the sum of the lines under it, {sum} 元",
    "m.rep_not_sum_hint": "the report's arithmetic does not hold; generate it again",
    "m.rep_subtotal_alone": "{line}: a subtotal with no line under it",
    "m.rep_ytd_below_period": "{line}: the year to date {ytd} 元 is less than the period's "
    "{period} 元 (or the period is negative), yet no negative ledger entry went into the "
    "report",
    "m.rep_month_outside": "{line}: the month to date {month} 元 is not between the period's "
    "{period} 元 and the year to date {ytd} 元, yet no negative ledger entry went into the "
    "report",
    "line_column.budget": "budget",
    "line_column.period": "period",
    "line_column.month to date": "month to date",
    "line_column.year to date": "year to date",
    "line_column.last year": "last year",
    # what a node takes (nodes/appliers.py)
    "m.revocation_one_pem": "a revocation change-set carries exactly one {{'pem': ...}} operation",
    "m.kind_not_taken": "{role} {code} takes no {kind} change-sets",
    # who may send what to whom (nodes/policy.py): a change-set refused on arrival
    "m.policy_to_itself": "{origin} cannot send a change-set to itself",
    "m.policy_refused": "{kind} from {origin} to {recipient} refused: {why}",
    "m.policy_appropriation": "only an ancestor issues appropriations; {origin} is not above "
    "{recipient}",
    "m.policy_copy": "only an ancestor sends copies (抄送); {origin} is not above {recipient}",
    "m.policy_report": "reports go to the parent or the center; {recipient} is neither for "
    "{origin}",
    "m.policy_reconcile": "reconciliation is between a node and one above it, or the center; "
    "{origin} and {recipient} are neither",
    "m.policy_province_only": "only the province signs {kind} change-sets, not {role} {origin}",
    "m.policy_rejoin": "{origin} and {recipient} share no channel to rejoin on",
    "m.policy_yearclose": "a year-end statement goes to a node above; {recipient} is not above "
    "{origin}",
    "m.policy_backup": "backups go only to the center (the center's own to its parent), not to "
    "{role} {recipient}",
    "m.policy_kind_unknown": "unknown change-set kind {kind!r}",
    "m.policy_role_mismatch": "{origin} is certified as {certified} but the topology makes it a "
    "{expected}",
    # a table file and a document number given on the command line
    "m.xlsx_unreadable": "{path}: not a readable .xlsx workbook",
    "m.xlsx_unreadable_hint": "open it in Excel or WPS and save it again as .xlsx, without a "
    "password",
    "m.doc_example_hint": "e.g. --doc '{example}'",
}
