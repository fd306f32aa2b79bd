#!/usr/bin/env python
"""Same as `wsol class-model` (implementation: wsol/cli/class_model.py)."""
from wsol.cli import run

raise SystemExit(run("class-model"))
