"""Every route of one version of the data, rendered and written to disk.

The snapshot renders every route's bytes from one render context; the
builder turns a data file into a published build directory; the builds
module reads, switches and prunes those directories, each with its route
table (routes) and what it is made from (made_from); the export writes the
same bytes for a static host. A module here may import the shared top
modules, ``feeds.data`` and ``feeds.formats``: never the server or a
command, and never a web framework."""
