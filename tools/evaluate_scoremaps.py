#!/usr/bin/env python
"""Same as `wsol evaluate-scoremaps` (implementation: wsol/cli/evaluate_scoremaps.py)."""
from wsol.cli import run

raise SystemExit(run("evaluate-scoremaps"))
