"""The ``feeds`` command: one module per family of subcommands.

``cli`` holds the parser and the small commands (validate, build, schema,
token, init, serve); ``organiser`` edits talks (add, recording, cancel),
``announce`` e-mails the list, ``starter`` makes a new series, ``mailer``
speaks SMTP and ``papers`` asks the paper APIs. Commands sit on top: they may
import any other package of feeds, and nothing imports them (``feeds
serve`` imports the server lazily, so that validating loads no Flask)."""
