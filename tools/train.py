#!/usr/bin/env python
"""Same as `wsol train` (implementation: wsol/cli/train.py)."""

from wsol.cli import run

raise SystemExit(run("train"))
