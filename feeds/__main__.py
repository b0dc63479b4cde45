"""`python -m feeds`: the `feeds` command."""

from feeds.commands.cli import main

raise SystemExit(main())
