"""Numba kernels behind :mod:`wsol.localization.component_tree` (component tree by union–find).

Why this is fast: a map is quantised to uint8 before thresholding, so its binary masks nest as the threshold
falls. Adding pixels in decreasing value order to a union–find forest (8-connectivity, like the foreground of
``cv2.findContours``) yields every region of every threshold in one pass (Najman & Couprie, "Building the
component tree in quasi-linear time", IEEE TIP 2006). Each region carries its bounding box, its first pixel in
raster order, and two integer sums over the 2x2 pixel quads it touches (all of a quad's foreground pixels are
8-adjacent, so a quad always belongs to one region):

* ``cov2`` = 2 * (#quads with 4 foreground corners) + (#quads with 3): twice the shoelace area of the contour
  through the boundary pixel centres when the region has no hole (what ``cv2.contourArea`` returns);
* ``eul4`` = #Q1 - #Q3 - 2 #QD: four times the 8-connected Euler number (Gray, "Local properties of binary
  images in two dimensions", IEEE TC 1971), so ``holes = 1 - eul4 / 4``.

Holes (4-connected background regions that do not touch the border) come from a second pass over the
background in increasing value order; each hole has its own contour in ``cv2.RETR_TREE`` whose bounding box is
the hole's box grown by one pixel.
"""

from __future__ import annotations

import numba
import numpy as np

from wsol.localization._common import best_iou, bucket_order, distinct_levels, uf_find, inside_bound, workspace
from wsol.localization._holes import hole_pass


