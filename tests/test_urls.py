"""The URL scheme: absolute URLs from the configured site only, webcal links,
UIDs and tag: ids that depend on the talk id alone."""

from __future__ import annotations

import re
import uuid

import pytest

from feeds import urls

from helpers import ROOT, talk_uid


def test_absolute_urls_join_the_base_without_doubling_slashes():
    site = urls.Site("https://example.org/reading-group/")
    assert site.url(urls.CALENDAR) == "https://example.org/reading-group/calendar.ics"
    assert site.url(urls.talk_page("x")) == "https://example.org/reading-group/talks/x"
    assert site.webcal(urls.CALENDAR) == "webcal://example.org/reading-group/calendar.ics"


def test_webcal_replaces_http_too():
    assert urls.Site("http://localhost:5000").webcal("/a.ics") == "webcal://localhost:5000/a.ics"


@pytest.mark.parametrize("base", ["https://a.example", "https://b.example/sub", "http://localhost:5000"])
def test_a_pinned_authority_keeps_uids_and_ids_wherever_the_site_is_served(base):
    site = urls.Site(base).for_series("efficientml.example")
    assert site.uid("2026-04-13-fischer") == talk_uid("2026-04-13-fischer", "efficientml.example")
    assert site.tag("talk", "2026-04-13-fischer") == "tag:efficientml.example,2026:talk/2026-04-13-fischer"


def test_a_uid_is_a_name_based_uuid_that_shows_no_host_or_address():
    uid = urls.Site("https://talks.example.org").for_series("group@example.org").uid("2026-01-12-han")
    parsed = uuid.UUID(uid)
    assert str(parsed) == uid and parsed.version == 5
    assert "example" not in uid and "@" not in uid and "han" not in uid


def test_the_seed_uid_that_readme_shows_never_changes():
    """Published UIDs are forever: this one is in the organisers' guide, 'The data file'."""
    site = urls.Site("https://anywhere.example").for_series("efficientml@gmail.com")
    assert site.uid("2026-04-13-fischer") == "3186deee-65fd-51ad-856d-711185db2004"
    guide = (ROOT / "docs" / "organisers" / "data-file.md").read_text(encoding="utf-8")
    assert "`3186deee-65fd-51ad-856d-711185db2004`" in guide


def test_without_a_pinned_authority_ids_use_the_sites_host():
    site = urls.Site("https://talks.example.org/rg").for_series("")
    assert site.authority == "talks.example.org"
    assert site.uid("x") == talk_uid("x", "talks.example.org")


def test_tag_parts_are_percent_encoded():
    assert urls.Site("https://a.example").tag("talk", "a b/c") == "tag:a.example,2026:talk/a%20b%2Fc"


def test_paths_of_a_talk():
    assert urls.talk_page("t1") == "/talks/t1"
    assert urls.talk_ics("t1") == "/talks/t1.ics"
    assert urls.members_calendar("TOKEN") == "/members/TOKEN/calendar.ics"
    assert urls.asset("style.css") == "/static/style.css"


def test_the_subscribers_guide_link_is_a_page_of_this_repository():
    """"Trouble subscribing?" links the subscribers' guide: a file of this
    checkout, under the repository address that pyproject.toml publishes."""
    repository = re.search(r'^Repository = "(\S+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert repository
    prefix = repository.group(1) + "/blob/main/"
    assert urls.SUBSCRIBER_HELP.startswith(prefix)
    page = ROOT / urls.SUBSCRIBER_HELP[len(prefix):]
    assert page.is_file() and "Trouble subscribing?" in page.read_text(encoding="utf-8")
