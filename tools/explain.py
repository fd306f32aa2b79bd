#!/usr/bin/env python
"""Same as `wsol explain` (implementation: wsol/cli/explain.py)."""
from wsol.cli import run

raise SystemExit(run("explain"))
