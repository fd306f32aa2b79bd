#!/usr/bin/env python
"""Same as `wsol bench-localization` (implementation: wsol/cli/bench_localization.py)."""
from wsol.cli import run

raise SystemExit(run("bench-localization"))
