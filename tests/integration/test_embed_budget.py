"""/embed with options is rendered on request; what a stream of new option
sets may cost a worker is bounded (attack run D28: past the 64 cached sets
each one was rendered, 0.6-0.9 s at 20 000 talks, and /calendar.ics slowed
to seconds for everyone)."""

from __future__ import annotations

import pytest

from feeds.publish import snapshot as snapshot_module
from feeds.publish.snapshot import EmbedPages, RenderBudget


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def budget(monkeypatch):
    """A render budget of almost nothing, refilled by the manual clock."""
    clock = ManualClock()
    tight = RenderBudget(capacity=1e-6, rate=0.5, clock=clock)
    monkeypatch.setattr(snapshot_module, "EMBED_BUDGET", tight)
    return clock


def embed(client, query: str):
    return client.get(f"/embed/?{query}")


def test_a_limit_that_cuts_nothing_is_the_page_without_one(client):
    whole = embed(client, "show=all&theme=dark")
    for limit in (12, 13, 1000):  # the seed has 12 talks
        same = embed(client, f"show=all&theme=dark&limit={limit}")
        assert same.status_code == 200 and same.data == whole.data
        assert same.headers["ETag"] == whole.headers["ETag"]
    cut = embed(client, "show=all&theme=dark&limit=11")
    assert cut.data != whole.data and cut.data.count(b"<li class=\"fe-talk") == 11


def test_new_option_sets_wait_while_the_budget_is_spent(budget, client):
    first = embed(client, "show=past&limit=2")
    assert first.status_code == 200  # the budget was not spent yet
    refused = embed(client, "show=past&limit=3")
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Cache-Control"] == "no-store"
    # what is published or kept is still served, and the rest of the site
    assert embed(client, "show=past&limit=2").data == first.data
    assert client.get("/embed/").status_code == 200
    assert client.get("/calendar.ics").status_code == 200
    assert client.get("/embed?limit=3").status_code == 301
    budget.now += 60  # the budget refills
    assert embed(client, "show=past&limit=3").status_code == 200


def test_pages_without_a_limit_stay_while_limited_ones_come_and_go(client, monkeypatch):
    monkeypatch.setattr(EmbedPages, "LIMIT", 4)
    pages = client.application.extensions["feeds"].current()
    whole = {theme: pages.embed(pages_options(show="all", theme=theme))
             for theme in ("auto", "light", "dark")}
    first = pages.embed(pages_options(show="all", limit=1))
    for limit in range(2, 11):  # more limited sets than are kept
        pages.embed(pages_options(show="all", limit=limit))
    for theme, page in whole.items():
        assert pages.embed(pages_options(show="all", theme=theme)) is page
    assert pages.embed(pages_options(show="all", limit=10)) is pages.embed(
        pages_options(show="all", limit=10))
    again = pages.embed(pages_options(show="all", limit=1))
    assert again is not first and again.body == first.body  # dropped, then rendered anew


def pages_options(**fields):
    from feeds.formats.pages import EmbedOptions

    return EmbedOptions(**fields)
