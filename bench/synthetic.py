"""Synthetic data files of any size for the benchmarks: the seed's series
and talks shaped like the seed's (1-3 speakers, an abstract, links, some
recordings, cancellations and other time zones), deterministic per size.

Two date layouts: by default eight talks a day from START (tests use it
with their own fixed clock); given `now`, the same talks dated around it so
that exactly the last `upcoming` are ahead (a long archive with a season to
come). The second is what a benchmark that runs the real server (whose
clock is the real one) needs: its data has the same shape on any day."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

# "Now" for every benchmark: about a third into the synthetic season.
START = date(2026, 1, 5)
WORDS = ("gradient descent sparse attention low-rank adapters quantization pruning "
         "distillation scaling laws kernels memory bandwidth throughput curvature "
         "initialization recurrent networks transformers optimizers hardware-aware "
         "training efficient inference mixture experts").split()
ZONES = ("America/New_York", "Asia/Tokyo", "Europe/London")
SERIES = """series:
  title: Efficient ML Reading Group
  description: >-
    A public reading group on the mathematics and practice of efficient ML.
  contact: efficientml@example.org
  timezone: Europe/Berlin
  time: "17:00"
  duration: 60
  location: Online
  categories: [Efficient ML, Reading group]

talks:
"""


#: Talks ahead of `now` in the dated layout: a season, as a real series has.
UPCOMING = 50


def now_for(size: int) -> datetime:
    """A fixed moment with past and upcoming talks on either side."""
    return datetime.combine(talk_day(size // 3), datetime.min.time(), timezone.utc) + timedelta(hours=12)


def talk_day(index: int, size: int = 0, now: datetime | None = None,
             upcoming: int = UPCOMING) -> date:
    """Eight talks a day, so that even 10 000 talks span only a few years:
    from START, or (given `now` and the `size`) with the last `upcoming` of
    `size` talks from the day after `now` and the others up to the day before."""
    if now is None:
        return START + timedelta(days=index // 8)
    first, today = size - upcoming, now.date()
    if index >= first:
        return today + timedelta(days=1 + (index - first) // 8)
    return today - timedelta(days=1 + (first - 1 - index) // 8)


def talk_yaml(index: int, rng: random.Random, title_suffix: str = "",
              day: date | None = None) -> str:
    day = talk_day(index) if day is None else day
    hour = 9 + index % 8
    lines = [f"  - id: {day.isoformat()}-speaker{index}",
             f"    date: {day.isoformat()}",
             f'    time: "{hour:02d}:00"']
    if index % 20 == 7:
        lines.append(f"    timezone: {ZONES[index % len(ZONES)]}")
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize()
    lines.append(f'    title: "{title}{title_suffix}"')
    lines.append("    speakers:")
    for n in range(rng.randint(1, 3)):
        lines += [f"      - name: Speaker {index}-{n}",
                  f"        affiliation: University {rng.randint(1, 200)}, Country {n}"]
    abstract = " ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 160)))
    lines.append(f"    abstract: |\n      {abstract.capitalize()}.")
    if index % 3 == 0:
        lines += ["    links:", "      - label: Paper",
                  f"        url: https://arxiv.org/abs/2601.{index:05d}"]
    if index % 4 == 1:
        lines.append(f"    recording: https://video.example.org/{index}")
    if index % 50 == 13:
        lines.append("    status: cancelled")
    return "\n".join(lines) + "\n"


def data_text(size: int, edited: int | None = None, revision: int = 1,
              now: datetime | None = None, upcoming: int = UPCOMING) -> str:
    """The data file with `size` talks; `edited` names one talk whose title
    is changed (the one-talk edit of the scaling benchmark), `revision` tells
    successive edits apart; `now`: dated around it (see talk_day)."""
    rng = random.Random(size)
    talks = [talk_yaml(i, rng, f" (revision {revision})" if i == edited else "",
                       talk_day(i, size, now, upcoming))
             for i in range(size)]
    return SERIES + "\n".join(talks)


def talk_id(index: int, size: int = 0, now: datetime | None = None,
            upcoming: int = UPCOMING) -> str:
    """The id of talk `index` in the same layout."""
    return f"{talk_day(index, size, now, upcoming).isoformat()}-speaker{index}"


def write(path: Path, size: int, edited: int | None = None, revision: int = 1,
          now: datetime | None = None, upcoming: int = UPCOMING) -> Path:
    path.write_text(data_text(size, edited, revision, now, upcoming), encoding="utf-8")
    return path