@numba.njit(cache=True)
def _quad_deltas(nbits):
    """Change of (cov2, eul4) when the centre pixel of a 3x3 neighbourhood turns foreground.

    Over the four 2x2 quads holding the centre: cov2 counts 2 per full quad and 1 per 3-pixel quad; eul4 counts
    +1 per 1-pixel quad, -1 per 3-pixel quad and -2 per diagonal pair (Gray 1971, 8-connectivity).
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


@numba.njit(cache=True, nogil=True, inline="always")
def _merge(parent, size, bbox, first, cov2, eul4, apos, active, n_active, r1, r2):
    if size[r1] < size[r2]:
        r1, r2 = r2, r1
    parent[r2] = r1
    size[r1] += size[r2]
    bbox[r1, 0] = min(bbox[r1, 0], bbox[r2, 0])
    bbox[r1, 1] = min(bbox[r1, 1], bbox[r2, 1])
    bbox[r1, 2] = max(bbox[r1, 2], bbox[r2, 2])
    bbox[r1, 3] = max(bbox[r1, 3], bbox[r2, 3])
    first[r1] = min(first[r1], first[r2])
    cov2[r1] += cov2[r2]
    eul4[r1] += eul4[r2]
    last = active[n_active - 1]  # swap-remove r2 from the active list
    active[apos[r2]] = last
    apos[last] = apos[r2]
    return r1, n_active - 1


@numba.njit(cache=True, nogil=True)
def _pick_largest(active, n_active, bbox, first, cov2, eul4):
    """Index of the region whose contour cv2 would pick with max(contourArea), or -1 when undecidable.

    Without holes the area is exact (cov2 / 2) and cv2's order (last discovered first) breaks ties toward the
    region whose first raster pixel comes last. With holes, the area lies in [cov2 / 2, (bw - 1)(bh - 1)]; the
    choice is certain only when the best lower bound beats every other region's upper bound.
    """
    best = -1
    any_holes = False
    for k in range(n_active):
        r = active[k]
        if eul4[r] != 4:
            any_holes = True
        if best < 0 or cov2[r] > cov2[best] or (cov2[r] == cov2[best] and first[r] > first[best]):
            best = r
    if not any_holes:
        return best
    for k in range(n_active):
        r = active[k]
        if r == best:
            continue
        upper = cov2[r]
        if eul4[r] != 4:
            upper = 2 * (bbox[r, 2] - bbox[r, 0]) * (bbox[r, 3] - bbox[r, 1])
        if upper >= cov2[best]:
            return -1
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _add_pixels(order, lo, hi, w, fg, ws, n_active):
    """Turn pixels ``order[lo:hi]`` foreground: new singleton regions, unions with 8-neighbours, quad sums."""
    w2 = w + 2
    parent, size, first, cov2, eul4, apos = ws[:, 0], ws[:, 1], ws[:, 2], ws[:, 3], ws[:, 4], ws[:, 5]
    bbox = ws[:, 6:10]
    active = ws[:, 10]
    for pos in range(lo, hi):
        i = order[pos]
        y = i // w
        x = i - y * w
        p = (y + 1) * w2 + x + 1
        nbits = (fg[p - w2 - 1] | (fg[p - w2] << 1) | (fg[p - w2 + 1] << 2) | (fg[p - 1] << 3)
                 | (fg[p + 1] << 5) | (fg[p + w2 - 1] << 6) | (fg[p + w2] << 7) | (fg[p + w2 + 1] << 8))
        fg[p] = 1
        n_runs = _NRUNS[nbits]
        if n_runs == 0:  # a new region
            parent[p] = p
            size[p] = 1
            bbox[p, 0] = x
            bbox[p, 1] = y
            bbox[p, 2] = x
            bbox[p, 3] = y
            first[p] = i
            cov2[p] = 0
            eul4[p] = 0
            apos[p] = n_active
            active[n_active] = p
            n_active += 1
            root = p
        else:  # join the region of the first run, then merge the regions of the other runs into it
            k = _RUNS[nbits, 0]
            root = uf_find(parent, p + (k // 3 - 1) * w2 + k % 3 - 1)
            parent[p] = root
            size[root] += 1
            bbox[root, 0] = min(bbox[root, 0], x)
            bbox[root, 1] = min(bbox[root, 1], y)
            bbox[root, 2] = max(bbox[root, 2], x)
            bbox[root, 3] = max(bbox[root, 3], y)
            first[root] = min(first[root], i)
            for j in range(1, n_runs):
                k = _RUNS[nbits, j]
                r2 = uf_find(parent, p + (k // 3 - 1) * w2 + k % 3 - 1)
                if r2 != root:
                    root, n_active = _merge(parent, size, bbox, first, cov2, eul4, apos, active, n_active,
                                            root, r2)
        cov2[root] += _DC[nbits]
        eul4[root] += _DE[nbits]
    return n_active


@numba.njit(cache=True, nogil=True)
def _score_level(ws, n_active, h, w, gt, n_gt, box):
    """Fill ``box`` with the v1 box of the current level; return (undecided, best IoU of any region box,
    whether a hole inside some region could beat that IoU)."""
    first, cov2, eul4 = ws[:, 2], ws[:, 3], ws[:, 4]
    bbox = ws[:, 6:10]
    active = ws[:, 10]
    if n_active == 0:  # no contour: wsolevaluation's [0, 0, 0, 0]
        box[:] = 0
        return False, best_iou(0, 0, 0, 0, gt, n_gt), False
    best = _pick_largest(active, n_active, bbox, first, cov2, eul4)
    undecided = best < 0
    if undecided:
        best = active[0]
    box[0] = bbox[best, 0]
    box[1] = bbox[best, 1]
    box[2] = min(bbox[best, 2] + 1, w - 1)
    box[3] = min(bbox[best, 3] + 1, h - 1)
    v2 = 0.0
    hole_bound = -1.0
    for k in range(n_active):
        r = active[k]
        x1 = min(bbox[r, 2] + 1, w - 1)
        y1 = min(bbox[r, 3] + 1, h - 1)
        v2 = max(v2, best_iou(bbox[r, 0], bbox[r, 1], x1, y1, gt, n_gt))
        if eul4[r] != 4:
            hole_bound = max(hole_bound, inside_bound(bbox[r, 0], bbox[r, 1], x1, y1, gt, n_gt))
    return undecided, v2, hole_bound > v2


@numba.njit(cache=True, nogil=True)
def foreground_pass(q, h, w, levels, gt, n_gt, boxes_v1, undecided, iou_v2, need_holes, ws, fg):
    """Regions of ``q > T`` for every T of ``levels`` (non-decreasing), visited from the highest T down.

    Writes per level: the v1 box (wsolevaluation's ``x + w`` convention, clipped), whether the v1 choice needs
    the exact cv2 fallback, and the best IoU of any region box with the GT boxes (MaxBoxAccV2). Returns the
    highest level index where a hole could still raise that IoU (-1: none), so the hole pass can stop there,
    and marks those levels in ``need_holes``.
    Pixels live in a frame padded by one background pixel (index ``(y + 1) * (w + 2) + x + 1``) so that
    neighbourhoods need no bounds checks.
    """
    values, los, his = distinct_levels(levels)
    order, starts = bucket_order(q, values, True)
    fg[:] = 0
    box = np.zeros(4, np.int64)
    n_active = 0
    hole_hi = -1
    for kk in range(values.shape[0] - 1, -1, -1):
        n_active = _add_pixels(order, starts[kk], starts[kk + 1], w, fg, ws, n_active)
        und, v2, holes_matter = _score_level(ws, n_active, h, w, gt, n_gt, box)
        if holes_matter and hole_hi < 0:
            hole_hi = his[kk]
        for j in range(los[kk], his[kk] + 1):  # every threshold with this level shares the result
            boxes_v1[j] = box
            undecided[j] = und
            iou_v2[j] = v2
            need_holes[j] = holes_matter
    return hole_hi


@numba.njit(cache=True, nogil=True)
def batch_pass(qs, levels, gts, n_gts, multi, boxes_v1, undecided, iou_v2):
    """Run the passes over a batch of maps (B, H, W); ``multi`` also runs the hole pass for MaxBoxAccV2."""
    b, h, w = qs.shape
    holes = np.empty(levels.shape[1], np.float64)
    need = np.zeros(levels.shape[1], np.bool_)
    ws = workspace((h + 2) * (w + 2))
    fg = np.empty((h + 2) * (w + 2), np.uint8)
    for i in range(b):
        q = qs[i].ravel()
        hole_hi = foreground_pass(q, h, w, levels[i], gts[i], n_gts[i], boxes_v1[i], undecided[i], iou_v2[i], need,
                                  ws, fg)
        if multi and hole_hi >= 0:
            hole_pass(q, h, w, levels[i][: hole_hi + 1], need, gts[i], n_gts[i], holes, ws, fg)
            for j in range(hole_hi + 1):
                if holes[j] > iou_v2[i, j]:
                    iou_v2[i, j] = holes[j]


_DC, _DE, _NRUNS, _RUNS = _build_tables()
