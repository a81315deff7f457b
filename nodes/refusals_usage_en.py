"""A misuse of the command line in English (a missing option or argument, an unknown
option or command, a value its option does not take): :data:`USAGE`, keys
``m.usage_<key>``, said by cli.py from click's usage errors (their kind and what they
name, never their English text). Taken in by :mod:`nodes.refusals_en`;
:mod:`nodes.refusals_usage_zh` says each in Chinese."""

from __future__ import annotations

__all__ = ["USAGE"]

USAGE: dict[str, str] = {
    "m.usage_hint": "see '{command} --help'",
    "m.usage_lang_first_hint": "--lang goes before the command: 'fiscalsync --lang {lang} "
    "{command}'",
    "m.usage_missing_option": "Missing option {name}.",
    "m.usage_missing_argument": "Missing argument {name}.",
    "m.usage_missing_parameter": "Missing parameter {name}.",
    "m.usage_choose": "{what} Choose from: {choices}.",
    "m.usage_no_option": "No such option {name!r}.",
    "m.usage_no_command": "No such command {name!r}.",
    "m.usage_did_you_mean": "{what} Did you mean {names}?",
    "m.usage_missing_command": "Missing command.",
    "m.usage_extra_arguments": "Got unexpected extra argument(s) ({args}).",
    "m.usage_option_takes_no_value": "Option {name!r} does not take a value.",
    "m.usage_option_needs_value": "Option {name!r} requires a value.",
    "m.usage_bad_value": "Invalid value for {name}: {problem}",
    "m.usage_bad_given": "Invalid value {value!r} for {name}: {problem}",
    "m.usage_bad_value_bare": "Invalid value: {problem}",
    "m.usage_misused": "The command line is misused: {problem}",
    # what a value given to an option or argument must be
    "m.usage_whole_number": "it must be a whole number",
    "m.usage_number": "it must be a number",
    "m.usage_whole_from_to": "it must be a whole number from {low} to {high}",
    "m.usage_whole_from": "it must be a whole number of at least {low}",
    "m.usage_whole_to": "it must be a whole number of at most {high}",
    "m.usage_one_of": "it must be one of {choices}",
    "m.usage_a_file": "it must be a file, not a folder",
    "m.usage_a_folder": "it must be a folder, not a file",
}
