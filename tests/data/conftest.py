"""Fixture writers for the data tests: tiny datasets in every supported on-disk format."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from datatest_helpers import TINY_SYNTHETIC, polygon, rgb, write_png

from wsol.data.synthetic import generate


@pytest.fixture
def wsoleval_boxes(tmp_path: Path) -> Path:
    """CUB/ILSVRC-style: 3 images, image 'a' with two boxes, class names given."""
    root = tmp_path / "wsoleval"
    sizes = {"imgs/a.png": (40, 30), "imgs/b.png": (50, 20), "imgs/c.png": (30, 30)}
    for name, (w, h) in sizes.items():
        write_png(root / name, rgb(w, h))
    meta = root / "metadata" / "test"
    meta.mkdir(parents=True)
    (meta / "image_ids.txt").write_text("imgs/a.png\nimgs/b.png\nimgs/c.png\n")
    (meta / "class_labels.txt").write_text("imgs/a.png,0\nimgs/b.png,2\nimgs/c.png,1\n")
    (meta / "image_sizes.txt").write_text("".join(f"{k},{w},{h}\n" for k, (w, h) in sizes.items()))
    (meta / "localization.txt").write_text(
        "imgs/a.png,1,2,10,12\nimgs/a.png,20,5,39,29\nimgs/b.png,0,0,49,19\nimgs/c.png,5,5,6,7\n"
    )
    (root / "metadata" / "class_names.txt").write_text("cat\ndog\nbird\n")
    return root


@pytest.fixture
def wsoleval_masks(tmp_path: Path) -> Path:
    """OpenImages-style: localization.txt lists instance masks + ignore masks (no class names file)."""
    root = tmp_path / "openimages"
    write_png(root / "test" / "x.png", rgb(8, 6))
    write_png(root / "test" / "y.png", rgb(8, 6))
    m1, m2, ign = (np.zeros((6, 8), np.uint8) for _ in range(3))
    m1[1:3, 1:3] = 255
    m2[4:6, 5:8] = 255
    ign[0:4, 0:4] = 255  # overlaps m1: foreground must win
    for name, arr in (("x_m1.png", m1), ("x_m2.png", m2), ("x_ign.png", ign), ("y_m1.png", m2)):
        write_png(root / "masks" / name, arr)
    meta = root / "metadata" / "test"
    meta.mkdir(parents=True)
    (meta / "image_ids.txt").write_text("test/x.png\ntest/y.png\n")
    (meta / "class_labels.txt").write_text("test/x.png,1\ntest/y.png,0\n")
    (meta / "image_sizes.txt").write_text("test/x.png,8,6\ntest/y.png,8,6\n")
    (meta / "localization.txt").write_text(
        "test/x.png,masks/x_m1.png,masks/x_ign.png\ntest/x.png,masks/x_m2.png,\ntest/y.png,masks/y_m1.png,\n"
    )
    return root


@pytest.fixture
def cub_native(tmp_path: Path) -> Path:
    """Native CUB-200-2011 layout: 2 classes, 8 images (3+1 train, 2+2 test... see lines)."""
    root = tmp_path / "CUB_200_2011"
    files = [f"00{c}.cls{c}/img_{i}.jpg" for c, i in [(1, 1), (1, 2), (1, 3), (1, 4), (2, 5), (2, 6), (2, 7), (2, 8)]]
    for k, rel in enumerate(files):
        w, h = 60 + k, 40
        p = root / "images" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(p), rgb(w, h))
    (root / "images.txt").write_text("".join(f"{k + 1} {rel}\n" for k, rel in enumerate(files)))
    (root / "image_class_labels.txt").write_text("".join(f"{k + 1} {1 if k < 4 else 2}\n" for k in range(8)))
    (root / "bounding_boxes.txt").write_text("".join(f"{k + 1} {k}.5 2.0 10.0 20.25\n" for k in range(8)))
    split = [1, 1, 1, 0, 1, 1, 0, 0]
    (root / "train_test_split.txt").write_text("".join(f"{k + 1} {s}\n" for k, s in enumerate(split)))
    (root / "classes.txt").write_text("1 001.Albatross\n2 002.Auklet\n")
    return root


@pytest.fixture
def coco_json(tmp_path: Path) -> Path:
    """COCO layout root/annotations/instances_val.json + root/val/*.png."""
    root = tmp_path / "coco"
    for name in ("p.png", "q.png", "r.png"):
        write_png(root / "val" / name, rgb(20, 10))
    data = {
        "images": [
            {"id": 1, "file_name": "p.png", "width": 20, "height": 10},
            {"id": 2, "file_name": "q.png", "width": 20, "height": 10},
            {"id": 3, "file_name": "r.png", "width": 20, "height": 10},
        ],
        "categories": [{"id": 7, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            # image 1: two small cars (total 2*12 = 24) beat one person of area 20
            {
                "id": 10,
                "image_id": 1,
                "category_id": 3,
                "bbox": [0, 0, 4, 3],
                "area": 12,
                "iscrowd": 0,
                "segmentation": polygon(0, 0, 4, 3),
            },
            {
                "id": 11,
                "image_id": 1,
                "category_id": 3,
                "bbox": [10, 5, 4, 3],
                "area": 12,
                "iscrowd": 0,
                "segmentation": polygon(10, 5, 14, 8),
            },
            {
                "id": 12,
                "image_id": 1,
                "category_id": 7,
                "bbox": [5, 0, 4, 5],
                "area": 20,
                "iscrowd": 0,
                "segmentation": polygon(5, 0, 9, 5),
            },
            {
                "id": 13,
                "image_id": 1,
                "category_id": 3,
                "bbox": [15, 0, 5, 5],
                "area": 25,
                "iscrowd": 1,
                "segmentation": polygon(15, 0, 20, 5),
            },
            # image 2: a single person
            {
                "id": 20,
                "image_id": 2,
                "category_id": 7,
                "bbox": [2, 2, 6.5, 5],
                "area": 30,
                "iscrowd": 0,
                "segmentation": polygon(2, 2, 8.5, 7),
            },
            # image 3: no annotation -> left out
        ],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val.json").write_text(json.dumps(data, indent=1))
    return root


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("syn") / "synthetic", TINY_SYNTHETIC)
