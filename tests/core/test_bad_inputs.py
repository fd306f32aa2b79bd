"""Every bad input of train / export / evaluate / explain / the dispatcher: exit 2, one line, no partial output.

Each row runs the real command in a subprocess (``python -m wsol ...``) and checks the three promises of the
project's error convention: exit code 2, exactly one non-empty stderr line that names the culprit (the file,
the metadata line or the flag) and no traceback, and nothing half-written left in the output folder: for
export / evaluate / explain the folder is absent or byte-for-byte as before the run; for train there is no
checkpoint and no temp file (the run stops before its first epoch ends).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.data.datatest_helpers import JPEG_DAMAGE_MODES, damage_jpeg, noisy_jpeg
from tests.export.conftest import write_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "synthetic" / "cam.yaml"
TINY_TRAIN = [
    "model.backbone_args={channels: [8, 8, 8]}",
    "data.input_size=32",
    "data.resize_size=32",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "data.num_workers=0",
    "train.threads=1",
    "train.overlays=0",
    "train.epochs=1",
    "train.device=cpu",
    "--no-progress",
]


def wsol(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WSOL_DEBUG"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "wsol", *map(str, args)], capture_output=True, env=env, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` (hidden ones too) with its bytes; None when the folder does not exist."""
    if not folder.exists():
        return None
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Inputs:
    """Module-wide inputs (never modified by a row: a row copies what it breaks into its own folder)."""

    checkpoint: Path
    data: Path
    images: Path
    trained: Path  # output_dir of a finished one-epoch training run


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    from wsol.data.synthetic import SyntheticConfig, generate

    base = tmp_path_factory.mktemp("bad_inputs")
    data = base / "data"
    generate(
        data, SyntheticConfig(num_classes=3, train_per_class=2, val_per_class=1, test_per_class=1, size_range=(48, 64))
    )
    images = base / "photos"
    shutil.copytree(data / "images" / "test", images)
    ckpt = write_checkpoint(base / "tiny.pt", {"threshold": 0.3, "metric": "MaxBoxAccV2", "split": "val"})
    trained = base / "trained"
    done = wsol("train", "--config", CONFIG, f"data.root={data}", f"output_dir={trained}", *TINY_TRAIN)
    assert done.returncode == 0, done.stderr.decode()
    return Inputs(ckpt, data, images, trained)


def copy_data(inputs: Inputs, tmp: Path) -> Path:
    root = tmp / "data"
    shutil.copytree(inputs.data, root)
    return root


def edit_metadata(root: Path, split: str, name: str, edit: Callable[[list[str]], list[str]]) -> Path:
    path = root / "metadata" / split / name
    path.write_text("".join(line + "\n" for line in edit(path.read_text().splitlines())))
    return path


def first_image(root: Path, split: str) -> Path:
    return root / (root / "metadata" / split / "image_ids.txt").read_text().splitlines()[0]


# ----------------------------------------------------------------------------------------------- the rows
# A row builds its bad input under ``tmp`` and returns (command line, text the error line must contain,
# output folder).


def export_args(inputs: Inputs, out: Path, *extra: object, checkpoint: object = None) -> list:
    return [
        "export",
        "--checkpoint",
        checkpoint or inputs.checkpoint,
        "--out",
        out,
        "--no-progress",
        "--workers",
        "0",
        *extra,
    ]


def foreign_checkpoint(inputs, tmp):
    path = tmp / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    return export_args(inputs, tmp / "out", "--images", inputs.images, checkpoint=path), "not a wsol checkpoint"


def truncated_checkpoint(inputs, tmp):
    path = tmp / "cut.pt"
    path.write_bytes(inputs.checkpoint.read_bytes()[:3000])
    return export_args(inputs, tmp / "out", "--images", inputs.images, checkpoint=path), f"{path}: cannot be read"


def missing_checkpoint_export(inputs, tmp):
    path = tmp / "nope.pt"
    return export_args(inputs, tmp / "out", "--images", inputs.images, checkpoint=path), f"{path}: checkpoint not found"


