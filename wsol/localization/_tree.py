"""Numba kernels behind :mod:`wsol.localization.component_tree`: every threshold's regions in two sweeps per map.

Why this is fast: a map is quantised to uint8 before thresholding, so its binary masks nest as the threshold
falls. One counting sort by grey value (256 buckets, raster order inside a bucket) orders the pixels; adding them
in decreasing value to a union–find forest (8-connectivity, the foreground of ``cv2.findContours``) yields every
region of every threshold (Najman & Couprie, "Building the component tree in quasi-linear time", IEEE TIP 2006).
Only the grey levels that thresholds use, ``int(tau * max(q))``, are read out, so 100 or 1,000 thresholds cost
about the same. The union–find runs over *region ids* (a small, cache-resident array), not pixels: each pixel keeps
the id it got when added and one ``find`` maps it to its current region.

Each region carries its bounding box, its first pixel in raster order and two integer sums over the 2x2 pixel
quads it touches (all foreground pixels of a quad are 8-adjacent, so a quad belongs to one region):

* ``cov2`` = 2 * #(quads with 4 foreground pixels) + #(quads with 3): twice the shoelace area of the contour
  through the boundary pixel centres when the region has no hole (what ``cv2.contourArea`` returns);
* ``eul4`` = #Q1 - #Q3 - 2 #QD = 4 * (1 - holes), the 8-connected Euler number times four (Gray, "Local
  properties of binary images in two dimensions", IEEE TC 1971).

Holes (4-connected background regions away from the image border; ``cv2.RETR_TREE`` gives each its own contour,
whose box is the hole's box grown by one pixel) come from a second sweep over the background in increasing value,
run only up to the highest level where a hole's box could beat the regions' best IoU (MaxBoxAccV2).
"""

from __future__ import annotations

import numba
import numpy as np

from wsol.localization._common import cover_ratio, iou_inclusive
from wsol.localization._tables import DC, DE, NRUNS, RUNS

H16 = np.uint64(0x8000800080008000)
L16 = np.uint64(0xFFFF)


@numba.njit(cache=True, nogil=True)
def box_max(a, b):
    """Union of two boxes packed as four 15-bit lanes ``(x1, y1, 32767 - x0, 32767 - y0)``: a lane-wise max in
    one word (SWAR: bit 15 of ``(a | H) - b`` is set in the lanes where a >= b, no borrow crosses a lane), so a
    region's box is one load and one store per pixel instead of four of each."""
    m = ((((a | H16) - b) & H16) >> np.uint64(15)) * L16
    return (a & m) | (b & ~m)


# region record fields (one int32 row per region id, so a region's fields share a cache line)
X0, Y0, X1, Y1, FIRST, COV2, EUL4, APOS = range(8)


@numba.njit(cache=True, nogil=True)
def counting_sort(q, h, w, hist, order):
    """Pixels of ``q`` (H * W) grouped by grey value, raster order inside a value; bucket v is
    ``order[hist[v]:hist[v + 1]]`` (``hist`` has 257 entries). A pixel is stored as four 16-bit lanes
    ``(x, y, 32767 - x, 32767 - y)``: the sweeps read ``x, y`` without integer division (which dominated their
    per-pixel cost), and the word is the pixel's own box for :func:`box_max`. Unsigned indices: see
    ``_add_foreground``."""
    one = np.uint64(1)
    hist[:] = 0
    for i in range(h * w):
        hist[np.uint64(q[i]) + one] += 1
    for v in range(256):
        hist[v + 1] += hist[v]
    fill = hist[:256].copy()
    i = 0
    for y in range(h):
        for x in range(w):
            v = np.uint64(q[i])
            order[np.uint64(fill[v])] = x | (y << 16) | ((32767 - x) << 32) | ((32767 - y) << 48)
            fill[v] += 1
            i += 1


