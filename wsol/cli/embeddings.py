"""Embedding analysis of a checkpoint: nearest-neighbour retrieval grids, precision@k, t-SNE and PCA plots.

    wsol embeddings                                   # quickstart checkpoint, test queries, train gallery
    wsol embeddings --split val --k 8 --layer backbone --tensorboard runs/quickstart/train/tb

The embedding of an image is the global-average-pooled output of ``--layer`` (default ``backbone``: what the
class-map heads see). Writes into ``--out`` (default ``<checkpoint dir>/../embeddings_<split>``):
``features_<split>.npy`` (+ ``.labels.npy``, ``.ids.txt``) for the query and gallery splits, ``retrieval.png``
(one row per query: the query and its k most cosine-similar gallery images, green frame = same class,
red = different), ``tsne.png``, ``pca.png`` and ``summary.json`` with precision@k over all queries.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from wsol.cli._common import add_source_args, new_parser
from wsol.defaults import DEFAULT_DATA
from wsol.fileio import atomic_write_json

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import numpy as np

    from wsol.viz import embeddings as emb


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("wsol embeddings", __doc__.split("\n", 1)[0])
    add_source_args(p, split="test")
    p.add_argument("--gallery-split", default="train", help="split searched for neighbours (default: %(default)s)")
    p.add_argument(
        "--layer",
        default="backbone",
        help="layer whose pooled output is the embedding (any name from model.named_modules(); default: %(default)s)",
    )
    p.add_argument("--k", type=int, default=6, help="neighbours per query (default: %(default)s)")
    p.add_argument("--num-queries", type=int, default=10, help="rows of the retrieval grid (default: %(default)s)")
    p.add_argument("--max-points", type=int, default=2000, help="points in the t-SNE/PCA plots (default: %(default)s)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (clipped to the points)")
    p.add_argument("--tile", type=int, default=128, help="tile side in the retrieval grid, px")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes decoding images")
    p.add_argument("--chunk-size", type=int, default=1024, help="rows per block of the neighbour search")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-tsne", action="store_true", help="skip t-SNE (slow on many points)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <checkpoint dir>/../embeddings_<split>)"
    )
    p.add_argument("--tensorboard", type=Path, default=None, help="also log the pictures (and the projector) here")
    args = p.parse_args(argv)
    if args.k < 1 or args.num_queries < 1 or args.max_points < 4 or args.batch_size < 1 or args.tile < 32:
        p.error("--k, --num-queries, --batch-size must be >= 1, --max-points >= 4, --tile >= 32")
    return args


def _gallery(src, args: argparse.Namespace):
    """The gallery split's dataset with the query dataset's transform (the same root as the query split)."""
    from wsol.data import WSOLDataset, load_split

    if args.gallery_split == args.split:
        return src.dataset
    from wsol.config.paths import resolve_config_path

    root = (
        Path(args.data)
        if args.data is not None
        else resolve_config_path(
            src.config.data.get("root") or DEFAULT_DATA, src.checkpoint, src.config.get("output_dir")
        )
    )
    return WSOLDataset(load_split(root, args.gallery_split), src.dataset.transform)


def _class_names(info) -> list[str]:
    names = list(info.class_names or [])
    return names if len(names) >= info.num_classes else [str(c) for c in range(info.num_classes)]


def _tensorboard(args, grid, pngs: dict[str, bytes], query: emb.Embeddings, dataset, names, idx) -> None:
    import cv2
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from wsol.viz import embeddings as emb

    with SummaryWriter(str(args.tensorboard)) as writer:
        writer.add_image(f"embeddings_{args.split}/retrieval", grid, 0, dataformats="HWC")
        for name, data in pngs.items():
            writer.add_image(f"embeddings_{args.split}/{name}", emb.png_to_array(data), 0, dataformats="HWC")
        thumbs = np.stack(
            [cv2.resize(dataset.load_raw(int(i))[0], (32, 32), interpolation=cv2.INTER_AREA) for i in idx]
        )
        writer.add_embedding(
            torch.from_numpy(np.asarray(query.features[idx])),
            metadata=[names[int(query.labels[i])] for i in idx],
            label_img=torch.from_numpy(thumbs).permute(0, 3, 1, 2).float() / 255,
            tag=f"embeddings_{args.split}_{args.layer}",
        )


def _plots(
    args: argparse.Namespace, query: emb.Embeddings, names: list[str], out: Path
) -> tuple[dict[str, bytes], np.ndarray, list[float]]:
    """PCA (and t-SNE) scatter plots of at most ``--max-points`` query embeddings; (PNG bytes, indices, ratios)."""
    import numpy as np

    from wsol.viz import embeddings as emb

    idx = emb.subsample(len(query.labels), args.max_points, args.seed)
    points, labels = np.asarray(query.features[idx]), query.labels[idx]
    what = f"{args.layer} features ({args.split}, {len(idx)} images)"
    pca, ratio = emb.pca_2d(points, args.seed)
    pngs = {
        "pca": emb.scatter_png(
            pca,
            labels,
            names,
            f"PCA of {what}",
            f"PC1 ({100 * ratio[0]:.1f}% of variance)",
            f"PC2 ({100 * ratio[1]:.1f}% of variance)",
            out / "pca.png",
        )
    }
    if not args.no_tsne:
        tsne = emb.tsne_2d(points, args.seed, args.perplexity)
        pngs["tsne"] = emb.scatter_png(tsne, labels, names, f"t-SNE of {what}", "t-SNE 1", "t-SNE 2", out / "tsne.png")
    return pngs, idx, [float(r) for r in ratio]


def _retrieval_summary(
    query: emb.Embeddings, gallery: emb.Embeddings, nbr_labels: np.ndarray, names: list[str], same: bool
) -> dict:
    """precision@k over all queries, per query class, and its chance level: the expected share of same-class
    images among random gallery picks (the query itself left out when the gallery is the query split)."""
    import numpy as np

    hits = nbr_labels == query.labels[:, None]
    counts = np.bincount(gallery.labels, minlength=len(names)).astype(np.float64)
    share = (counts - same) / max(1, len(gallery.labels) - same)
    per_class = {names[c]: float(hits[query.labels == c].mean()) for c in np.unique(query.labels)}
    return {"precision": float(hits.mean()), "chance": float(share[query.labels].mean()), "per_class": per_class}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from wsol.cams.hooks import resolve_layers
    from wsol.drawing import save_png
    from wsol.viz import embeddings as emb
    from wsol.viz.source import open_source

    t0 = time.perf_counter()
    src = open_source(args.checkpoint, args.data, args.split, args.device)
    out = args.out if args.out is not None else src.checkpoint.resolve().parent.parent / f"embeddings_{args.split}"
    names = _class_names(src.info)
    try:
        resolve_layers(src.model, [args.layer])
    except KeyError as exc:
        raise SystemExit(f"wsol embeddings: --layer: {exc.args[0]}") from None
    run = dict(layer=args.layer, batch_size=args.batch_size, workers=args.workers, device=src.device)
    query = emb.extract_embeddings(
        src.model, src.dataset, out / f"features_{args.split}.npy", desc=f"features {args.split}", **run
    )
    gallery_set = _gallery(src, args)
    same = gallery_set is src.dataset
    gallery_path = out / f"features_{args.gallery_split}.npy"
    gallery = (
        query
        if same
        else emb.extract_embeddings(src.model, gallery_set, gallery_path, desc=f"features {args.gallery_split}", **run)
    )
    t_feat = time.perf_counter() - t0
    k = min(args.k, len(gallery.labels) - int(same))
    sims, nbrs = emb.cosine_topk(query.features, gallery.features, k, args.chunk_size, exclude_self=same)
    nbr_labels = gallery.labels[nbrs.numpy()]
    result = _retrieval_summary(query, gallery, nbr_labels, names, same)
    print(
        f"precision@{k} ({args.split} -> {args.gallery_split}, layer {args.layer}, {len(query.labels)} queries, "
        f"{gallery.features.shape[1]}-d): {result['precision']:.4f}  (chance {result['chance']:.4f})"
    )

    rows = emb.pick_queries(query.labels, args.num_queries)
    grid = emb.retrieval_grid(
        [src.dataset.load_raw(i)[0] for i in rows],
        query.labels[rows],
        [[gallery_set.load_raw(int(j))[0] for j in nbrs[i]] for i in rows],
        nbr_labels[rows],
        sims.numpy()[rows],
        names,
        tile=args.tile,
    )
    save_png(out / "retrieval.png", grid)
    t_plot = time.perf_counter()
    pngs, idx, ratio = _plots(args, query, names, out)
    t_plot = time.perf_counter() - t_plot
    if args.tensorboard is not None:
        _tensorboard(args, grid, pngs, query, src.dataset, names, idx)
    summary = {
        "checkpoint": str(src.checkpoint),
        "split": args.split,
        "gallery_split": args.gallery_split,
        "layer": args.layer,
        "dim": int(gallery.features.shape[1]),
        "num_queries": int(len(query.labels)),
        "num_gallery": int(len(gallery.labels)),
        "k": k,
        f"precision@{k}": result["precision"],
        "chance": result["chance"],
        f"precision@{k}_per_class": result["per_class"],
        "exclude_self": same,
        "plot_points": int(len(idx)),
        "pca_explained_variance": ratio,
        "seconds": {
            "features": round(t_feat, 2),
            "plots": round(t_plot, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
    }
    atomic_write_json(out / "summary.json", summary)
    print(
        f"wrote {out}/{{retrieval,{','.join(pngs)}}}.png, summary.json, features_*.npy in "
        f"{summary['seconds']['total']:.1f} s (features {t_feat:.1f} s, plots {t_plot:.1f} s)"
    )
    return 0
