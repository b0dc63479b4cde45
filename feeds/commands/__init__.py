"""The ``feeds`` command: one module per family of subcommands.

``cli`` holds the parser and the small commands (validate, build, schema,
token, init, serve); ``organiser`` edits talks (add, recording, cancel),
``announce`` e-mails the list, ``starter`` makes a new series, ``mailer``
speaks SMTP, ``papers`` asks the paper APIs and ``fetching`` makes their
bounded HTTP GETs. Commands sit on top: they may import any other package of
feeds, and nothing imports them (``feeds serve`` imports the server lazily, so
that validating loads no Flask)."""
