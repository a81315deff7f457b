"""JSON lines of a change-set: the strict header and seal, and the operations (objects of
exact values: integers, never floats), encoded and decoded fast.

The header and the seal are read by the standard library's decoder with hooks that
refuse floats and repeated keys (one line per file). Operations, a million to a file,
go through ``orjson`` (the only module that imports it): several times faster than the
standard library both ways, and strict where it matters (UTF-8, no NaN, integers of at
most 64 bits); floats are refused by a walk of each decoded object.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

import orjson

from sync.errors import (
    MalformedChangeSet,
)
from sync.said import said

MAX_OPERATION_BYTES = 16 * 1024 * 1024
"""Longest operation line accepted."""


def _duplicate_free(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedChangeSet(said("json_repeated_key"))
    return result


class FloatFound(ValueError):
    pass


def _reject_float(text: str) -> Any:
    raise FloatFound(text)


_STRICT = json.JSONDecoder(
    parse_float=_reject_float, parse_constant=_reject_float, object_pairs_hook=_duplicate_free
)


def encode_line(value: dict[str, Any] | list[Any]) -> bytes:
    """A JSON value as one compact line (UTF-8, no NaN, nothing between tokens): an
    operation, or any other value that must encode the same way everywhere (a record
    whose digest two nodes compare). The caller has checked that it holds only exact
    JSON values (:func:`sync.changeset.writing` refuses floats first)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise TypeError(str(exc)) from exc


def decode_value(line: bytes) -> Any:
    """A line :func:`encode_line` wrote here, read back: for scratch files of this node's
    own making, never for what another node sent (see :func:`decode_operation`)."""
    return orjson.loads(line)


def decode_operation(line: bytes) -> dict[str, Any]:
    """One operation line as a dict: exactly one JSON object of exact values.

    Raises :class:`FloatFound` for a number that is not an integer, :class:`NotAnObject`
    for a JSON value that is not an object, ValueError for anything that is not JSON
    (bad UTF-8, trailing data, an integer beyond 64 bits, nesting too deep).
    """
    op = orjson.loads(line)
    if type(op) is not dict:
        raise NotAnObject(type(op).__name__)
    for value in op.values():
        kind = type(value)
        if kind is float:
            raise FloatFound(repr(value))
        if kind is dict or kind is list:
            try:
                _no_floats(value)
            except RecursionError:  # nested deeper than the walk goes: refused as content
                raise ValueError("nesting too deep") from None
    return op


_OBJECTS_ONLY = {dict}


def decode_operations(lines: list[bytes]) -> list[dict[str, Any]] | None:
    """Many operation lines at once: their dicts, or None when any line is not one
    exact operation (the caller then reads them one by one with :func:`decode_operation`,
    which says which line fails and why).

    The same checks as :func:`decode_operation`, made by loops in C over the whole list
    (the type of every decoded line, then of every value) instead of a Python loop over
    each value; only operations that nest objects or lists are walked one by one.
    """
    try:
        ops = list(map(orjson.loads, lines))
    except ValueError:
        return None
    if set(map(type, ops)) != _OBJECTS_ONLY:
        return None
    kinds = set(map(type, chain.from_iterable(map(dict.values, ops))))
    if float in kinds:
        return None
    if dict in kinds or list in kinds:
        try:
            for op in ops:
                _no_floats(op)
        except (FloatFound, RecursionError):
            return None
    return ops


def _no_floats(value: Any) -> None:
    kind = type(value)
    if kind is float:
        raise FloatFound(repr(value))
    if kind is dict:
        for item in value.values():
            _no_floats(item)
    elif kind is list:
        for item in value:
            _no_floats(item)


class NotAnObject(ValueError):
    """An operation line that holds a JSON value other than an object."""


def strict_json(line: bytes) -> Any:
    try:
        return _STRICT.decode(line.decode("utf-8"))
    except FloatFound as exc:
        raise MalformedChangeSet(said("json_float", number=str(exc))) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedChangeSet(said("json_invalid", error=str(exc))) from exc
