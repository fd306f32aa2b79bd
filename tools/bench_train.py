#!/usr/bin/env python
"""Same as `wsol bench-train` (implementation: wsol/cli/bench_train.py)."""
from wsol.cli import run

raise SystemExit(run("bench-train"))