@numba.njit(cache=True, nogil=True)
def _new_region(parent, reg, active, n_active, root, x, y, i):
    """Start region ``root`` at pixel (x, y) (raster index ``i``) and list it; returns the new list length."""
    parent[root] = root
    reg[root, X0] = x
    reg[root, Y0] = y
    reg[root, X1] = x
    reg[root, Y1] = y
    reg[root, FIRST] = i
    reg[root, COV2] = 0
    reg[root, EUL4] = 0
    reg[root, APOS] = n_active
    active[n_active] = root
    return n_active + 1


@numba.njit(cache=True, nogil=True)
def neighbourhood_table(w2):
    """Per 3x3 mask (flat, 8 entries per mask): [number of runs, padded-frame offsets of each run's first
    neighbour (4), cov2 delta, eul4 delta, 0], one 64-byte row so a pixel's lookup touches one cache line."""
    tab = np.zeros(512 * 8, np.int64)
    offs = np.array([-w2 - 1, -w2, -w2 + 1, -1, 0, 1, w2 - 1, w2, w2 + 1], np.int64)
    for m in range(512):
        tab[8 * m] = NRUNS[m]
        for j in range(NRUNS[m]):
            tab[8 * m + 1 + j] = offs[RUNS[m, j]]
        tab[8 * m + 5] = DC[m]
        tab[8 * m + 6] = DE[m]
    return tab


@numba.njit(cache=True, nogil=True)
def _add_foreground(order, lo, hi, w, lab, fg, parent, reg, box, active, n_active, n_ids, tab):
    """Turn pixels ``order[lo:hi]`` foreground: new regions, unions with 8-neighbours, quad sums.

    Everything is written out inline: a numba call taking arrays inside a per-pixel loop costs reference-count
    updates that made the sweep ten times slower. Indices are unsigned (``lab`` and ``parent`` are uint32, offsets
    wrap modulo 2**64): numba adds a negative-index check to every signed index, which doubled the cost of the
    neighbourhood reads. ``find`` uses path halving on the region-id forest. A region's box lives packed in
    ``box`` (see :func:`box_max`) and is unpacked into ``reg`` only for the read-outs; it grows only when the
    pixel leaves it, a predictable branch. A region's first raster pixel is not tracked here (it only breaks
    exact area ties, see ``_first_pixel``).
    """
    one = np.uint64(1)
    w2 = np.uint64(w + 2)
    eight = np.uint64(8)
    for pos in range(lo, hi):
        e = order[pos]
        y = (e >> 16) & 0xFFFF
        x = e & 0xFFFF
        p = np.uint64((y + 1) * (w + 2) + x + 1)
        a = p - w2
        c = p + w2
        # branch-free 3x3 mask from the byte mask ``fg`` (4x smaller than ``lab``: stays in L1 cache)
        nbits = (
            fg[a - one]
            | (fg[a] << 1)
            | (fg[a + one] << 2)
            | (fg[p - one] << 3)
            | (fg[p + one] << 5)
            | (fg[c - one] << 6)
            | (fg[c] << 7)
            | (fg[c + one] << 8)
        )
        t = np.uint64(nbits) * eight
        fg[p] = 1
        n_runs = tab[t]
        if n_runs == 0:  # a new region (rare: a helper call is affordable here)
            root = np.uint64(n_ids)
            n_ids += 1
            n_active = _new_region(parent, reg, active, n_active, root, x, y, y * w + x)
            box[root] = np.uint64(e)
        else:  # join the first run's region; merge the other runs' regions into it
            root = np.uint64(lab[p + np.uint64(tab[t + one])])
            while parent[root] != root:
                parent[root] = parent[parent[root]]
                root = np.uint64(parent[root])
            for j in range(1, n_runs):
                r2 = np.uint64(lab[p + np.uint64(tab[t + one + np.uint64(j)])])
                while parent[r2] != r2:
                    parent[r2] = parent[parent[r2]]
                    r2 = np.uint64(parent[r2])
                if r2 != root:
                    if r2 < root:  # the older (lower id, usually larger) region stays the root
                        root, r2 = r2, root
                    parent[r2] = root
                    box[root] = box_max(box[root], box[r2])
                    reg[root, COV2] += reg[r2, COV2]
                    reg[root, EUL4] += reg[r2, EUL4]
                    last = active[n_active - 1]  # swap-remove r2 from the live regions
                    active[reg[r2, APOS]] = last
                    reg[last, APOS] = reg[r2, APOS]
                    n_active -= 1
            b = box[root]
            if (((b | H16) - np.uint64(e)) & H16) != H16:  # the pixel leaves the box (rare): grow it
                box[root] = box_max(b, np.uint64(e))
        lab[p] = root
        reg[root, COV2] += tab[t + np.uint64(5)]
        reg[root, EUL4] += tab[t + np.uint64(6)]
    return n_active, n_ids


