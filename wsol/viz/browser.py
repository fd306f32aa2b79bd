"""Render a local HTML page in headless Chromium to a PNG (a check that a report really renders, and README shots).

Uses Debian's ``chromium`` package (``/usr/bin/chromium``): ``--headless --no-sandbox --screenshot=PNG
--window-size=W,H``. The PNG captures the window (``width`` x ``height``), not the whole scrolling page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from wsol.fileio import atomic_write_bytes

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium(explicit: str | None = None) -> str:
    """Path of a Chromium binary (``explicit``, ``$WSOL_CHROMIUM``, then the usual names) or a clear error."""
    for name in ([explicit] if explicit else []) + [os.environ.get("WSOL_CHROMIUM", "")] + list(CHROMIUM_CANDIDATES):
        if name and (Path(name).is_file() or shutil.which(name)):
            return str(Path(name)) if Path(name).is_file() else str(shutil.which(name))
    raise FileNotFoundError(
        "no Chromium found (looked for /usr/bin/chromium, chromium, chromium-browser, "
        "google-chrome); install Debian's `chromium` package or set WSOL_CHROMIUM"
    )


def screenshot(
    html: str | Path,
    png: str | Path,
    width: int = 1280,
    height: int = 1600,
    chromium: str | None = None,
    timeout: float = 120.0,
    palette: bool = False,
) -> Path:
    """Load ``html`` (a local file) in headless Chromium and save a ``width`` x ``height`` PNG atomically.

    ``palette`` stores it with 256 colours (about 3x smaller; for screenshots kept in a repository).
    """
    page = Path(html).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"HTML page {page} not found")
    binary = find_chromium(chromium)
    with tempfile.TemporaryDirectory(prefix="wsol-chromium-") as tmp:
        shot = Path(tmp) / "shot.png"
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--mute-audio",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp}/profile",
            f"--screenshot={shot}",
            f"--window-size={int(width)},{int(height)}",
            "--virtual-time-budget=5000",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"chromium did not finish rendering {page} within {timeout:.0f} s") from err
        if proc.returncode != 0 or not shot.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
            raise RuntimeError(f"chromium failed to screenshot {page} (exit {proc.returncode}): " + " | ".join(tail))
        data = shot.read_bytes()
    atomic_write_bytes(png, to_palette_png(data) if palette else data)
    return Path(png)


def to_palette_png(data: bytes, colors: int = 256) -> bytes:
    """Re-encode PNG bytes with an adaptive palette of ``colors`` colours (no dithering, deterministic)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        quantized = img.convert("RGB").quantize(
            colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buf = io.BytesIO()
    quantized.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def dump_dom(
    url: str, chromium: str | None = None, timeout: float = 120.0, width: int | None = None, height: int = 1200
) -> str:
    """The page's DOM after its scripts ran (``--dump-dom``), e.g. to check a report's filters in a real browser.
    ``url`` is a ``file://`` URL (a fragment such as ``#cat=missed`` is kept); ``width`` sets the window width
    (the layout a phone or a desktop gets)."""
    binary = find_chromium(chromium)
    with tempfile.TemporaryDirectory(prefix="wsol-chromium-") as tmp:
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp}/profile",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ]
        cmd += [f"--window-size={int(width)},{int(height)}"] if width else []
        cmd.append(url)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"chromium did not finish loading {url} within {timeout:.0f} s") from err
    if proc.returncode != 0 or "<html" not in proc.stdout:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        raise RuntimeError(f"chromium failed to load {url} (exit {proc.returncode}): " + " | ".join(tail))
    return proc.stdout
