"""A node home's settings (node.toml): read at every opening, an edit seen at the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.settings import SETTINGS_FILE, load_settings
from sync.errors import ConfigError


def test_an_edited_settings_file_is_read_again(node_home: Path) -> None:
    """The same text is parsed once in a process that opens its homes again and again;
    an edit is a new text, read (and checked) at the next opening."""
    file = node_home / SETTINGS_FILE
    text = file.read_text(encoding="utf-8")
    assert "interval_seconds = 300" in text
    assert load_settings(node_home).sync_interval_seconds == 300
    assert load_settings(node_home) == load_settings(node_home)
    file.write_text(text.replace("interval_seconds = 300", "interval_seconds = 60"), "utf-8")
    assert load_settings(node_home).sync_interval_seconds == 60
    file.write_text(text.replace("interval_seconds = 300", "interval_seconds = 5"), "utf-8")
    with pytest.raises(ConfigError):
        load_settings(node_home)
    file.write_text(text, encoding="utf-8")
    assert load_settings(node_home).sync_interval_seconds == 300
