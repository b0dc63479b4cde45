"""The data file's JSON Schema, read back by check-jsonschema (the checker
editors' schemas are tested with): it accepts the seed and every valid
fixture, rejects every invalid fixture it can, and agrees with the loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from feeds.commands import cli, report
from feeds.data import loader
from feeds.data.loader import InvalidData, load_schedule

from helpers import ROOT, SEED_DATA

FIXTURES = ROOT / "tests" / "fixtures" / "data"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))  # the schema catches these
LOADER_ONLY = sorted((FIXTURES / "loader_only").glob("*.yaml"))  # only feeds validate does


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory) -> Path:
    """What `feeds schema` prints, in a file."""
    result = subprocess.run([sys.executable, "-m", "feeds", "schema"], capture_output=True,
                            text=True, check=True)
    path = tmp_path_factory.mktemp("schema") / "talks.schema.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def check(schema_file: Path, *files: Path) -> dict:
    """check-jsonschema's JSON report on `files`."""
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "-o", "json",
                             "--schemafile", str(schema_file), *map(str, files)],
                            capture_output=True, text=True, timeout=120)
    return json.loads(result.stdout)


def test_the_schema_is_a_valid_2020_12_schema(schema_file):
    document = json.loads(schema_file.read_text())
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--check-metaschema",
                             str(schema_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_and_valid_fixtures_pass_the_schema_and_the_loader(schema_file):
    report = check(schema_file, SEED_DATA, *VALID)
    assert report["status"] == "ok", report
    for file in [SEED_DATA, *VALID]:
        load_schedule(file)


def test_the_schema_rejects_every_invalid_fixture_it_can(schema_file):
    assert len(INVALID) >= 15
    report = check(schema_file, *INVALID)
    assert report["parse_errors"] == []
    rejected = {Path(error["filename"]).name for error in report["errors"]}
    assert rejected == {file.name for file in INVALID}
    for file in INVALID:
        with pytest.raises(InvalidData):
            load_schedule(file)


def test_what_only_the_loader_can_catch(schema_file):
    """Duplicate ids, DST gaps, zones missing from the tz database: the
    schema lets them through, feeds validate reports them."""
    assert check(schema_file, *LOADER_ONLY)["status"] == "ok"
    for file in LOADER_ONLY:
        with pytest.raises(InvalidData):
            load_schedule(file)


def test_the_schema_has_exactly_the_loaders_keys(schema_file):
    top = json.loads(schema_file.read_text())
    series = top["properties"]["series"]
    talk = top["properties"]["talks"]["items"]
    speaker = talk["properties"]["speakers"]["items"]
    link = talk["properties"]["links"]["items"]
    for part, keys, required in [(top, loader.TOP_KEYS, loader.TOP_KEYS),
                                 (series, loader.SERIES_KEYS, loader.SERIES_REQUIRED),
                                 (talk, loader.TALK_KEYS, loader.TALK_REQUIRED),
                                 (speaker, loader.SPEAKER_KEYS, loader.SPEAKER_REQUIRED),
                                 (link, loader.LINK_KEYS, loader.LINK_REQUIRED)]:
        assert set(part["properties"]) == set(keys)
        assert set(part["required"]) == set(required)
        assert part["additionalProperties"] is False


def test_the_seed_names_its_schema_for_editors(schema_file):
    """VS Code's YAML extension reads the first line; the file it names,
    relative to the data file, is what `feeds schema` prints."""
    first = SEED_DATA.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    named = SEED_DATA.parent / first.split("$schema=", 1)[1]
    assert named.read_bytes() == schema_file.read_bytes(), "run: feeds schema > " + str(named)


def test_the_site_serves_the_schema(client, schema_file):
    response = client.get("/talks.schema.json")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.get_json() == json.loads(schema_file.read_text())


def test_validate_prints_github_annotations(data_file, capsys):
    text = data_file.read_text().replace("  - id: 2026-03-09-wen\n",
                                         "  - id: 2026-03-09-wen\n    status: delayed\n")
    data_file.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "status: delayed" in row)
    assert cli.main(["validate", "--format", "github", str(data_file)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"::error file={data_file},line={line},col=")
    assert "status 'delayed' is unknown" in out[0]


def test_github_annotations_escape_what_github_would_misread():
    from feeds.data.yaml_reader import Problem
    problem = Problem("a,b:c.yaml", 3, 4, "50% done\nnext line", "t1")
    assert report.github_annotation("error", "", problem) == \
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4::talk t1: 50%25 done%0Anext line"
