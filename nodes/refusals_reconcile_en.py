"""Why a step of a reconciliation (对账) is refused, in English (a negative receipt carries
the text, and the key beside it, to the node that sent the step), and why one cannot be
started: :data:`RECONCILE`, said by :func:`nodes.labels.said` in
nodes/fiscal/reconcile/protocol.py. Taken in by :mod:`nodes.refusals_en`;
:mod:`nodes.refusals_reconcile_zh` says each in Chinese. The texts are those the receipts
signed before they were said by key, byte for byte."""

from __future__ import annotations

__all__ = ["RECONCILE"]

RECONCILE: dict[str, str] = {
    "m.rc_no_peer": "{me} issues no appropriations to {peer}, nor reports to it: {why}",
    "m.rc_no_peer_hint": "reconcile with a node below this one, or with its parent or the center",
    "m.rc_one_step": "a reconcile change-set carries exactly one step",
    "m.rc_no_session": "a reconcile step names its session",
    "m.rc_step_unknown": "unknown reconcile step {step!r}",
    "m.rc_dataset_unknown": "reconciliation of {dataset!r} is not known here",
    "m.rc_request_bad": "reconcile request {session}: {error}",
    "m.rc_requested_already": "reconciliation {session} was requested already",
    "m.rc_cut_ahead": "reconcile request {session}: its cut {cut} is past seq {head} here",
    "m.rc_leaves_not_object": "reconcile step leaves of {session}: records must be an object",
    "m.rc_leaf_bad": "reconcile step leaves of {session}: {leaf!r} is not a leaf",
    "m.rc_leaves_bad": "reconcile step leaves of {session}: {error}",
    "m.rc_statement_no_findings": "the statement of {session} lists no findings",
    "m.rc_statement_bad": "the statement of {session}: {error}",
    "m.rc_answer_no_reports": "the answer of {session} lists no reports",
    "m.rc_answer_bad": "the answer of {session}: {error}",
    "m.rc_answer_no_buckets": "the answer of {session} names no buckets",
    "m.rc_answer_bucket_bad": "the answer of {session}: {bucket} is not a bucket of level 1 "
    "(0…{last})",
    "m.rc_answer_bucket_twice": "the answer of {session} names a bucket twice",
    "m.rc_answer_report_bad": "the answer of {session}: period {period} holds {value}, not "
    "[version, hash of its lines]",
    "m.rc_record_field_bad": "the records of {session}: record {ident} holds {value} as its "
    "{field}, which is not what a record holds there",
    "m.rc_totals_bad": "reconcile step of {session}: its {key} must map function classes (up "
    "to 3 digits) to amounts in fen, not {code}: {value}",
    "m.rc_summary_bad": "the statement of {session}: its summary's {key} is not of its shape: "
    "{value}",
    "m.rc_records_not_lists": "the records of {session} are not lists",
    "m.rc_records_bad": "the records of {session} hold something that is not a record",
    "m.rc_not_waiting": "no reconciliation {session} with {peer} waits for this step here "
    "(a replay, a step out of order, or another node's)",
    "m.rc_noticed_not_list": "the answer of {session}: what it noticed is not a list",
    "m.rc_count_bad": "a reconcile step's {key} must be a sequence number, not {value!r}",
    "m.rc_root_bad": "a reconcile request's root digest must be 64 hex digits",
}
