#!/usr/bin/env python
"""Same as `wsol bench-evaluate` (implementation: wsol/cli/bench_evaluate.py)."""
from wsol.cli import run

raise SystemExit(run("bench-evaluate"))