@numba.njit(cache=True, nogil=True)
def _first_pixel(r, reg, lab, fg, parent, w):
    """Raster index of region ``r``'s first pixel: the leftmost of its pixels on its top row ``Y0``."""
    w2 = w + 2
    y = reg[r, Y0]
    for x in range(reg[r, X0], reg[r, X1] + 1):
        p = (y + 1) * w2 + x + 1
        if fg[p]:
            k = lab[p]
            while parent[k] != k:
                k = parent[k]
            if k == r:
                return y * w + x
    return -1


@numba.njit(cache=True, nogil=True)
def _pick_largest(reg, active, n_active, lab, fg, parent, w):
    """Region whose contour cv2 would pick with ``max(contours, key=cv2.contourArea)``, or -1 if undecidable.

    Without holes the area is exact (cov2 / 2) and cv2's order (last discovered first) breaks ties toward the
    region whose first raster pixel comes last. With holes the area lies in [cov2 / 2, (bw - 1)(bh - 1)]; the
    choice is certain only when the best lower bound beats every other region's upper bound.
    """
    best = -1
    best_first = -1
    any_holes = False
    for k in range(n_active):
        r = active[k]
        any_holes |= reg[r, EUL4] != 4
        if best < 0 or reg[r, COV2] > reg[best, COV2]:
            best = r
            best_first = -1
        elif reg[r, COV2] == reg[best, COV2]:
            if best_first < 0:
                best_first = _first_pixel(np.int64(best), reg, lab, fg, parent, w)
            first = _first_pixel(np.int64(r), reg, lab, fg, parent, w)
            if first > best_first:
                best = r
                best_first = first
    if not any_holes:
        return best
    for k in range(n_active):
        r = active[k]
        upper = reg[r, COV2]
        if reg[r, EUL4] != 4:
            upper = 2 * (reg[r, X1] - reg[r, X0]) * (reg[r, Y1] - reg[r, Y0])
        if r != best and upper >= reg[best, COV2]:
            return -1
    return best


@numba.njit(cache=True, nogil=True)
def _score_level(reg, active, n_active, h, w, gt, n_gt, out_box, v, lab, fg, parent):
    """Read out level ``v``: v1 box (cv2's ``x + w`` convention, clipped) and its IoU, whether that choice is
    undecided, the best IoU of any region box, and whether a hole could beat it. Returns the undecided flag."""
    if n_active == 0:  # no contour: wsolevaluation's [0, 0, 0, 0]
        out_box[v, :] = 0
        empty = 0.0
        for g in range(n_gt):
            empty = max(empty, iou_inclusive(0, 0, 0, 0, gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3]))
        return False, empty, empty, False
    best = _pick_largest(reg, active, n_active, lab, fg, parent, w)
    undecided = best < 0
    v1 = -1.0
    v2 = 0.0
    hole_bound = -1.0
    for k in range(n_active):
        r = active[k]
        x1 = min(reg[r, X1] + 1, w - 1)
        y1 = min(reg[r, Y1] + 1, h - 1)
        x0 = reg[r, X0]
        y0 = reg[r, Y0]
        iou = 0.0
        bound = -1.0
        for g in range(n_gt):
            iou = max(iou, iou_inclusive(x0, y0, x1, y1, gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3]))
            if reg[r, EUL4] != 4:
                bound = max(bound, cover_ratio(x0, y0, x1, y1, gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3]))
        hole_bound = max(hole_bound, bound)
        v2 = max(v2, iou)
        if r == best or (undecided and k == 0):
            v1 = iou
            out_box[v, 0] = reg[r, X0]
            out_box[v, 1] = reg[r, Y0]
            out_box[v, 2] = x1
            out_box[v, 3] = y1
    if undecided:
        _candidate_union(reg, active, n_active, out_box, v)
    return undecided, v1, v2, hole_bound > v2


