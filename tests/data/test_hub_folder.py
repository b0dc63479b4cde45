"""The hub folder: site.yaml, series/<slug>.yaml, tags; each problem at its own file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.data.hub import is_hub, parse_site, read_hub, record_hub, series_paths
from feeds.data.loader import parse_schedule
from feeds.data.yaml_reader import InvalidData

from helpers import HUB_SERIES, NOW, hub_series_text, write_hub


def test_a_folder_is_a_hub_and_a_file_is_not(tmp_path: Path) -> None:
    hub = write_hub(tmp_path / "hub")
    assert is_hub(hub)
    assert not is_hub(hub / "site.yaml")


def test_site_yaml_needs_a_title_and_says_where(tmp_path: Path) -> None:
    with pytest.raises(InvalidData) as caught:
        parse_site("description: no title\ncolour: red\n", "site.yaml")
    said = [str(p) for p in caught.value.problems]
    assert any(s.startswith("site.yaml:2:1:") and "colour" in s for s in said)
    assert any("missing the required key 'title'" in s for s in said)


def test_site_yaml_optional_keys_are_read() -> None:
    info = parse_site("title: Hub\ndescription: All of it\ncontact: hub@example.org\n"
                      "url: https://example.org/\nid_authority: example.org\n", "site.yaml")
    assert (info.title, info.description, info.contact, info.url, info.id_authority) == \
        ("Hub", "All of it", "hub@example.org", "https://example.org/", "example.org")


def test_site_yaml_refuses_a_contact_that_is_no_address() -> None:
    with pytest.raises(InvalidData) as caught:
        parse_site("title: Hub\ncontact: not an address\n", "site.yaml")
    assert str(caught.value.problems[0]).startswith("site.yaml:2:")


def test_series_slugs_are_file_stems_and_bad_names_are_reported(tmp_path: Path) -> None:
    hub = write_hub(tmp_path / "hub")
    (hub / "series" / "Bad Name.yaml").write_text("x", encoding="utf-8")
    (hub / "series" / "tags.yaml").write_text("x", encoding="utf-8")
    found, problems = series_paths(hub)
    assert sorted(found) == sorted(slug for slug, *_ in HUB_SERIES)
    assert sorted(Path(p.source).name for p in problems) == ["Bad Name.yaml", "tags.yaml"]
    assert any("reserved" in p.message for p in problems)


def test_tags_on_series_and_talks_are_read() -> None:
    text = hub_series_text("theory", "Theory", "UTC", "11:00", "example.org",
                           ("mathematics", "logic"), talks=2)
    schedule = parse_schedule(text, "theory.yaml")
    assert schedule.series.tags == ("mathematics", "logic")
    assert [t.tags for t in schedule.talks] == [(), ("theory-special",)]


@pytest.mark.parametrize("tag", ["Machine Learning", "ml_", "-ml", "a--b", "x" * 41])
def test_a_bad_tag_is_reported_at_its_line(tag: str) -> None:
    text = hub_series_text("theory", "Theory", "UTC", "11:00", "example.org", ("fine",),
                           talks=1) + f"    tags: ['{tag}']\n"
    with pytest.raises(InvalidData) as caught:
        parse_schedule(text, "series/theory.yaml")
    problem = caught.value.problems[0]
    assert (problem.source, problem.line) == ("series/theory.yaml", text.count("\n"))
    assert "short lowercase word or hyphenated phrase" in problem.message


def test_a_tag_listed_twice_is_reported() -> None:
    text = hub_series_text("t", "T", "UTC", "11:00", "example.org", ("a", "a"), talks=1)
    with pytest.raises(InvalidData) as caught:
        parse_schedule(text, "t.yaml")
    assert "listed twice" in caught.value.problems[0].message


def test_every_file_reports_its_own_problems(tmp_path: Path) -> None:
    hub = write_hub(tmp_path / "hub")
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace("timezone: America/New_York",
                                                                 "timezone: Mars/Olympus"),
                      encoding="utf-8")
    (hub / "site.yaml").write_text("title: Hub\nbogus: 1\n", encoding="utf-8")
    got = read_hub(hub)
    sources = {(Path(p.source).name, p.line) for p in got.all_problems}
    assert ("site.yaml", 2) in sources
    assert ("theory.yaml", 4) in sources
    assert not got.ok
    assert got.series["efficient-ml"].schedule is not None


def test_recording_a_hub_writes_one_ledger_per_series(tmp_path: Path) -> None:
    hub = write_hub(tmp_path / "hub")
    got = record_hub(hub, NOW)
    assert got.ok
    for slug, *_ in HUB_SERIES:
        ledger = hub / "series" / f"{slug}.revisions.tsv"
        assert "talk-1\t" in ledger.read_text(encoding="utf-8")


def test_two_series_that_would_share_a_uid_are_reported_at_the_talk(tmp_path: Path) -> None:
    """Ids need only be unique within a series, unless two series mint
    their ids under one authority: then the later series (by slug) is
    refused at each talk whose UID and feed id would be the other's."""
    hub = write_hub(tmp_path / "hub")
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace(
        "id_authority: theory.example.org", "id_authority: efficient@example.org"),
        encoding="utf-8")
    got = read_hub(hub)
    assert got.series["efficient-ml"].schedule is not None
    clashes = got.series["theory"].problems
    assert got.series["theory"].schedule is None and len(clashes) == 4
    lines = [n for n, line in enumerate(theory.read_text(encoding="utf-8").splitlines(), 1)
             if line.startswith("  - id: talk-")]
    assert [(Path(p.source).name, p.line) for p in clashes] == [("theory.yaml", n) for n in lines]
    assert "efficient-ml.yaml" in clashes[0].message
