#!/usr/bin/env python
"""Same as `wsol embeddings` (implementation: wsol/cli/embeddings.py)."""
from wsol.cli import run

raise SystemExit(run("embeddings"))