def missing_images_folder(inputs, tmp):
    return export_args(inputs, tmp / "out", "--images", tmp / "gone"), f"{tmp / 'gone'}: --images folder does not"


def images_folder_is_a_file(inputs, tmp):
    (tmp / "listing.txt").write_text("a.png\n")
    return export_args(inputs, tmp / "out", "--images", tmp / "listing.txt"), "listing.txt: --images folder is not"


def missing_data_root(inputs, tmp):
    return export_args(inputs, tmp / "out", "--data", tmp / "gone"), f"{tmp / 'gone'}: --data root does not exist"


def empty_images_folder(inputs, tmp):
    (tmp / "empty" / "sub").mkdir(parents=True)
    (tmp / "empty" / "notes.txt").write_text("no images here")
    return export_args(inputs, tmp / "out", "--images", tmp / "empty"), f"no images found under {tmp / 'empty'}"


def out_inside_images(inputs, tmp):
    images = tmp / "photos"
    shutil.copytree(inputs.images, images)
    return export_args(inputs, images / "pseudo", "--images", images), "lies inside --images"


def bad_flag(flag: str, value: str):
    def row(inputs, tmp):
        return export_args(inputs, tmp / "out", "--images", inputs.images, flag, value), f"{flag} must be >= 1"

    row.__name__ = f"export {flag} {value}"
    return row


def cuda_without_gpu(inputs, tmp):
    return export_args(
        inputs, tmp / "out", "--images", inputs.images, "--device", "cuda"
    ), "--device='cuda' but CUDA is not available"


def unknown_cam_method_export(inputs, tmp):
    return export_args(
        inputs, tmp / "out", "--images", inputs.images, "--cam-method", "gradkam"
    ), "--cam-method 'gradkam' is unknown; known: native, cam,"


def colliding_output_names(inputs, tmp):
    root = copy_data(inputs, tmp)
    first = (root / "metadata" / "test" / "image_ids.txt").read_text().splitlines()[0]
    alias = first.replace("/", "/./", 1)  # another spelling of the same image
    for name, tail in (("image_ids.txt", ""), ("class_labels.txt", ",0"), ("image_sizes.txt", None)):
        path = root / "metadata" / "test" / name
        lines = path.read_text().splitlines()
        extra = tail if tail is not None else lines[0][len(first) :]
        path.write_text("\n".join(lines + [alias + extra]) + "\n")
    for name in ("localization.txt", "localization_masks.txt", "parts.txt"):
        (root / "metadata" / "test" / name).unlink()
    culprit = f"image ids {alias!r} and {first!r} name the same output file"
    return export_args(inputs, tmp / "out", "--data", root, "--split", "test"), culprit


def non_utf8_file_name(inputs, tmp):
    folder = tmp / "photos"
    shutil.copytree(inputs.images, folder)
    good = next(folder.rglob("*.png"))
    os.rename(good, os.path.join(os.fsencode(folder), b"caf\xe9.png"))
    return export_args(inputs, tmp / "out", "--images", folder), "caf\\xe9.png: file name is not valid UTF-8"


def evaluate_args(inputs, root, out, *extra: object, checkpoint: object = None) -> list:
    return [
        "evaluate",
        "--checkpoint",
        checkpoint or inputs.checkpoint,
        "--data",
        root,
        "--split",
        "test",
        "--out",
        out,
        "--no-progress",
        "--device",
        "cpu",
        *extra,
    ]


def malformed_metadata_line(inputs, tmp):
    root = copy_data(inputs, tmp)
    path = edit_metadata(root, "test", "class_labels.txt", lambda lines: lines[:1] + ["broken line"] + lines[1:])
    return evaluate_args(inputs, root, tmp / "out"), f"{path}:2: expected 2 fields"


def truncated_metadata_line(inputs, tmp):
    root = copy_data(inputs, tmp)
    path = edit_metadata(root, "test", "image_sizes.txt", lambda lines: lines[:2] + [lines[2].rsplit(",", 1)[0]])
    return evaluate_args(inputs, root, tmp / "out"), f"{path}:3: expected 3 fields"


