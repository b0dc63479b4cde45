"""Every route of one version of the data, rendered and written to disk.

The snapshot renders every route's bytes from one render context; the
builder turns a data file into a published build directory, run by the
builder process (builder_process); the builds module reads, switches and
prunes those directories, each with its route table (routes) and what it
is made from (made_from), in the state folder laid out by layout, with the
next build's tree linked ahead (prepared) and the status and locks shared
by every process (build_status); the export writes the same bytes for a
static host. A module here may import the shared top
modules, ``feeds.data`` and ``feeds.formats``: never the server or a
command, and never a web framework."""
