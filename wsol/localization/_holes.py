"""Hole pass of the component tree: hole contours' boxes at every level (MaxBoxAccV2 counts hole contours).

cv2.findContours with ``RETR_TREE`` returns a contour for every hole of a region (8-connected foreground, so
holes are 4-connected background regions away from the image border). Growing the background in increasing
value order with union–find gives every level's holes; a hole contour runs through the foreground pixels
around the hole, so its box is the hole's box grown by one pixel.
"""

from __future__ import annotations

import numba

from wsol.localization._common import best_iou, bucket_order, distinct_levels, uf_find


@numba.njit(cache=True, nogil=True, inline="always")
def _grow(bbox, r, x0, y0, x1, y1):
    bbox[r, 0] = min(bbox[r, 0], x0)
    bbox[r, 1] = min(bbox[r, 1], y0)
    bbox[r, 2] = max(bbox[r, 2], x1)
    bbox[r, 3] = max(bbox[r, 3], y1)


@numba.njit(cache=True, nogil=True, inline="always")
def _union(parent, size, bbox, apos, active, n_active, outside, root, r2):
    """Union by size; the outside (largest by construction) always stays a root and is never listed."""
    if size[root] < size[r2]:
        root, r2 = r2, root
    parent[r2] = root
    size[root] += size[r2]
    if root != outside:
        _grow(bbox, root, bbox[r2, 0], bbox[r2, 1], bbox[r2, 2], bbox[r2, 3])
    last = active[n_active - 1]  # swap-remove r2 from the listed regions
    active[apos[r2]] = last
    apos[last] = apos[r2]
    return root, n_active - 1


@numba.njit(cache=True, nogil=True)
def hole_pass(q, h, w, levels, need, gt, n_gt, iou_holes, ws, bg):
    """Best IoU of the hole contours' boxes with the GT boxes at every level (-1 where there is no hole), computed
    only at the levels flagged in ``need`` (where a hole could raise the regions' best IoU; see foreground_pass).

    Background at level T is ``q <= T`` (4-connected, as cv2's border following sees it); a hole is a background
    region that does not touch the image border; its contour runs through the foreground pixels around it.
    The padding frame is one background region (the outside, kept as root by a huge size); whatever joins it
    touches the border, every other background region is a hole.
    """
    w2 = w + 2
    n2 = (h + 2) * w2
    values, los, his = distinct_levels(levels)
    order, starts = bucket_order(q, values, False)
    parent, size, apos = ws[:, 0], ws[:, 1], ws[:, 5]
    bbox = ws[:, 6:10]
    active = ws[:, 10]
    bg[:] = 0
    outside = 0
    for k in range(w2):
        for p in (k, n2 - 1 - k):
            bg[p] = 1
            parent[p] = outside
    for y in range(1, h + 1):
        for p in (y * w2, y * w2 + w + 1):
            bg[p] = 1
            parent[p] = outside
    size[outside] = n2 + 1
    n_active = 0
    for kk in range(values.shape[0]):
        for pos in range(starts[kk], starts[kk + 1]):
            i = order[pos]
            y = i // w
            x = i - y * w
            p = (y + 1) * w2 + x + 1
            bg[p] = 1
            root = -1
            for nb in (p - w2, p - 1, p + 1, p + w2):
                if not bg[nb]:
                    continue
                r2 = uf_find(parent, nb)
                if root < 0:  # join the first neighbour's region
                    root = r2
                    parent[p] = root
                    size[root] += 1
                    if root != outside:
                        _grow(bbox, root, x, y, x, y)
                elif r2 != root:
                    root, n_active = _union(parent, size, bbox, apos, active, n_active, outside, root, r2)
            if root < 0:  # a new region
                parent[p] = p
                size[p] = 1
                bbox[p, 0] = x
                bbox[p, 1] = y
                bbox[p, 2] = x
                bbox[p, 3] = y
                apos[p] = n_active
                active[n_active] = p
                n_active += 1
        best = -1.0
        for k in range(n_active if need[los[kk]] else 0):
            r = active[k]
            v = best_iou(bbox[r, 0] - 1, bbox[r, 1] - 1, min(bbox[r, 2] + 2, w - 1), min(bbox[r, 3] + 2, h - 1),
                          gt, n_gt)
            if v > best:
                best = v
        for j in range(los[kk], his[kk] + 1):
            iou_holes[j] = best
