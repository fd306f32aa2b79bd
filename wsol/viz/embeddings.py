"""Embedding analysis: penultimate features, cosine nearest neighbours, retrieval grids, t-SNE and PCA plots.

The embedding of an image is the global-average-pooled output of one layer, by default ``backbone`` — exactly
the features a WSOL model's 1×1-conv class-map heads see (CAM's logit is a linear function of this vector):

    e(I) = (1/hw) Σ_{x,y} f(I)[:, x, y] ∈ R^C

Neighbours are ranked by cosine similarity ``⟨e_q, e_g⟩ / (‖e_q‖ ‖e_g‖)`` (the scale of GAP features depends on
the image's contrast, their direction on its content). Retrieval quality is summarised by precision@k, the
share of a query's k neighbours that carry the query's class, averaged over all queries.

t-SNE: L. van der Maaten and G. Hinton, "Visualizing Data using t-SNE", JMLR 9, 2008,
https://www.jmlr.org/papers/v9/vandermaaten08a.html — it keeps local neighbourhoods, so clusters are
meaningful but distances between clusters and cluster sizes are not; PCA is the linear view that keeps them.

Features are written to ``.npy`` files through ``np.lib.format.open_memmap`` in one streaming pass, and every
step after it reads them in chunks, so a split larger than memory works.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from wsol.cams.hooks import LayerCapture, model_mode
from wsol.drawing import make_grid
from wsol.fileio import atomic_open, atomic_write_bytes, atomic_write_text

SAME_COLOR = (0, 170, 0)
DIFF_COLOR = (220, 30, 30)
QUERY_COLOR = (40, 90, 220)


@dataclass
class Embeddings:
    """Features of one split: ``features`` (N, D) float32 (a read-only memmap), ``labels`` (N,), image ids."""

    features: np.ndarray
    labels: np.ndarray
    image_ids: list[str]
    path: Path


def feature_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The three files of a feature set ``X.npy``: ``X.npy``, ``X.labels.npy``, ``X.ids.txt``."""
    path = Path(path)
    stem = path.name[:-4] if path.name.endswith(".npy") else path.name
    return path.with_name(f"{stem}.npy"), path.with_name(f"{stem}.labels.npy"), path.with_name(f"{stem}.ids.txt")


def load_embeddings(path: str | os.PathLike) -> Embeddings:
    """Open a feature set written by :func:`extract_embeddings` (features memory-mapped, read-only)."""
    feat_path, label_path, ids_path = feature_paths(path)
    for p in (feat_path, label_path, ids_path):
        if not p.is_file():
            raise FileNotFoundError(f"feature file {p} is missing: run `wsol embeddings` to write it")
    features = np.load(feat_path, mmap_mode="r")
    labels = np.load(label_path)
    ids = ids_path.read_text(encoding="utf-8").splitlines()
    if features.ndim != 2 or len(labels) != len(features) or len(ids) != len(features):
        raise ValueError(
            f"{feat_path}: features {features.shape}, {len(labels)} labels and {len(ids)} ids "
            "do not match; expected (N, D), N labels and N ids — write them again"
        )
    return Embeddings(features, labels, ids, feat_path)


def pooled_features(model: nn.Module, images: Tensor, layer: str) -> Tensor:
    """(B, C) global-average-pooled output of ``layer`` for a batch (eval mode, no grad, hooks removed after)."""
    with model_mode(model, "eval"), torch.no_grad(), LayerCapture(model, [layer]) as cap:
        model(images)
        (act,) = cap.activations()
    return act.float().mean(dim=(2, 3))


