"""Pure functions from one version of the data to bytes.

Each output format (iCalendar, RSS and Atom, HTML pages, JSON, the JSON
Schema, the announcement e-mail) is a module that declares its delivery
(media type, framing, caching) once, as a ``Delivery``. A module here may
import the shared top modules, ``feeds.data`` and the shared bases of this
package (``delivery``, ``memo``, ``text``, ``calendar_links``,
``vtimezone``, ``talk_links``). The document formats do not import each other (the
announcement may import ``ical``: its attachment is the talk's .ics). Nothing
here reads or writes files beyond the package's own templates, and nothing
imports a build, the server or a command."""
