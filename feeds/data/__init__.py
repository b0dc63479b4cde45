"""The files organisers write: read, validated, edited and recorded.

Here live the YAML node reader, the data file's loader, the revision ledger
and the change history it keeps, the form-keeping edits of the data file and
the checks of a new talk's input, the secrets file and the ledger of sent
announcements. A module here may import only the shared top modules
(``feeds.model``, ``feeds.urls``, ``feeds.timezones``, ``feeds.settings``,
``feeds.files``) and its neighbours in this package: it never imports a
format, a build, the server or a command, and never loads a web framework."""