def empty_metadata_file(inputs, tmp):
    root = copy_data(inputs, tmp)
    for listing in (root / "metadata" / "test").glob("*.txt"):
        listing.write_text("")
    path = root / "metadata" / "test" / "image_ids.txt"
    return evaluate_args(inputs, root, tmp / "out"), f"{path}: split 'test' lists no images"


def duplicate_image_id(inputs, tmp):
    root = copy_data(inputs, tmp)
    path = edit_metadata(root, "test", "image_ids.txt", lambda lines: lines + lines[:1])
    return evaluate_args(inputs, root, tmp / "out"), f"{path}:4: image id"


def box_with_x1_below_x0(inputs, tmp):
    root = copy_data(inputs, tmp)

    def swap(lines):
        image_id, x0, y0, x1, y1 = lines[0].split(",")
        return [f"{image_id},{x1},{y0},{x0},{y1}"] + lines[1:]

    path = edit_metadata(root, "test", "localization.txt", swap)
    return evaluate_args(inputs, root, tmp / "out"), f"{path}:1: box"


def box_outside_image(inputs, tmp):
    root = copy_data(inputs, tmp)
    path = edit_metadata(
        root, "test", "localization.txt", lambda lines: [lines[0].rsplit(",", 1)[0] + ",5000"] + lines[1:]
    )
    return evaluate_args(inputs, root, tmp / "out"), f"{path}:1: box"


def mask_of_wrong_size(inputs, tmp):
    import cv2
    import numpy as np

    root = copy_data(inputs, tmp)
    mask = root / (root / "metadata" / "test" / "localization_masks.txt").read_text().split(",")[1]
    cv2.imwrite(str(mask), np.zeros((7, 90), np.uint8))
    # read in a DataLoader worker: the worker's traceback must not reach the user either
    return evaluate_args(inputs, root, tmp / "out", "--workers", "1"), f"{mask}: mask has size 90x7"


def missing_checkpoint_evaluate(inputs, tmp):
    path = tmp / "nope.pt"
    return evaluate_args(inputs, inputs.data, tmp / "out", checkpoint=path), f"{path}: checkpoint not found"


def unknown_cam_method_evaluate(inputs, tmp):
    return evaluate_args(
        inputs, inputs.data, tmp / "out", "--cam-method", "native", "gradkam"
    ), "--cam-method 'gradkam' is unknown; known: native, cam,"


def explain_args(inputs, out, *extra: object) -> list:
    return ["explain", "--image", next(inputs.images.rglob("*.png")), "--out", out, *extra]


def missing_checkpoint_explain(inputs, tmp):
    path = tmp / "nope.pt"
    return explain_args(inputs, tmp / "out", "--checkpoint", path), f"{path}: checkpoint not found"


def unknown_method_explain(inputs, tmp):
    return explain_args(
        inputs, tmp / "out", "--checkpoint", inputs.checkpoint, "--method", "gradkam"
    ), "--method 'gradkam' is unknown; known: cam,"


def train_args(inputs, root, out, *extra: object) -> list:
    return ["train", "--config", CONFIG, f"data.root={root}", f"output_dir={out}", *TINY_TRAIN, *extra]


def corrupt_image_in_worker(inputs, tmp):
    root = copy_data(inputs, tmp)
    image = first_image(root, "train")
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return train_args(inputs, root, tmp / "run", "data.num_workers=1"), f"{image}: unreadable or corrupt image"


def damaged_training_jpeg(mode: str):
    def row(inputs, tmp):
        root = copy_data(inputs, tmp)
        image = first_image(root, "train")
        image.write_bytes(damage_jpeg(noisy_jpeg(), mode))  # the reader goes by the bytes, not the name
        return train_args(inputs, root, tmp / "run"), f"{image}: damaged JPEG"

    row.__name__ = f"train on a JPEG damaged by {mode}"
    return row


def unknown_config_key(inputs, tmp):
    return train_args(inputs, inputs.data, tmp / "run", "train.epoch=3"), "train.epoch"


