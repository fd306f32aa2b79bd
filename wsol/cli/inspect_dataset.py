"""Validate a dataset folder and print a summary (images, classes, boxes, box sizes, masks, problems).

Every image (and mask) is decoded exactly as training/evaluation would; problems are listed with the
metadata line they come from and make the exit code 1. Example: ``wsol inspect-dataset data/synthetic``.
"""

from __future__ import annotations

from wsol.cli._common import DATA_FORMATS, new_parser
from wsol.fileio import atomic_write_json


def main(argv: list[str] | None = None) -> int:
    p = new_parser("wsol inspect-dataset", __doc__.split("\n")[0])
    p.add_argument("root", help="dataset folder (or COCO instances json)")
    p.add_argument("--split", default="test", help="split name (default: %(default)s)")
    p.add_argument("--format", default="auto", choices=DATA_FORMATS)
    p.add_argument("--no-check", action="store_true", help="metadata only; do not decode image/mask files")
    p.add_argument("--json", default=None, help="also write the summary as JSON to this path")
    args = p.parse_args(argv)
    from wsol.data.errors import DatasetError
    from wsol.data.formats import load_split
    from wsol.data.inspect import format_summary, summarize

    try:
        split = load_split(args.root, args.split, args.format)
    except DatasetError as exc:
        print(f"invalid dataset: {exc}")
        return 1
    summary = summarize(split, check=not args.no_check)
    print(format_summary(summary))
    if args.json:
        atomic_write_json(args.json, summary)
    return 1 if summary["problems"] else 0
