"""``python -m wsol <command>`` is the same as ``wsol <command>``."""

from wsol.cli import main

raise SystemExit(main())