def train_batch_size_zero(inputs, tmp):
    return train_args(inputs, inputs.data, tmp / "run", "data.batch_size=0"), "data.batch_size=0: must be >= 1"


def train_cuda_without_gpu(inputs, tmp):
    return train_args(inputs, inputs.data, tmp / "run", "train.device=cuda"), "train.device='cuda' but CUDA"


def resume_with_changed_config(inputs, tmp):
    run = tmp / "run"
    shutil.copytree(inputs.trained, run)
    lr = torch.load(run / "last.pt", weights_only=True)["config"]["optim"]["lr"]
    # a moved run folder and more epochs are fine; another learning rate is not
    return train_args(
        inputs, inputs.data, run, "optim.lr=0.5", "train.epochs=2", "--resume"
    ), f"differs from the one {run / 'last.pt'} was trained with in optim.lr: {lr!r} -> 0.5; only"


def unknown_subcommand(inputs, tmp):
    return ["expotr", "--out", tmp / "out"], "unknown command 'expotr'"


ROWS = [
    foreign_checkpoint,
    truncated_checkpoint,
    missing_checkpoint_export,
    missing_images_folder,
    images_folder_is_a_file,
    missing_data_root,
    empty_images_folder,
    out_inside_images,
    bad_flag("--topk", "0"),
    bad_flag("--batch-size", "0"),
    bad_flag("--shard-size", "0"),
    cuda_without_gpu,
    unknown_cam_method_export,
    colliding_output_names,
    non_utf8_file_name,
    malformed_metadata_line,
    truncated_metadata_line,
    empty_metadata_file,
    duplicate_image_id,
    box_with_x1_below_x0,
    box_outside_image,
    mask_of_wrong_size,
    missing_checkpoint_evaluate,
    unknown_cam_method_evaluate,
    missing_checkpoint_explain,
    unknown_method_explain,
    corrupt_image_in_worker,
    *map(damaged_training_jpeg, JPEG_DAMAGE_MODES),
    unknown_config_key,
    train_batch_size_zero,
    train_cuda_without_gpu,
    resume_with_changed_config,
    unknown_subcommand,
]


def out_folder(argv: list) -> Path:
    for flag in ("--out",):
        if flag in argv:
            return Path(argv[argv.index(flag) + 1])
    return Path(next(a for a in map(str, argv) if a.startswith("output_dir="))[len("output_dir=") :])


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.__name__)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(row, inputs, tmp_path):
    if "cuda" in row.__name__ and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv, culprit = row(inputs, tmp_path)
    out = out_folder(argv)
    before = snapshot(out)
    done = wsol(*argv)
    err = done.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.strip()]
    assert done.returncode == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert culprit in lines[0], lines[0]
    after = snapshot(out)
    if argv[0] == "train":
        assert (
            before == after if before is not None else not any(p.suffix in (".pt", ".tmp") for p in out.rglob("*"))
        ), sorted(after or {})
    else:
        assert after == before, sorted(after or {})


def test_second_concurrent_export_stops_with_a_clear_line(inputs, tmp_path):
    from wsol.export.shards import export_lock

    out = tmp_path / "out"
    with export_lock(out, 0) as lock:  # a first export, still running
        before = snapshot(out)
        done = wsol(*export_args(inputs, out, "--images", inputs.images))
        assert snapshot(out) == before and lock.exists()
    err = done.stderr.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "another export (rank 0) is writing" in lines[0], err
    assert not lock.exists()  # the first one removes its lock when it ends


def test_resumed_export_with_other_settings_names_the_fields(inputs, tmp_path):
    out = tmp_path / "out"
    first = wsol(*export_args(inputs, out, "--images", inputs.images, "--shard-size", "1"))
    assert first.returncode == 0, first.stderr.decode()
    (out / "results.json").unlink()  # as if the first run had been killed before its merge
    before = snapshot(out)
    done = wsol(*export_args(inputs, out, "--images", inputs.images, "--shard-size", "1", "--threshold", "0.5"))
    err = done.stderr.decode()
    assert done.returncode == 2 and "postprocess.threshold: 0.3 -> 0.5" in err and "Traceback" not in err, err
    assert snapshot(out) == before


