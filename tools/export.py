#!/usr/bin/env python
"""Same as `wsol export` (implementation: wsol/cli/export.py)."""

from wsol.cli import run

raise SystemExit(run("export"))