@numba.njit(cache=True, nogil=True)
def _candidate_union(reg, active, n_active, out_box, v):
    """For an undecided level: the union (inclusive pixel box) of the regions that could have the largest contour
    (upper area bound >= the best lower bound). Every other region lies outside or is cut by a crop of this box
    grown by one pixel, and a cut region's contour area can only shrink, so cv2 on that crop decides exactly."""
    best = active[0]
    for k in range(n_active):
        if reg[active[k], COV2] > reg[best, COV2]:
            best = active[k]
    x0, y0, x1, y1 = reg[best, X0], reg[best, Y0], reg[best, X1], reg[best, Y1]
    for k in range(n_active):
        r = active[k]
        upper = reg[r, COV2]
        if reg[r, EUL4] != 4:
            upper = 2 * (reg[r, X1] - reg[r, X0]) * (reg[r, Y1] - reg[r, Y0])
        if upper >= reg[best, COV2]:
            x0, y0 = min(x0, reg[r, X0]), min(y0, reg[r, Y0])
            x1, y1 = max(x1, reg[r, X1]), max(y1, reg[r, Y1])
    out_box[v, 0] = x0
    out_box[v, 1] = y0
    out_box[v, 2] = x1
    out_box[v, 3] = y1


@numba.njit(cache=True, nogil=True)
def foreground_sweep(
    q,
    h,
    w,
    hist,
    order,
    used,
    gt,
    n_gt,
    lab,
    fg,
    parent,
    reg,
    box,
    active,
    tab,
    out_box,
    out_und,
    out_v1,
    out_v2,
    out_holes,
):
    """Regions of ``q > v`` for every used level ``v`` (``used[v]``), visited from the highest level down.

    Writes per level value: v1 box and IoU, undecided flag, best region IoU (v2) and whether a hole could raise
    it. Pixels live in a frame padded by one background pixel (``(y + 1) * (w + 2) + x + 1``; ``fg`` marks the
    foreground, ``lab`` is only read where ``fg`` is set), so neighbourhoods need no bounds checks. Returns the
    highest level where holes matter (-1: none).
    """
    fg[:] = 0
    # np.int64 rather than a bare 0: a literal would make numba compile every callee once more for Literal[int](0)
    n_active = np.int64(0)
    n_ids = np.int64(0)
    hole_hi = -1
    lowest = 0
    while not used[lowest]:
        lowest += 1
    for v in range(255, lowest - 1, -1):
        if used[v]:
            for k in range(n_active):  # unpack the live regions' boxes for the read-out
                r = active[k]
                b = box[r]
                reg[r, X1] = b & L16
                reg[r, Y1] = (b >> np.uint64(16)) & L16
                reg[r, X0] = 32767 - ((b >> np.uint64(32)) & L16)
                reg[r, Y0] = 32767 - (b >> np.uint64(48))
            und, v1, v2, holes = _score_level(reg, active, n_active, h, w, gt, n_gt, out_box, v, lab, fg, parent)
            out_und[v] = und
            out_v1[v] = v1
            out_v2[v] = v2
            out_holes[v] = holes
            if holes and hole_hi < 0:
                hole_hi = v
        if v > lowest:
            n_active, n_ids = _add_foreground(
                order, hist[v], hist[v + 1], w, lab, fg, parent, reg, box, active, n_active, n_ids, tab
            )
    return hole_hi


