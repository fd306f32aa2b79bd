#!/usr/bin/env python
"""Same as `wsol top-patches` (implementation: wsol/cli/top_patches.py)."""
from wsol.cli import run

raise SystemExit(run("top-patches"))
