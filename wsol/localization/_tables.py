"""Lookup tables of the foreground sweep, per 3x3 neighbourhood (9-bit mask, centre bit clear).

``DC`` / ``DE``: change of (cov2, eul4) when the centre pixel turns foreground (see :mod:`wsol.localization._tree`);
``NRUNS`` / ``RUNS``: the neighbours that start a run of consecutive ring neighbours (8-adjacent pixels of one run
are already in one region, so one union–find lookup per run is enough).
"""

from __future__ import annotations

import numpy as np


def _quad_deltas(nbits: int) -> tuple[int, int]:
    """Change of (cov2, eul4) when the centre pixel of a 3x3 neighbourhood turns foreground.

    Over the four 2x2 quads holding the centre: cov2 counts 2 per full quad and 1 per 3-pixel quad; eul4 counts
    +1 per 1-pixel quad, -1 per 3-pixel quad and -2 per diagonal pair (Gray 1971, 8-connectivity).
    Plain Python: it runs 512 times at import, where a numba dispatch costs more than the arithmetic.
    """
    nbits &= ~16  # the centre is what is being added
    dc = 0
    de = 0
    for qy in range(2):
        for qx in range(2):
            a = (nbits >> (3 * qy + qx)) & 1
            b = (nbits >> (3 * qy + qx + 1)) & 1
            c = (nbits >> (3 * (qy + 1) + qx)) & 1
            d = (nbits >> (3 * (qy + 1) + qx + 1)) & 1
            # the quad's corner diagonal to the centre
            diag = a if qy == 0 and qx == 0 else (b if qy == 0 else (c if qx == 0 else d))
            n_before = a + b + c + d  # the centre bit is 0 here
            if n_before == 0:
                de += 1
            elif n_before == 1:
                de += -3 if diag else -1
            elif n_before == 2:
                dc += 1
                # the two others are diagonal to each other iff neither is the centre's diagonal corner
                de += -1 if diag else 1
            elif n_before == 3:
                dc += 1
                de += 1
    return dc, de


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per 3x3 neighbourhood (9-bit mask, centre bit clear): (cov2, eul4) deltas of adding the centre, and the
    neighbours that start a run of consecutive ring neighbours (one union-find lookup per run is enough)."""
    dc = np.zeros(512, np.int64)
    de = np.zeros(512, np.int64)
    n_runs = np.zeros(512, np.int64)
    runs = np.zeros((512, 4), np.int64)
    ring = [0, 1, 2, 5, 8, 7, 6, 3]
    for mask in range(512):
        if mask & 16:
            continue
        dc[mask], de[mask] = _quad_deltas(mask)
        on = [(mask >> k) & 1 for k in ring]
        starts = [ring[j] for j in range(8) if on[j] and not on[j - 1]]
        if all(on):
            starts = [ring[0]]
        n_runs[mask] = len(starts)
        runs[mask, : len(starts)] = starts
    return dc, de, n_runs, runs


DC, DE, NRUNS, RUNS = _build_tables()