@numba.njit(cache=True, nogil=True)
def _add_background(order, lo, hi, w, lab, parent, reg, active, n_active, n_ids):
    """Turn pixels ``order[lo:hi]`` background: unions with 4-neighbours. ``lab`` (uint32, unsigned indices as in
    ``_add_foreground``): 0 = not background yet, 1 = the outside (the padding frame and all that joins it; the
    lowest id, so it always stays a root), >= 2 = holes, the listed regions."""
    one = np.uint64(1)
    w2 = np.uint64(w + 2)
    for pos in range(lo, hi):
        e = order[pos]
        y = (e >> 16) & 0xFFFF
        x = e & 0xFFFF
        p = np.uint64((y + 1) * (w + 2) + x + 1)
        n0 = np.uint64(lab[p - w2])
        n1 = np.uint64(lab[p - one])
        n2 = np.uint64(lab[p + one])
        n3 = np.uint64(lab[p + w2])
        if max(max(n0, n1), max(n2, n3)) == 1:  # fast path: only the outside around
            lab[p] = 1
            continue
        # two parent hops reach the root almost always (``parent[0] = 0`` keeps "none" at 0); branch-free, then
        # one check sends the rare deeper paths to a full find. Unpredictable branches, not work, cost here.
        r0 = np.uint64(parent[parent[n0]])
        r1 = np.uint64(parent[parent[n1]])
        r2 = np.uint64(parent[parent[n2]])
        r3 = np.uint64(parent[parent[n3]])
        if parent[r0] != r0 or parent[r1] != r1 or parent[r2] != r2 or parent[r3] != r3:
            while parent[r0] != r0:
                r0 = np.uint64(parent[r0])
            while parent[r1] != r1:
                r1 = np.uint64(parent[r1])
            while parent[r2] != r2:
                r2 = np.uint64(parent[r2])
            while parent[r3] != r3:
                r3 = np.uint64(parent[r3])
        parent[n0] = r0  # compress the first hop
        parent[n1] = r1
        parent[n2] = r2
        parent[n3] = r3
        big = np.uint64(1 << 40)
        hi = max(max(r0, r1), max(r2, r3))
        lo = min(min(r0 + big * (r0 == 0), r1 + big * (r1 == 0)), min(r2 + big * (r2 == 0), r3 + big * (r3 == 0)))
        if hi == 0:  # a new hole (rare)
            root = np.uint64(n_ids)
            n_ids += 1
            n_active = _new_region(parent, reg, active, n_active, root, x, y, y * w + x)
        else:
            root = lo  # the oldest region stays the root; the outside (1) always does
            if hi != lo:  # regions meet (rare): merge every other one into the root
                for d in range(4):
                    r = r0 if d == 0 else (r1 if d == 1 else (r2 if d == 2 else r3))
                    if r == 0 or r == root or parent[r] != r:
                        continue
                    parent[r] = root
                    if root != 1:
                        reg[root, X0] = min(reg[root, X0], reg[r, X0])
                        reg[root, Y0] = min(reg[root, Y0], reg[r, Y0])
                        reg[root, X1] = max(reg[root, X1], reg[r, X1])
                        reg[root, Y1] = max(reg[root, Y1], reg[r, Y1])
                    last = active[n_active - 1]  # swap-remove r from the listed holes
                    active[reg[r, APOS]] = last
                    reg[last, APOS] = reg[r, APOS]
                    n_active -= 1
            if root != 1:
                reg[root, X0] = min(reg[root, X0], x)
                reg[root, Y0] = min(reg[root, Y0], y)
                reg[root, X1] = max(reg[root, X1], x)
                reg[root, Y1] = max(reg[root, Y1], y)
        lab[p] = root
    return n_active, n_ids


