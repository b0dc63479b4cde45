"""`feeds init --hub DIR`: a hub folder with one example series that validates at once."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from feeds.commands import cli
from feeds.data.hub import read_hub


def test_init_hub_writes_a_hub_that_validates_and_builds(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "network"
    assert cli.main(["init", "--hub", str(folder), "--title", "The Network",
                     "--contact", "hub@example.org", "--timezone", "Europe/Berlin"]) == 0
    assert (folder / "site.yaml").is_file()
    assert (folder / "series" / "example.yaml").is_file()
    assert (folder / "series" / "example.revisions.tsv").is_file()
    assert (folder / "series" / "example.yaml").read_text(encoding="utf-8").startswith(
        "# yaml-language-server: $schema=../talks.schema.json")
    assert (folder / "talks.schema.json").is_file()
    got = read_hub(folder)
    assert not got.all_problems and got.info is not None and got.info.title == "The Network"
    assert got.info.contact == "hub@example.org"
    capsys.readouterr()
    assert cli.main(["validate", str(folder)]) == 0
    assert "a hub of 1 series" in capsys.readouterr().out
    assert cli.main(["build", str(tmp_path / "site"), "--data", str(folder),
                     "--site-url", "https://hub.example.org"]) == 0
    assert (tmp_path / "site" / "example" / "index.html").is_file()
    assert b"The Network" in (tmp_path / "site" / "index.html").read_bytes()


def test_init_hub_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    assert cli.main(["init", "--hub", str(tmp_path / "busy")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("option", [["--timezone", "Mars/Olympus"], ["--contact", "nobody"]])
def test_a_bad_option_writes_nothing(tmp_path: Path, capsys, option: list[str]) -> None:
    assert cli.main(["init", "--hub", str(tmp_path / "new"), *option]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_the_site_yaml_schema_accepts_the_started_hub_and_refuses_unknown_keys(tmp_path: Path,
                                                                               capsys) -> None:
    folder = tmp_path / "network"
    assert cli.main(["init", "--hub", str(folder)]) == 0
    capsys.readouterr()
    assert cli.main(["schema", "--hub"]) == 0
    site_schema = json.loads(capsys.readouterr().out)
    assert json.loads((folder / "site.schema.json").read_text(encoding="utf-8")) == site_schema
    validator = jsonschema.Draft202012Validator(site_schema)
    site = yaml.safe_load((folder / "site.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(site)) == []
    assert list(validator.iter_errors({**site, "colour": "red"}))
    assert list(validator.iter_errors({"description": "no title"}))
    assert all(field.get("description") for field in site_schema["properties"].values())