def test_worker_traceback_is_reduced_to_the_message():
    from torch.utils.data import DataLoader

    from wsol.data import DatasetError
    from wsol.errors import user_message

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise DatasetError(f"/data/img{i}.png: unreadable or corrupt image")

    with pytest.raises(DatasetError) as info:
        next(iter(DataLoader(Broken(), batch_size=2, num_workers=1)))
    assert "Original Traceback" in str(info.value)  # what torch hands back
    assert user_message(str(info.value)) == "/data/img0.png: unreadable or corrupt image"
    assert user_message("a: b") == "a: b"


def test_resume_changes_name_the_fields_that_matter():
    from wsol.config import load_config, resume_changes, to_plain

    saved = to_plain(load_config(CONFIG, ["optim.lr=0.01", "train.epochs=2"]))
    assert (
        resume_changes(
            saved,
            load_config(
                CONFIG,
                ["optim.lr=0.01", "train.epochs=5", "train.log_every=3", "data.num_workers=0", "output_dir=elsewhere"],
            ),
        )
        == []
    )
    assert resume_changes(saved, load_config(CONFIG, ["optim.lr=0.02", "model.method=acol"])) == [
        "model.method: 'cam' -> 'acol'",
        "optim.lr: 0.01 -> 0.02",
    ]


def test_input_names_follow_links_but_not_dotdot(tmp_path):
    from wsol.fileio import input_path, safe_join

    (tmp_path / "shared").mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "images").symlink_to(tmp_path / "shared")
    assert input_path(tmp_path / "root", "images/a.png") == tmp_path / "root" / "images" / "a.png"
    with pytest.raises(ValueError, match="resolves outside"):  # outputs stay guarded
        safe_join(tmp_path / "root", "images/a.png")
    for bad in ("../etc/passwd", "images/../../x", "/abs.png", ""):
        with pytest.raises(ValueError, match="unsafe input name"):
            input_path(tmp_path / "root", bad)


def test_checkpoint_with_nan_weights_is_refused(inputs, tmp_path):
    from wsol.engine.checkpoint import CheckpointError, load_model

    ckpt = torch.load(inputs.checkpoint, weights_only=True)
    name = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][name] = ckpt["model"][name].clone().fill_(float("nan"))
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"weight '{name}' holds NaN"):
        load_model(tmp_path / "nan.pt")
    load_model(inputs.checkpoint)


def test_skipped_bad_training_images_are_counted(inputs, tmp_path, capsys):
    from wsol.cli import run

    root = copy_data(inputs, tmp_path)
    first_image(root, "train").write_bytes(b"not an image")
    with pytest.warns(RuntimeWarning, match="skipping bad image"):
        code = run("train", [str(a) for a in train_args(inputs, root, tmp_path / "run", "data.skip_bad=true")[1:]])
    assert code == 0
    assert "skipped 1 unreadable training image load(s)" in capsys.readouterr().out


def test_damaged_jpegs_are_listed_and_skipped_by_export(inputs, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(inputs.images, photos)
    sound = len(list(photos.rglob("*.png")))
    for mode in JPEG_DAMAGE_MODES:
        (photos / f"{mode}.jpg").write_bytes(damage_jpeg(noisy_jpeg(), mode))
    done = wsol(*export_args(inputs, tmp_path / "out", "--images", photos))
    assert done.returncode == 0, done.stderr.decode()
    assert f"exported {sound} images ({len(JPEG_DAMAGE_MODES)} unreadable)" in done.stdout.decode()
    bad = [json.loads(line) for line in (tmp_path / "out" / "bad_images.jsonl").read_text().splitlines()]
    assert sorted(b["image_id"] for b in bad) == sorted(f"{m}.jpg" for m in JPEG_DAMAGE_MODES)
    assert all("damaged JPEG" in b["reason"] for b in bad), bad
