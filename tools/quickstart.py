#!/usr/bin/env python
"""Same as `wsol quickstart` (implementation: wsol/cli/quickstart.py)."""
from wsol.cli import run

raise SystemExit(run("quickstart"))
