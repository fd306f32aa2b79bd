"""Strict JPEG decoding: damaged files are refused with libjpeg's reason, sound ones decode as OpenCV does."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from datatest_helpers import JPEG_DAMAGE_MODES, damage_jpeg, noisy_jpeg

from wsol.data import DatasetError
from wsol.data.imageio import jpeg_damage, read_image


def photo(w: int = 131, h: int = 97) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(noisy_jpeg(w, h), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def encode(img: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, list(params))
    assert ok
    return buf.tobytes()


def opencv_rgb(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("mode", JPEG_DAMAGE_MODES)
def test_damaged_jpeg_is_refused_with_the_decoder_reason(mode, tmp_path):
    data = damage_jpeg(noisy_jpeg(), mode)
    if mode != "cut_off":  # what made this an issue: OpenCV only warns and hands back a half-grey picture
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
        assert jpeg_damage(data)[1]
    (tmp_path / "x.jpg").write_bytes(data)
    with pytest.raises(DatasetError, match=r"x\.jpg: damaged JPEG \(listed at m\.txt:3\): "):
        read_image(tmp_path / "x.jpg", "m.txt:3")


def test_sound_jpegs_decode_exactly_as_opencv(tmp_path):
    from PIL import Image

    img = photo()
    cmyk = io.BytesIO()
    Image.fromarray(img).convert("CMYK").save(cmyk, "JPEG")
    files = {
        "420": encode(img),
        "444": encode(img, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
        "progressive": encode(img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "restart": encode(img, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
        "grey": encode(img[..., 0]),
        "cmyk": cmyk.getvalue(),
        "trailing": encode(img) + b"\x00junk after the end-of-image marker",
    }
    for name, data in files.items():
        (tmp_path / f"{name}.jpg").write_bytes(data)
        got = read_image(tmp_path / f"{name}.jpg")
        assert got.shape == (97, 131, 3) and got.dtype == np.uint8, name
        np.testing.assert_array_equal(got, opencv_rgb(data), err_msg=name)


def test_exif_orientation_is_still_applied(tmp_path):
    from PIL import Image

    img = photo(40, 24)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", exif=exif, quality=95)
    (tmp_path / "rotated.jpg").write_bytes(buf.getvalue())
    got = read_image(tmp_path / "rotated.jpg")
    assert got.shape == (40, 24, 3)
    stored = jpeg_damage(buf.getvalue())[0]
    np.testing.assert_array_equal(got, np.rot90(stored, k=-1))
