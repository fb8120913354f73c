"""Validation of [tool.shipyard] tables: one line naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import ConfigError
from shipyard._pyproject import Field, load, validate_table

FIELDS = {"context": Field(str, required=True, help="the build context"), "args": Field(dict, default={})}


def test_defaults_are_filled_in() -> None:
    assert validate_table({"context": "."}, FIELDS, file="pyproject.toml", key="tool.x") == {
        "context": ".",
        "args": {},
    }


def test_an_unknown_key_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        validate_table({"context": ".", "contxt": "."}, FIELDS, file="pyproject.toml", key="tool.x")
    assert str(info.value) == "pyproject.toml: tool.x.contxt: unknown key 'contxt'; allowed keys are: args, context"


def test_a_missing_key_and_a_wrong_type_are_named() -> None:
    with pytest.raises(ConfigError, match=r"tool\.x\.context: missing required key \(the build context\)"):
        validate_table({}, FIELDS, file="pyproject.toml", key="tool.x")
    with pytest.raises(ConfigError, match=r"tool\.x\.args: must be dict, got list"):
        validate_table({"context": ".", "args": []}, FIELDS, file="pyproject.toml", key="tool.x")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[project\nname = 1\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: invalid TOML"):
        load(path)
