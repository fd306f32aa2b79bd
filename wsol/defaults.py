"""Default paths of the quickstart layout, shared by the command line and the viz sources (no heavy imports)."""

DEFAULT_CHECKPOINT = "runs/quickstart/train/best.pt"
DEFAULT_DATA = "data/synthetic"
