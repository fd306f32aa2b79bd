#!/usr/bin/env python
"""Same as `wsol bench-export` (implementation: wsol/cli/bench_export.py)."""
from wsol.cli import run

raise SystemExit(run("bench-export"))
