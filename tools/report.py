#!/usr/bin/env python
"""Same as `wsol report` (implementation: wsol/cli/report.py)."""
from wsol.cli import run

raise SystemExit(run("report"))
