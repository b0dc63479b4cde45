"""UID -> UTC start of every VEVENT, as libical computes it from the file's
own VTIMEZONEs. Run with Debian's /usr/bin/python3 (python3-gi and
gir1.2-ical-3.0): reads an iCalendar file on stdin, prints JSON."""

import json
import sys
import time

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ICal  # noqa: E402


def components(parent, kind):
    """The subcomponents of `parent` of one kind."""
    child = parent.get_first_component(kind)
    while child is not None:
        yield child
        child = parent.get_next_component(kind)


def main() -> None:
    calendar = ICal.Component.new_from_string(sys.stdin.read())
    zones = {}
    for vtimezone in components(calendar, ICal.ComponentKind.VTIMEZONE_COMPONENT):
        zone = ICal.Timezone.new()
        zone.set_component(vtimezone.clone())  # the zone owns its copy
        zones[zone.get_tzid()] = zone
    result = {}
    for event in components(calendar, ICal.ComponentKind.VEVENT_COMPONENT):
        prop = event.get_first_property(ICal.PropertyKind.DTSTART_PROPERTY)
        start = prop.get_dtstart()
        tzid = prop.get_parameter_as_string("TZID")
        if tzid is None:  # a UTC time (...Z)
            zone = ICal.Timezone.get_utc_timezone()
        else:
            zone = zones[tzid]
            start.set_timezone(zone)
        stamp = start.as_timet_with_zone(zone)
        result[event.get_uid()] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
