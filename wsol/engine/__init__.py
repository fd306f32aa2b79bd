"""Training engine: trainer loop, checkpoints, optimizer groups, distributed plumbing, TensorBoard logging.

Imported by the command line (``wsol train``) and tools only; nothing in the library imports it except
``load_model``, which readers of checkpoints use.
"""

from wsol.engine.checkpoint import CheckpointError, load_checkpoint, load_model

__all__ = ["CheckpointError", "load_checkpoint", "load_model"]
