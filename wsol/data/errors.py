"""The one error type of the data layer, so callers can tell bad data from bugs.

Every message names the file (and the line for text metadata) and says what was expected, so a user can
fix the dataset without reading code.
"""

from __future__ import annotations

import os

from wsol.errors import UserInputError


class DatasetError(UserInputError, ValueError):
    """Bad dataset input: missing/corrupt file, malformed metadata line, invalid box, unknown class, bad mask."""


def where(path: str | os.PathLike, line: int | None = None) -> str:
    """``path:line`` (1-based line) or just ``path``: the prefix of every data error message."""
    return f"{path}:{line}" if line is not None else str(path)


def check_box(box: tuple[float, float, float, float], size: tuple[int, int], at: str) -> None:
    """Reject ``x1 < x0``, ``y1 < y0``, non-finite values and boxes reaching outside ``[0, w] x [0, h]``.

    ``at`` is the ``file:line`` prefix. Coordinates are pixels of the original image; wsolevaluation writes
    inclusive integer corners (``x1 <= w - 1``), native CUB writes float ``x + w``, so ``x1 == w`` is allowed.
    """
    x0, y0, x1, y1 = box
    w, h = size
    if not all(v == v and abs(v) != float("inf") for v in box):
        raise DatasetError(f"{at}: box {box} has a non-finite coordinate; expected numbers")
    if x1 < x0 or y1 < y0:
        raise DatasetError(
            f"{at}: box (x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}) has x1 < x0 or y1 < y0; "
            f"expected x0 <= x1 and y0 <= y1"
        )
    if w > 0 and h > 0 and (x0 < 0 or y0 < 0 or x1 > w or y1 > h):
        raise DatasetError(
            f"{at}: box (x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}) lies outside the image of "
            f"size {w}x{h}; expected 0 <= x0 <= x1 <= {w} and 0 <= y0 <= y1 <= {h}"
        )
