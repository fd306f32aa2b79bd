#!/usr/bin/env python
"""Same as `wsol activations` (implementation: wsol/cli/activations.py)."""
from wsol.cli import run

raise SystemExit(run("activations"))
