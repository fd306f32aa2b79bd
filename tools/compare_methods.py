#!/usr/bin/env python
"""Same as `wsol compare-methods` (implementation: wsol/cli/compare_methods.py)."""
from wsol.cli import run

raise SystemExit(run("compare-methods"))
