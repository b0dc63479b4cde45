"""/talks.json, composed from per-talk serializations: the same text as
json.dumps writes for the whole document, read back by json."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.formats import talks_json
from feeds.formats.memo import Kept
from feeds.urls import Site

from helpers import SITE_URL

SITE = Site(SITE_URL)


def whole(schedule) -> bytes:
    text = json.dumps(talks_json.talks_document(schedule, SITE), ensure_ascii=False,
                      separators=(",", ":"))
    return (text + "\n").encode()


def test_the_composed_document_is_what_json_writes_whole(seed):
    memo = Kept()
    assert talks_json.render(seed, SITE, memo) == whole(seed)
    assert talks_json.render(seed, SITE, memo) == whole(seed)  # from what was kept


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(max_size=80), note=st.text(max_size=80))
def test_any_text_reads_back(seed, title, note):
    talk = dataclasses.replace(seed.talks[0], title=title, note=note)
    schedule = dataclasses.replace(seed, talks=(talk, *seed.talks[1:]), _by_id={})
    body = talks_json.render(schedule, SITE)
    assert body == whole(schedule)
    record = json.loads(body)["talks"][0]
    assert record["title"] == title and record["note"] == (note or None)


def test_an_empty_schedule_is_an_empty_list(seed):
    empty = dataclasses.replace(seed, talks=(), _by_id={})
    document = json.loads(talks_json.render(empty, SITE))
    assert document["talks"] == [] and document["series"]["title"] == seed.series.title
