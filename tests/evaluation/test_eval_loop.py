import pytest

from tests.evaluation.conftest import ImageReadingModel, make_loader
from wsol.evaluation import evaluate_model, localization_record
from wsol.models.base import Localization


def test_evaluate_model_figures(model):
    model.train()
    out = evaluate_model(
        model, make_loader(), cam_curve_interval=0.01, fixed_threshold=0.5, with_curves=True, progress=False
    )
    assert model.training  # mode restored
    assert out["num_images"] == 3
    assert out["top1_cls"] == pytest.approx(200 / 3)  # images 1 and 3 are top-1 correct
    assert out["top5_cls"] == 100.0
    # two squares sit on their GT boxes, the third is far from its box
    assert out["oracle/maxboxacc"] == pytest.approx(200 / 3)
    assert out["oracle/gt_known_loc"] == pytest.approx(200 / 3)
    assert out["oracle/top1_loc"] == pytest.approx(100 / 3)  # only image 1 is both top-1 and localised
    assert out["oracle/top5_loc"] == pytest.approx(200 / 3)
    assert out["fixed/threshold"] == pytest.approx(0.5) and "fixed/boxacc_v2" in out
    assert out["chosen_threshold_metric"] == "maxboxacc"
    assert localization_record(out) == {"threshold": out["chosen_threshold"], "metric": "maxboxacc", "split": "val"}
    assert len(out["curves"]["boxacc_v1_iou50"]) == 100


def test_evaluate_model_with_masks(model):
    out = evaluate_model(model, make_loader(with_mask=True), cam_curve_interval=0.01, progress=False)
    assert 0 < out["pxap"] <= 100 and 0 < out["oracle/piou"] <= 100
    assert "oracle/maxboxacc" in out


class _NaNModel(ImageReadingModel):
    def localize(self, images, classes=None, topk=1):
        out = self(images)
        maps = out.maps[:, :1].clone()
        maps[-1, 0, 3, 3] = float("nan")  # the last image of every batch
        return Localization(out.logits, classes, maps)


def test_evaluate_model_rejects_nan_maps():
    with pytest.raises(ValueError, match="hit_top2.jpg.*NaN"):
        evaluate_model(_NaNModel(), make_loader(), progress=False)


def test_evaluate_model_empty_loader(model):
    with pytest.raises(RuntimeError, match="no batch"):
        evaluate_model(model, [], progress=False)


def test_overlapped_post_processing_gives_identical_figures(model):
    """The GPU pipelining (post-processing of batch i in a worker while the model runs batch i + 1) changes
    nothing: same figures and curves (two batches, processed in order); errors still surface."""
    plain = evaluate_model(
        model, make_loader(with_mask=True), fixed_threshold=0.4, with_curves=True, progress=False, overlap=False
    )
    piped = evaluate_model(
        model, make_loader(with_mask=True), fixed_threshold=0.4, with_curves=True, progress=False, overlap=True
    )
    for key in ("images_per_s",):
        plain.pop(key), piped.pop(key)
    assert piped == plain
    with pytest.raises(ValueError, match="NaN"):
        evaluate_model(_NaNModel(), make_loader(), progress=False, overlap=True)
