"""Step 1, ink: whatever came in (sketchpad dict, RGBA, RGB, grey, path, PIL) becomes one
float map of ink in [0, 1], whatever the polarity or transparency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from src.reading.raster import components, enlarged, interior, window_max

MAX_PIXELS = 40_000_000  # a 4000x3000 photo is 12 MP; beyond 40 MP we refuse politely


class DrawingError(ValueError):
    """The input is not an image we can read (message is safe to show a person)."""


def _check_size(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise DrawingError(
            f"image too large: {width}x{height} pixels; the studio reads images up to "
            f"{MAX_PIXELS // 1_000_000} MP"
        )


def open_image(path: str | Path) -> np.ndarray:
    """An image file as an array, or a `DrawingError` saying plainly what is wrong with
    it: empty, not an image, too large (checked from the header, before decoding), or
    truncated. Animated images give their first frame."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DrawingError("the file is empty (0 bytes)")
        with Image.open(path) as opened:
            return _to_array(opened)  # checks the size before anything is decoded
    except DrawingError:
        raise
    except Image.DecompressionBombError:
        size = _header_size(path)
        shown = f"{size[0]}x{size[1]} pixels" if size else "over 170 megapixels"
        raise DrawingError(
            f"image too large: {shown}; the studio reads images up to {MAX_PIXELS // 1_000_000} MP"
        ) from None
    except Image.UnidentifiedImageError:
        raise DrawingError("this file is not an image (PNG, JPEG, GIF, WebP, ...)") from None
    except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for damaged files
        if isinstance(e, FileNotFoundError):
            raise DrawingError(f"no such file: {path.name}") from None
        raise DrawingError("the image file is truncated or damaged") from None


def _header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from an image's header alone: PIL refuses to open a
    decompression bomb at all, but its format plugins read the header without decoding."""
    Image.init()
    with open(path, "rb") as f:
        prefix = f.read(16)
        for format_id in Image.ID:
            factory, accept = Image.OPEN[format_id]
            if accept and not accept(prefix):
                continue
            try:
                f.seek(0)
                return factory(f, path.name).size
            except Exception:  # not this format: try the next one
                continue
    return None


def _to_array(image: Any) -> np.ndarray:
    """Any supported input as a numpy array (HxW, HxWx3 or HxWx4)."""
    if isinstance(image, dict):
        return _sketchpad_to_array(image)
    if isinstance(image, str | Path):
        return open_image(image)
    if isinstance(image, Image.Image):
        _check_size(image.height, image.width)  # before decoding a huge image into memory
        mode = image.mode
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
            return np.asarray(image.convert("RGBA"))
        if mode.startswith("I") or mode == "F":  # 16- or 32-bit grey: keep its range
            grey = np.asarray(image, dtype=np.float32)
            return grey / max(float(grey.max()), 1e-6)
        return np.asarray(image.convert("L"))
    if isinstance(image, np.ndarray):
        return image
    raise DrawingError(f"unsupported input type {type(image).__name__}; send an image")


def _sketchpad_to_array(value: dict) -> np.ndarray:
    """Gradio's ImageEditor/Sketchpad value: {"background", "layers", "composite"}."""
    composite = value.get("composite")
    if composite is not None:
        return _to_array(composite)
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    background = value.get("background")
    parts = ([background] if background is not None else []) + layers
    if not parts:
        return np.zeros((1, 1), np.uint8)
    arrays = [_as_rgba(_to_array(p)) for p in parts]
    h, w = arrays[0].shape[:2]
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for array in arrays:
        if array.shape[:2] == (h, w):
            canvas.alpha_composite(Image.fromarray(array))
    return np.asarray(canvas)


def _as_rgba(array: np.ndarray) -> np.ndarray:
    array = _as_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.shape[2] == 3:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return array


def _as_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    array = np.nan_to_num(array.astype(np.float64))
    if array.size and array.max() <= 1.0:
        array = array * 255
    return np.clip(array, 0, 255).astype(np.uint8)


def ink_map(image: Any) -> np.ndarray:
    """Ink intensity in [0, 1] (float32, HxW) for any supported input.

    Transparent canvases: ink is opacity, whatever the RGB under transparent pixels.
    Opaque images: ink is the distance from the background's brightness, so dark-on-light
    and light-on-dark both work; photos get a local background estimate (uneven light).
    """
    array = np.asarray(_to_array(image))
    if array.ndim >= 2:
        _check_size(array.shape[0], array.shape[1])
    array = _as_uint8(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise DrawingError(f"expected an image (HxW, HxWx3 or HxWx4), got shape {array.shape}")
    if min(array.shape[:2]) == 0:
        return np.zeros((1, 1), np.float32)
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3]
        if (alpha < 250).mean() > 0.01:  # a real transparent canvas, not an opaque PNG
            return alpha.astype(np.float32) / 255.0
        array = array[..., :3]
    luma = np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    grey = array.astype(np.float32) / 255.0 if array.ndim == 2 else array @ luma
    return _ink_from_grey(grey)


