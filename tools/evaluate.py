#!/usr/bin/env python
"""Same as `wsol evaluate` (implementation: wsol/cli/evaluate.py)."""

from wsol.cli import run

raise SystemExit(run("evaluate"))
