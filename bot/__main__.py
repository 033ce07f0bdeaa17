"""`python -m bot` is the same as the `platbot` command."""

from bot.cli import main

raise SystemExit(main())