@numba.njit(cache=True, nogil=True)
def hole_sweep(q, h, w, hist, order, top, wanted, gt, n_gt, lab, parent, reg, active, out_v2):
    """Raise ``out_v2[v]`` to the best IoU of a hole contour's box, for the levels ``v <= top`` with ``wanted[v]``.

    Background at level v is ``q <= v`` (4-connected, as cv2's border following sees it); a hole is a background
    region that does not touch the border, and its contour runs through the foreground pixels around it, so its
    box is the hole's box grown by one pixel (``x + w`` convention, clipped). ``lab`` / ``parent`` are uint32.
    """
    w2 = w + 2
    n2 = (h + 2) * w2
    lab[:] = 0
    for k in range(w2):
        lab[k] = 1
        lab[n2 - 1 - k] = 1
    for y in range(1, h + 1):
        lab[y * w2] = 1
        lab[y * w2 + w + 1] = 1
    parent[0] = 0
    parent[1] = 1
    n_ids = np.int64(2)
    n_active = np.int64(0)  # not a literal: see foreground_sweep
    for v in range(top + 1):
        n_active, n_ids = _add_background(order, hist[v], hist[v + 1], w, lab, parent, reg, active, n_active, n_ids)
        if wanted[v]:
            for k in range(n_active):
                r = active[k]
                x0 = reg[r, X0] - 1
                y0 = reg[r, Y0] - 1
                x1 = min(reg[r, X1] + 2, w - 1)
                y1 = min(reg[r, Y1] + 2, h - 1)
                for g in range(n_gt):
                    out_v2[v] = max(out_v2[v], iou_inclusive(x0, y0, x1, y1, gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3]))


@numba.njit(cache=True, nogil=True)
def batch_pass(qs, levels, gts, n_gts, multi, boxes, undecided, iou_v1, iou_v2):
    """Boxes and IoUs at every threshold for a batch of maps (B, H, W) uint8 with cut levels (B, T).

    ``multi`` adds hole contours to the v2 IoU (MaxBoxAccV2); otherwise ``iou_v2`` is the v1 IoU. Scratch is
    allocated once per call and reused for every map.
    """
    b, h, w = qs.shape
    if levels.shape[1] == 0:  # no threshold: nothing to read out
        return
    n = h * w
    w2 = w + 2
    flat = qs.reshape(b, n)
    hist = np.empty(257, np.int64)
    order = np.empty(n, np.int64)
    box = np.empty(n + 2, np.uint64)
    lab = np.empty((h + 2) * w2, np.uint32)  # unsigned: see _add_foreground
    fg = np.empty((h + 2) * w2, np.uint8)
    parent = np.empty(n + 2, np.uint32)
    reg = np.empty((n + 2, 8), np.int32)
    active = np.empty(n + 2, np.int32)
    tab = neighbourhood_table(w2)
    used = np.zeros(256, np.bool_)
    wanted = np.zeros(256, np.bool_)
    lbox = np.zeros((256, 4), np.int64)
    lund = np.zeros(256, np.bool_)
    lv1 = np.zeros(256, np.float64)
    lv2 = np.zeros(256, np.float64)
    for i in range(b):
        q = flat[i]
        used[:] = False
        for j in range(levels.shape[1]):
            used[levels[i, j]] = True
        counting_sort(q, h, w, hist, order)
        top = foreground_sweep(
            q,
            h,
            w,
            hist,
            order,
            used,
            gts[i],
            n_gts[i],
            lab,
            fg,
            parent,
            reg,
            box,
            active,
            tab,
            lbox,
            lund,
            lv1,
            lv2,
            wanted,
        )
        if multi and top >= 0:
            for v in range(256):
                wanted[v] &= used[v]
            hole_sweep(q, h, w, hist, order, top, wanted, gts[i], n_gts[i], lab, parent, reg, active, lv2)
        for j in range(levels.shape[1]):
            v = levels[i, j]
            boxes[i, j, :] = lbox[v]
            undecided[i, j] = lund[v]
            iou_v1[i, j] = lv1[v]
            iou_v2[i, j] = lv2[v] if multi else lv1[v]
