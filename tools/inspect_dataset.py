#!/usr/bin/env python
"""Same as `wsol inspect-dataset` (implementation: wsol/cli/inspect_dataset.py)."""
from wsol.cli import run

raise SystemExit(run("inspect-dataset"))
