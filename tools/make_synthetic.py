#!/usr/bin/env python
"""Same as `wsol make-synthetic` (implementation: wsol/cli/make_synthetic.py)."""
from wsol.cli import run

raise SystemExit(run("make-synthetic"))