def extract_embeddings(
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    out_path: str | os.PathLike,
    layer: str = "backbone",
    batch_size: int = 64,
    workers: int = 0,
    device: str | torch.device = "cpu",
    desc: str = "features",
) -> Embeddings:
    """One batched pass over ``dataset`` writing the pooled ``layer`` features into ``out_path`` (.npy).

    The array is allocated on disk once the feature width is known (first batch) and filled batch by batch;
    it is written under a temporary name and renamed when complete, so a crash never leaves a partial file.
    """
    from wsol.data.records import collate_samples

    feat_path, label_path, ids_path = feature_paths(out_path)
    feat_path.parent.mkdir(parents=True, exist_ok=True)
    n = len(dataset)
    if n == 0:
        raise ValueError("cannot extract embeddings of an empty split")
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_samples
    )
    tmp = feat_path.with_name(f".{feat_path.name}.tmp.npy")
    labels = np.empty(n, np.int64)
    ids: list[str] = []
    array = None
    try:
        for batch in tqdm(loader, desc=desc, unit="batch", leave=False):
            feats = pooled_features(model, batch["image"].to(device), layer).cpu().numpy()
            if array is None:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, feats.shape[1]))
            start = len(ids)
            array[start : start + len(feats)] = feats
            labels[start : start + len(feats)] = batch["label"].numpy()
            ids.extend(batch["image_id"])
        array.flush()
        del array
        os.replace(tmp, feat_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with atomic_open(label_path, "wb") as f:
        np.save(f, labels)
    atomic_write_text(ids_path, "".join(f"{i}\n" for i in ids))
    return load_embeddings(feat_path)


def _unit_rows(x: np.ndarray | Tensor) -> Tensor:
    # np.array copies: slices of a memmap are read-only and torch wants writable memory
    rows = x.float() if isinstance(x, Tensor) else torch.from_numpy(np.array(x, dtype=np.float32))
    return F.normalize(rows, dim=1, eps=1e-12)


def cosine_topk(
    query: np.ndarray | Tensor, gallery: np.ndarray | Tensor, k: int, chunk_size: int = 1024, exclude_self: bool = False
) -> tuple[Tensor, Tensor]:
    """Top-k gallery rows by cosine similarity for every query row: ``(similarities, indices)``, each (Q, k).

    Works on (query chunk × gallery chunk) blocks and merges a running top-k, so memory is
    O(chunk_size² + Q·k) whatever Q and G are (memmaps are read chunk by chunk). ``exclude_self`` drops the
    pair (i, i) — for a split queried against itself, where every image is its own best match.
    Results are sorted by decreasing similarity.
    """
    num_q, num_g = len(query), len(gallery)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if exclude_self and num_q != num_g:
        raise ValueError(f"exclude_self needs query and gallery to be the same set, got {num_q} and {num_g} rows")
    available = num_g - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k must be in [1, {available}] for a gallery of {num_g} images, got {k}")
    out_sims = torch.empty(num_q, k)
    out_idx = torch.empty(num_q, k, dtype=torch.long)
    for qs in range(0, num_q, chunk_size):
        q = _unit_rows(query[qs : qs + chunk_size])
        best_s = torch.full((len(q), 0), -float("inf"))
        best_i = torch.empty((len(q), 0), dtype=torch.long)
        for gs in range(0, num_g, chunk_size):
            g = _unit_rows(gallery[gs : gs + chunk_size])
            sims = q @ g.T
            if exclude_self:
                same = torch.arange(qs, qs + len(q))[:, None] == torch.arange(gs, gs + len(g))[None, :]
                sims.masked_fill_(same, -float("inf"))
            s, i = sims.topk(min(k, len(g)), dim=1)
            best_s, pos = torch.cat([best_s, s], 1).topk(min(k, best_s.shape[1] + s.shape[1]), dim=1)
            best_i = torch.cat([best_i, i + gs], 1).gather(1, pos)
        out_sims[qs : qs + len(q)], out_idx[qs : qs + len(q)] = best_s, best_i
    return out_sims, out_idx


def precision_at_k(query_labels: np.ndarray | Tensor, neighbor_labels: np.ndarray | Tensor) -> float:
    """Mean over queries of |{neighbours with the query's class}| / k; ``neighbor_labels`` is (Q, k)."""
    q = np.asarray(query_labels).reshape(-1, 1)
    nbr = np.asarray(neighbor_labels)
    if nbr.ndim != 2 or len(nbr) != len(q) or nbr.shape[1] == 0:
        raise ValueError(f"neighbor_labels must be (Q, k>0) with Q={len(q)}, got {nbr.shape}")
    return float((nbr == q).mean())


def pick_queries(labels: Sequence[int], count: int) -> list[int]:
    """``count`` query indices, round-robin over classes (dataset order within a class) so each class shows."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    queues = [list(reversed(v)) for _, v in sorted(by_class.items())]
    picked: list[int] = []
    while len(picked) < count and any(queues):
        for q in queues:
            if q and len(picked) < count:
                picked.append(q.pop())
    return picked


def _tile(image: np.ndarray, color: tuple[int, int, int], lines: Sequence[str], size: int) -> np.ndarray:
    """Image resized to ``size`` inside a 3-px frame of ``color``, with a white caption strip below."""
    img = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    img = cv2.copyMakeBorder(img, 3, 3, 3, 3, cv2.BORDER_CONSTANT, value=color)
    strip = np.full((14 * len(lines) + 4, img.shape[1], 3), 255, np.uint8)
    for j, line in enumerate(lines):
        cv2.putText(
            strip,
            line,
            (3, 13 + 14 * j),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            color if j == 0 else (30, 30, 30),
            1,
            cv2.LINE_AA,
        )
    return np.concatenate([img, strip], 0)


def _fit(name: str, size: int) -> str:
    """Shorten a caption to what fits ``size`` px at the caption font (about 6.5 px per character)."""
    limit = max(4, int(size / 6.5))
    return name if len(name) <= limit else name[: limit - 1] + "~"


def retrieval_grid(
    query_images: Sequence[np.ndarray],
    query_labels: Sequence[int],
    neighbor_images: Sequence[Sequence[np.ndarray]],
    neighbor_labels: np.ndarray,
    neighbor_sims: np.ndarray,
    class_names: Sequence[str],
    tile: int = 112,
) -> np.ndarray:
    """One row per query: the query (blue frame) then its neighbours, framed green (same class) or red.

    Each tile is captioned with its class name and, for neighbours, the cosine similarity.
    """
    tiles = []
    for qi, q_img in enumerate(query_images):
        ql = int(query_labels[qi])
        tiles.append(_tile(q_img, QUERY_COLOR, ["query", _fit(class_names[ql], tile)], tile))
        for j, n_img in enumerate(neighbor_images[qi]):
            nl = int(neighbor_labels[qi][j])
            color = SAME_COLOR if nl == ql else DIFF_COLOR
            tiles.append(
                _tile(
                    n_img,
                    color,
                    [f"#{j + 1}  sim {float(neighbor_sims[qi][j]):.3f}", _fit(class_names[nl], tile)],
                    tile,
                )
            )
    return make_grid(tiles, ncols=1 + len(neighbor_images[0]), pad=4)


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` items, drawn without replacement (seeded)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (PCA init, seeded); perplexity clipped to (n - 1) / 3 so small sets still work."""
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float32)
    if len(x) < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {len(x)}")
    perp = float(max(1.0, min(perplexity, (len(x) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x)


def pca_2d(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA projection and the explained-variance ratio of the two components."""
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    if min(x.shape) < 2:
        raise ValueError(f"PCA to 2-D needs at least 2 points of at least 2 dimensions, got {x.shape}")
    pca = PCA(n_components=2, random_state=seed)
    return pca.fit_transform(x), pca.explained_variance_ratio_


def scatter_png(
    points: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
    path: str | os.PathLike | None = None,
) -> bytes:
    """Scatter plot coloured by class with a legend (matplotlib Agg); PNG bytes, also written if ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.5, 6), dpi=110)
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(
            points[sel, 0],
            points[sel, 1],
            s=12,
            alpha=0.8,
            color=cmap(int(c) % cmap.N),
            label=class_names[int(c)] if 0 <= c < len(class_names) else str(c),
        )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, markerscale=1.5, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def png_to_array(data: bytes) -> np.ndarray:
    """PNG bytes → (H, W, 3) uint8 RGB (for TensorBoard)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
