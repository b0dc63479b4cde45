"""The calendar readers real clients are built on, each returning every
event's start instant (UID -> UTC ISO 8601) computed from the file's own
VTIMEZONEs: icalendar, vobject, libical (Debian's python3-gi) and Mozilla's
ical.js (Node). Shared by the calendar tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
import vobject

from helpers import ROOT

UTC = timezone.utc
TESTS = ROOT / "tests"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-gi and libical's typelib


def _iso(instants: dict[str, datetime]) -> dict[str, str]:
    return {uid: moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for uid, moment in instants.items()}


def _run(command: list[str], data: bytes) -> dict[str, str]:
    done = subprocess.run(command, input=data, capture_output=True, cwd=TESTS, timeout=600,
                          env={**os.environ, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    result: dict[str, str] = json.loads(done.stdout)
    return result


def libical_instants(data: bytes) -> dict[str, str]:
    """libical 3 (ICalGLib through Debian's python3-gi)."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"],
                           capture_output=True) if os.path.exists(SYSTEM_PYTHON) else None
    if probe is None or probe.returncode != 0:
        pytest.fail("libical needs Debian's python3 with gir1.2-ical-3.0 and python3-gi: "
                    "apt-get install -y gir1.2-ical-3.0 python3-gi")
    return _run([SYSTEM_PYTHON, str(TESTS / "libical_instants.py")], data)


def icaljs_instants(data: bytes) -> dict[str, str]:
    """Mozilla's ical.js, the version pinned in tests/package-lock.json."""
    if shutil.which("node") is None or not (TESTS / "node_modules" / "ical.js").is_dir():
        pytest.fail("ical.js needs node and `npm ci --prefix tests`")
    return _run(["node", str(TESTS / "icaljs_instants.mjs")], data)


def icalendar_instants(data: bytes) -> dict[str, str]:
    """icalendar, with zones built from the file's VTIMEZONEs only (to_tz
    without its own zone lookup). A DTSTART may be UTC: icalendar itself
    writes talks in zones that are UTC under another name (Africa/Abidjan,
    Iceland: 'GMT') with a Z."""
    cal = icalendar.Calendar.from_ical(data)
    zones = {str(tz["TZID"]): tz.to_tz(lookup_tzid=False) for tz in cal.walk("VTIMEZONE")}
    result = {}
    for event in cal.walk("VEVENT"):
        prop = event["DTSTART"]
        moment = prop.dt
        if "TZID" in prop.params:
            moment = moment.replace(tzinfo=zones[prop.params["TZID"]])
        else:
            assert moment.utcoffset() == timedelta(0), prop.to_ical()
        result[str(event["UID"])] = moment
    return _iso(result)


def vobject_instants(data: bytes) -> dict[str, str]:
    """vobject, interpreting the file's own VTIMEZONEs (as tests/formats/test_ical.py)."""
    cal = vobject.readOne(data.decode("utf-8"))
    zones = {vtz.tzid.value: vtz.gettzinfo() for vtz in cal.contents.get("vtimezone", [])}
    result = {}
    for event in cal.vevent_list:
        start = event.dtstart
        moment = start.value
        if "X-VOBJ-ORIGINAL-TZID" in start.params:
            tzid = start.params["X-VOBJ-ORIGINAL-TZID"][0]
            moment = moment.replace(tzinfo=zones[tzid])
        else:
            assert moment.utcoffset() == timedelta(0), start
        result[event.uid.value] = moment
    return _iso(result)


READERS: dict[str, Callable[[bytes], dict[str, str]]] = {
    "icalendar": icalendar_instants,
    "vobject": vobject_instants,
    "libical": libical_instants,
    "ical.js": icaljs_instants,
}
