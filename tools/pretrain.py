#!/usr/bin/env python
"""Same as `wsol pretrain` (implementation: wsol/cli/pretrain.py)."""
from wsol.cli import run

raise SystemExit(run("pretrain"))
