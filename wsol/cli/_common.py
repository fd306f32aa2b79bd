"""Argument plumbing shared by the subcommands. Importable without torch, numpy or numba: every subcommand
parses its arguments before importing them, so ``--help`` and argument errors answer at once."""

from __future__ import annotations

import argparse
import copy

from wsol.defaults import DEFAULT_CHECKPOINT, DEFAULT_DATA

# the CAM_METHODS registry keys and the upsample modes, for choices= without importing torch (a test keeps
# them equal to wsol.cams.CAM_METHODS / UPSAMPLE_MODES)
CAM_METHOD_NAMES = (
    "cam",
    "eigencam",
    "gradcam",
    "gradcam++",
    "guided_backprop",
    "hirescam",
    "layercam",
    "occlusion",
    "saliency",
    "scorecam",
    "smoothgrad",
    "xgradcam",
)
UPSAMPLE_NAMES = ("bilinear", "bicubic", "nearest", "cv2-bilinear")
DATA_FORMATS = ("auto", "wsolevaluation", "cub", "coco")
FAILURE_CATEGORIES = ("correct", "wrong class", "missed", "several instances", "too large", "part only", "misplaced")


def _no_default(action: argparse.Action) -> bool:
    return action.default is None or action.default is False or action.default == argparse.SUPPRESS


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each help text (unless the text names its default, or there is none: None / a
    store_true flag's False); descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or _no_default(action) or not action.option_strings:
            return text
        return super()._get_help_string(action) or text

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and action.option_strings and not _no_default(action):
            action = copy.copy(action)
            action.help = "default: %(default)s"
        return super()._format_action(action)


def new_parser(prog: str, description: str | None, **kwargs: object) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` for ``wsol <command>`` showing defaults in ``--help``."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter, **kwargs)  # type: ignore[arg-type]


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else unchanged (imports torch)."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def add_source_args(p: argparse.ArgumentParser, split: str = "test") -> None:
    """The flags of the commands that look at a trained model: --checkpoint, --data, --split, --device."""
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="trained checkpoint (made by `wsol quickstart`)")
    p.add_argument(
        "--data", default=None, help=f"dataset root (default: the checkpoint config's data.root, else {DEFAULT_DATA})"
    )
    p.add_argument("--split", default=split, help="split to look at")
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")
