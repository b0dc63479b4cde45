"""When a series usually meets: the organisers' `series.rhythm`, or else a
rhythm read off its recent talks ("Every other Monday at 17:00 Berlin
time"). A pure function of the model, for the pages and the embeds alike."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from feeds.model import Schedule, Series, Talk

#: How many of the latest talks the rhythm is read from.
RECENT = 6
#: Fewer talks than this show no rhythm, however regular.
AT_LEAST = 3
#: Every week, every other week, ...: what each number of weeks is called.
CADENCES = {1: "Every {day}", 2: "Every other {day}", 3: "Every third {day}",
            4: "Every fourth {day}"}


def zone_label(series: Series) -> str:
    """'Berlin time' for Europe/Berlin, 'UTC' for UTC: the zone as people say it."""
    key = series.timezone.key
    if "/" not in key:
        return key
    return key.rsplit("/", 1)[1].replace("_", " ") + " time"


def derived(talks: Sequence[Talk], series: Series) -> str:
    """The rhythm the latest talks (held, not cancelled or postponed) keep:
    the same weekday and local start in the series' zone, most of them the
    same number of weeks apart, the others one session skipped; "" when
    they keep none."""
    held = [t for t in talks if not t.cancelled and not t.postponed][-RECENT:]
    if len(held) < AT_LEAST:
        return ""
    local = [t.start.astimezone(series.timezone) for t in held]
    slots = Counter((moment.strftime("%A"), moment.strftime("%H:%M")) for moment in local)
    (day, clock), count = slots.most_common(1)[0]
    if count != len(local):
        return ""
    gaps = [(later.date() - earlier.date()).days // 7 for earlier, later in itertools.pairwise(local)]
    weeks, usual = Counter(gaps).most_common(1)[0]
    if (weeks not in CADENCES or usual * 2 <= len(gaps)
            or any(g % weeks or g > 2 * weeks for g in gaps)):
        return ""
    return f"{CADENCES[weeks].format(day=day)} at {clock} {zone_label(series)}"


def rhythm(schedule: Schedule) -> str:
    """What a page says of when the series meets: `series.rhythm` if the
    organisers wrote one, else the rhythm of the recent talks, else ""."""
    return schedule.series.rhythm or derived(schedule.talks, schedule.series)
