#!/usr/bin/env python
"""Same as `wsol bench-explainers` (implementation: wsol/cli/bench_explainers.py)."""
from wsol.cli import run

raise SystemExit(run("bench-explainers"))
