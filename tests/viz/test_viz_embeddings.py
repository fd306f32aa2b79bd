"""Embedding analysis: chunked cosine top-k vs brute force, precision@k by hand, memmap features vs a forward."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wsol.viz import embeddings as emb
from wsol.viz.source import open_source


def brute_topk(q: np.ndarray, g: np.ndarray, k: int, exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """The obvious way: the full Q×G cosine matrix, self pairs set to -inf, argsort descending."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    sims = qn.astype(np.float64) @ gn.T.astype(np.float64)
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, 1), order


@pytest.mark.parametrize("chunk", [1, 3, 7, 16, 1000])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_chunked_topk_equals_full_matrix_argsort(chunk, exclude_self):
    rng = np.random.default_rng(chunk)
    g = rng.normal(size=(23, 5)).astype(np.float32)
    q = g.copy() if exclude_self else rng.normal(size=(11, 5)).astype(np.float32)
    sims, idx = emb.cosine_topk(q, g, k=4, chunk_size=chunk, exclude_self=exclude_self)
    ref_s, ref_i = brute_topk(q, g, 4, exclude_self)
    np.testing.assert_array_equal(idx.numpy(), ref_i)
    np.testing.assert_allclose(sims.numpy(), ref_s, atol=1e-5)
    if exclude_self:
        assert not (idx.numpy() == np.arange(len(q))[:, None]).any()


def test_topk_self_is_first_without_exclusion_and_k_is_checked():
    g = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    sims, idx = emb.cosine_topk(g, g, k=1, chunk_size=2)
    np.testing.assert_array_equal(idx[:, 0].numpy(), np.arange(6))
    np.testing.assert_allclose(sims.numpy(), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="k must be in"):
        emb.cosine_topk(g, g, k=6, exclude_self=True)
    with pytest.raises(ValueError, match="same set"):
        emb.cosine_topk(g[:3], g, k=1, exclude_self=True)


def test_precision_at_k_by_hand():
    # 4 points on the unit circle-ish: class 0 near +x, class 1 near +y; cosine neighbours are obvious.
    feats = np.array([[1.0, 0.05], [1.0, -0.05], [0.05, 1.0], [0.9, 0.5]], np.float32)
    labels = np.array([0, 0, 1, 1])
    _, idx = emb.cosine_topk(feats, feats, k=2, exclude_self=True)
    # neighbours: 0 -> (1, 3), 1 -> (0, 3), 2 -> (3, 0), 3 -> (0, 1)
    np.testing.assert_array_equal(idx.numpy(), [[1, 3], [0, 3], [3, 0], [0, 1]])
    # same-class shares: 1/2, 1/2, 1/2, 0/2 -> mean 3/8
    assert emb.precision_at_k(labels, labels[idx.numpy()]) == pytest.approx(3 / 8)
    assert emb.precision_at_k([0, 1], [[0, 0, 1], [1, 1, 1]]) == pytest.approx((2 / 3 + 1) / 2)


def test_memmap_features_equal_in_memory_forward(tmp_path, viz_checkpoint):
    src = open_source(viz_checkpoint, None, "val")
    out = emb.extract_embeddings(src.model, src.dataset, tmp_path / "f.npy", batch_size=4)
    assert isinstance(out.features, np.memmap) and out.features.dtype == np.float32
    images = torch.stack([src.dataset[i]["image"] for i in range(len(src.dataset))])
    with torch.no_grad():
        ref = src.model.backbone(images).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(out.features, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out.labels, [r.label for r in src.info.records])
    assert out.image_ids == [r.image_id for r in src.info.records]
    again = emb.load_embeddings(tmp_path / "f.npy")
    np.testing.assert_array_equal(again.features, out.features)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind
    assert not src.model.training and not src.model._forward_hooks
    assert all(not m._forward_hooks for m in src.model.modules())


def test_unknown_layer_names_the_known_ones(tmp_path, viz_checkpoint):
    src = open_source(viz_checkpoint, None, "val")
    with pytest.raises(KeyError, match="top-level layers"):
        emb.extract_embeddings(src.model, src.dataset, tmp_path / "f.npy", layer="nope")
    assert not (tmp_path / "f.npy").exists()


def test_pca_and_tsne_plots_on_fixture(tmp_path, viz_checkpoint):
    src = open_source(viz_checkpoint, None, "train")
    feats = emb.extract_embeddings(src.model, src.dataset, tmp_path / "f.npy").features
    pts, ratio = emb.pca_2d(np.asarray(feats))
    assert pts.shape == (12, 2) and 0 < ratio[1] <= ratio[0] <= 1
    tsne = emb.tsne_2d(np.asarray(feats), seed=0)
    assert tsne.shape == (12, 2) and np.isfinite(tsne).all()
    np.testing.assert_allclose(emb.tsne_2d(np.asarray(feats), seed=0), tsne)  # seeded
    data = emb.scatter_png(
        tsne, np.array([r.label for r in src.info.records]), ["a", "b", "c"], "t", "x", "y", tmp_path / "tsne.png"
    )
    assert (tmp_path / "tsne.png").read_bytes() == data and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert emb.png_to_array(data).shape[2] == 3


def test_subsample_and_round_robin_queries():
    idx = emb.subsample(100, 10, seed=1)
    assert len(idx) == 10 and len(set(idx)) == 10 and (np.diff(idx) > 0).all()
    np.testing.assert_array_equal(emb.subsample(5, 10), np.arange(5))
    assert emb.pick_queries([2, 0, 0, 1, 2, 0], 5) == [1, 3, 0, 2, 4]


def test_cli_writes_pictures_and_summary(tmp_path, viz_checkpoint, capsys):
    from wsol.cli.embeddings import main

    out = tmp_path / "emb"
    assert (
        main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--split",
                "test",
                "--k",
                "3",
                "--num-queries",
                "4",
                "--out",
                str(out),
                "--tensorboard",
                str(tmp_path / "tb"),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_queries"] == 9 and summary["num_gallery"] == 12 and summary["dim"] == 8
    # precision@3 recomputed from the written features by brute force
    q, g = emb.load_embeddings(out / "features_test.npy"), emb.load_embeddings(out / "features_train.npy")
    _, ref = brute_topk(np.asarray(q.features), np.asarray(g.features), 3, False)
    assert summary["precision@3"] == pytest.approx(float((g.labels[ref] == q.labels[:, None]).mean()))
    assert "precision@3 (test -> train" in capsys.readouterr().out
    for name in ("retrieval.png", "pca.png", "tsne.png"):
        assert (out / name).stat().st_size > 1000
    assert any((tmp_path / "tb").rglob("events.out.tfevents.*"))
