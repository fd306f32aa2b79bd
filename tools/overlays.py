#!/usr/bin/env python
"""Same as `wsol overlays` (implementation: wsol/cli/overlays.py)."""
from wsol.cli import run

raise SystemExit(run("overlays"))