def _sample(values: np.ndarray, most: int = 1 << 16) -> np.ndarray:
    """Every k-th row and column, k the smallest that leaves at most about `most`
    pixels: what the image-wide statistics below are estimated from (a 300x900 photo's
    median and 99.9th percentile need not read every pixel)."""
    step = max(1, int(np.ceil(np.sqrt(values.size / most))))
    return values[::step, ::step]


def _ink_from_grey(grey: np.ndarray) -> np.ndarray:
    sample = _sample(grey)
    background = float(np.median(sample))
    dark_ink = background >= 0.5
    spread = float(np.percentile(np.abs(sample - background), 90))
    if spread > 0.08 and min(grey.shape) >= 64:
        # Uneven background (a photo of paper): estimate it locally on a small copy.
        small_size = (max(8, grey.shape[1] // 8), max(8, grey.shape[0] // 8))
        small = np.asarray(Image.fromarray(grey).resize(small_size, Image.BOX))
        size = max(3, min(small.shape) // 6)
        local = (ndimage.maximum_filter if dark_ink else ndimage.minimum_filter)(small, size)
        local = ndimage.uniform_filter(local, size)
        background = enlarged(local, grey.shape[1], grey.shape[0])
    contrast = background - grey if dark_ink else grey - background
    strongest = float(np.percentile(_sample(contrast), 99.9)) if contrast.size else 0.0
    # Faint marks on a blank page are not ink: demand a minimum contrast.
    scale = max(strongest, 0.25)
    return np.clip(contrast / scale, 0.0, 1.0).astype(np.float32)


def ink_box(ink: np.ndarray, level: float = 0.3) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends, of the pixels at or above `level`; None when
    there are none."""
    above = ink >= level
    rows, cols = np.flatnonzero(above.any(1)), np.flatnonzero(above.any(0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def lowest_stroke_level(threshold: float, faint: float) -> float:
    """The faintest ink `stroke_ink` can keep: `faint` where it is in use, else
    `threshold`."""
    return faint if 0.0 < faint < threshold else threshold


def stroke_ink(ink: np.ndarray, threshold: float, faint: float = 0.0) -> np.ndarray:
    """The ink that counts as stroke; everything else is 0.

    Ink at or above `threshold` is stroke. With `faint` > 0, so is a fainter stroke that
    continues it (a pencil's light top of a 3, the loop of a 9 drawn with less pressure):
    ink that is at least `threshold` times the darkest ink within a pen width around
    it, never under `faint`, and joined to stroke ink through ink of at least `faint`. It
    comes back at `threshold`, so every later step takes it as stroke. Measuring it
    against its own neighbourhood keeps a faint stroke as wide as it was drawn, where an
    absolute lower bar would fatten every dark stroke by its soft edge too; isolated
    faint marks (paper grain, a shadow) join nothing and stay out.
    """
    strong = ink >= threshold
    if lowest_stroke_level(threshold, faint) == threshold or not strong.any():
        return np.where(strong, ink, 0.0).astype(np.float32)
    loose = ink >= faint
    x0, y0, x1, y1 = ink_box(ink, faint)  # not None: strong ink is loose too
    box = np.s_[y0:y1, x0:x1]  # the work stays in here
    part, strong, loose = np.ascontiguousarray(ink[box]), strong[box], loose[box]
    reach = max(1, int(np.ceil(pen_width(strong))))
    labels, count = components(loose)
    joined = np.zeros(count + 1, bool)
    joined[labels[strong]] = True
    joined[0] = False
    kept = np.where(strong, part, np.float32(0.0))
    # Only the fainter pixels joined to strong ink are in question (a stroke's soft
    # edge, a light stroke), so the test runs on them alone, by flat index; strong ink
    # passes it by definition.
    fainter = np.flatnonzero(loose & ~strong)
    fainter = fainter[joined[labels.ravel()[fainter]]]
    peak = window_max(part, reach).ravel()[fainter]
    passed = part.ravel()[fainter] >= np.maximum(threshold * peak, faint)
    kept.ravel()[fainter[passed]] = threshold  # raised: later steps take it as stroke
    out = np.zeros_like(ink, dtype=np.float32)
    out[box] = kept
    return out


def box_pen_widths(
    ink: np.ndarray, boxes: list[tuple[int, int, int, int]], level: float
) -> np.ndarray:
    """The pen width (see `pen_width`) of the ink at or above `level` in each box
    (x0, y0, x1, y1) of `ink`; NaN for a box with no such ink."""
    masks = [ink[y0:y1, x0:x1] >= level for x0, y0, x1, y1 in boxes]
    return np.array([pen_width(m) if m.any() else np.nan for m in masks], np.float64)


def pen_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: its area over half its outline (a stroke of
    length L and width w has area L*w and an outline of about 2L)."""
    area = np.count_nonzero(mask)  # several times faster than .sum() on booleans
    # Ink pixels with all four neighbours inked are inside; the rest are the outline.
    return float(2.0 * area / max(1, area - np.count_nonzero(interior(mask))))
