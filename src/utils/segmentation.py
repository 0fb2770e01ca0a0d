"""From any drawing to a batch of MNIST-like 28x28 digits.

1. `ink_map`: whatever came in (sketchpad dict, RGBA, RGB, grey, path, PIL) becomes one
   float map of ink in [0, 1], whatever the polarity or transparency.
2. `find_digit_regions`: threshold, drop specks, connected components, group them into
   lines, merge pieces of one digit (a lifted 5 bar, a two-stroke 4) and order them.
3. `normalize_digit`: each region becomes what MNIST's digits are: stroke thickness brought
   into MNIST's range, fit in a 20x20 box keeping aspect ratio, anti-aliased, centred by
   centre of mass in 28x28.
Splitting touching digits needs the classifier's opinion, so it lives in `src.studio`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from src.config import bounded


@dataclass
class SegmentConfig:
    threshold: float = bounded(0.35, 0.01, 0.99)  # ink level that counts as stroke
    min_pixels: int = bounded(12, 1, 10_000)  # smaller marks are specks (working scale)
    speck_frac: float = bounded(0.12, 0.0, 1.0)  # marks smaller than this x line height too
    padding: int = bounded(4, 0, 12)  # margin in the 28x28 frame: digits fit in 28 - 2*p
    max_side: int = bounded(1200, 64, 8000)  # larger inputs are downscaled to this first
    max_components: int = bounded(64, 1, 10_000)  # more separate marks: refuse politely
    merge_overlap: float = bounded(0.55, 0.0, 1.0)  # x-overlap share that makes one digit
    split_aspect: float = bounded(1.15, 0.5, 10.0)  # width/height above which we try splits
    narrowest_digit: float = bounded(0.5, 0.1, 2.0)  # width/height, bounds how many per blob
    stroke_ratio: float = bounded(0.11, 0.02, 0.4)  # target stroke width / digit height
    redraw: bool = True  # thin and redraw strokes at stroke_ratio; off keeps the writer's pen
    work_size: int = bounded(64, 28, 512)  # crops are normalised at this size, then 20 px
    line_weight: float = bounded(1.0, 0.0, 100.0)  # the line reader's say in cuts (studio.py)


MAX_PIXELS = 40_000_000  # a 4000x3000 photo is 12 MP; beyond 40 MP we refuse politely


class DrawingError(ValueError):
    """The input is not an image we can read (message is safe to show a person)."""


def _check_size(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise DrawingError(
            f"the image is too large ({width}x{height} pixels); "
            f"the studio reads images up to {MAX_PIXELS // 1_000_000} megapixels"
        )


# ------------------------------------------------------------------------------ input


def _to_array(image: Any) -> np.ndarray:
    """Any supported input as a numpy array (HxW, HxWx3 or HxWx4)."""
    if isinstance(image, dict):
        return _sketchpad_to_array(image)
    if isinstance(image, str | Path):
        try:
            with Image.open(image) as opened:
                return _to_array(opened)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DrawingError(f"could not open {Path(image).name} as an image") from e
    if isinstance(image, Image.Image):
        _check_size(image.height, image.width)  # before decoding a huge image into memory
        mode = image.mode
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
            return np.asarray(image.convert("RGBA"))
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
    grey = array if array.ndim == 2 else array @ np.array([0.299, 0.587, 0.114])
    return _ink_from_grey(grey.astype(np.float32) / 255.0)


def _ink_from_grey(grey: np.ndarray) -> np.ndarray:
    background = float(np.median(grey))
    dark_ink = background >= 0.5
    spread = float(np.percentile(np.abs(grey - background), 90))
    if spread > 0.08 and min(grey.shape) >= 64:
        # Uneven background (a photo of paper): estimate it locally on a small copy.
        small_size = (max(8, grey.shape[1] // 8), max(8, grey.shape[0] // 8))
        small = np.asarray(Image.fromarray(grey).resize(small_size, Image.BOX))
        size = max(3, min(small.shape) // 6)
        local = (ndimage.maximum_filter if dark_ink else ndimage.minimum_filter)(small, size)
        local = ndimage.uniform_filter(local, size)
        background = np.asarray(Image.fromarray(local).resize(grey.shape[::-1], Image.BILINEAR))
    contrast = background - grey if dark_ink else grey - background
    strongest = float(np.percentile(contrast, 99.9)) if contrast.size else 0.0
    # Faint marks on a blank page are not ink: demand a minimum contrast.
    scale = max(strongest, 0.25)
    return np.clip(contrast / scale, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- regions


@dataclass
class Region:
    """One digit candidate: which components it holds and its box (x0, y0, x1, y1),
    exclusive ends, in working-scale pixels. `mask` is its ink inside the box."""

    box: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)
    line: int = 0

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass
class Segmentation:
    regions: list[Region]
    scale: float  # working pixels per input pixel (<= 1)
    ink: np.ndarray  # working-scale ink map
    message: str = ""  # why nothing was read, when that is the case


def to_working_scale(ink: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(ink.shape))
    if scale < 1.0:
        size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.BOX))
    return ink, scale


def find_digit_regions(ink: np.ndarray, config: SegmentConfig) -> Segmentation:
    """Connected components of the ink, specks dropped, pieces merged, lines ordered."""
    ink, scale = to_working_scale(ink, config.max_side)
    mask = ink >= config.threshold
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return Segmentation([], scale, ink)
    slices = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices])
    heights = boxes[:, 3] - boxes[:, 1]
    keep = areas >= config.min_pixels
    if keep.any():
        # A speck is small in both directions compared with the digits around it; a flat
        # stroke (a 5's bar, a 7's crossbar) is kept however thin.
        extent = np.maximum(heights, boxes[:, 2] - boxes[:, 0])
        keep &= extent >= config.speck_frac * typical_height(heights[keep])
    ids = np.flatnonzero(keep)
    if len(ids) > config.max_components:
        return Segmentation(
            [], scale, ink,
            f"found {len(ids)} separate marks (more than {config.max_components}); "
            "this does not look like a handwritten number",
        )  # fmt: skip
    groups = _merge_pieces(boxes[ids], heights[ids], config)
    regions = []
    for members, line in groups:
        x0, y0 = boxes[ids[members], 0].min(), boxes[ids[members], 1].min()
        x1, y1 = boxes[ids[members], 2].max(), boxes[ids[members], 3].max()
        inside = np.isin(labels[y0:y1, x0:x1], ids[members] + 1)
        regions.append(
            Region((int(x0), int(y0), int(x1), int(y1)), ink[y0:y1, x0:x1] * inside, line)
        )
    return Segmentation(regions, scale, ink)


def _merge_pieces(
    boxes: np.ndarray, heights: np.ndarray, config: SegmentConfig
) -> list[tuple[list[int], int]]:
    """Group component indices into digits; returns [(members, line number)] in reading
    order: lines top to bottom, digits left to right within a line."""
    n = len(boxes)
    if n == 0:
        return []
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def x_overlap(a: int, b: int) -> int:
        return min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0])

    tall_cut = _tall_cut(heights)
    lines = _group_lines(boxes, heights)
    for line in lines:
        tall = sorted((i for i in line if heights[i] >= tall_cut), key=lambda i: boxes[i, 0])
        # Two tall pieces are one digit when they share most of their width (a 4 drawn
        # in two strokes); neighbours that merely touch or slant into each other are not.
        for a_pos, a in enumerate(tall):
            for b in tall[a_pos + 1 :]:
                narrower = min(boxes[a, 2] - boxes[a, 0], boxes[b, 2] - boxes[b, 0])
                if x_overlap(a, b) >= config.merge_overlap * max(narrower, 1):
                    parent[find(a)] = find(b)
        # A short piece cannot be a digit on its own (a lifted bar, a flag, a dot): it
        # joins the tall piece it overlaps most, or the nearest one close beside it.
        for i in (i for i in line if heights[i] < tall_cut and tall):
            best = max(tall, key=lambda t: x_overlap(i, t))
            if x_overlap(i, best) > -0.3 * heights[best]:
                parent[find(i)] = find(best)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    line_of = {i: k for k, line in enumerate(lines) for i in line}
    result = [(members, line_of[members[0]]) for members in groups.values()]
    return sorted(result, key=lambda g: (g[1], boxes[g[0], 0].min()))


def typical_height(heights: np.ndarray) -> float:
    """The height of a digit among these marks: the median of the tall ones (at least
    half the tallest), so pieces and specks do not drag it down."""
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def _tall_cut(heights: np.ndarray) -> float:
    """Height below which a component is a piece of a digit rather than a digit."""
    return 0.5 * typical_height(heights)


def _group_lines(boxes: np.ndarray, heights: np.ndarray) -> list[list[int]]:
    """Cluster components into text lines, top to bottom.

    Lines are formed by the tall components (digits) whose vertical extents overlap;
    short pieces (a lifted bar, a dot) then join the line nearest to them vertically,
    so a 5's top bar floating above its body stays with it.
    """
    tall_cut = _tall_cut(heights)
    tall = [i for i in np.argsort((boxes[:, 1] + boxes[:, 3]) / 2) if heights[i] >= tall_cut]
    lines: list[list[int]] = []
    spans: list[list[float]] = []
    for i in tall:
        y0, y1 = boxes[i, 1], boxes[i, 3]
        for line, span in zip(lines, spans, strict=True):
            overlap = min(y1, span[1]) - max(y0, span[0])
            if overlap >= 0.4 * min(y1 - y0, span[1] - span[0]):
                line.append(int(i))
                span[0], span[1] = min(span[0], y0), max(span[1], y1)
                break
        else:
            lines.append([int(i)])
            spans.append([float(y0), float(y1)])
    for i in range(len(boxes)):
        if heights[i] < tall_cut:
            centre = (boxes[i, 1] + boxes[i, 3]) / 2
            gaps = [max(span[0] - centre, centre - span[1], 0.0) for span in spans]
            lines[int(np.argmin(gaps))].append(i)
    return [lines[k] for k in np.argsort([(s[0] + s[1]) / 2 for s in spans])]


def split_region(region: Region, k: int) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Cut a region into k pieces at the columns with least ink near the even cuts."""
    width = region.mask.shape[1]
    return cut_region(region, [j * width / k for j in range(1, k)], width / (3 * k))


def cut_region(
    region: Region, near: list[float], reach: float
) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Cut a region into len(near) + 1 pieces: each cut at the column with least ink
    within `reach` of its suggested column (region-local x, left to right). Returns
    (ink crop, working box) per piece, the crop trimmed to its ink rows."""
    mask = region.mask
    width = mask.shape[1]
    profile = (mask > 0).sum(axis=0).astype(np.float64)
    cuts = [0]
    for centre in near:
        lo = max(cuts[-1] + 1, int(centre - reach))
        hi = min(width - 1, int(centre + reach))
        cut = lo + int(np.argmin(profile[lo : hi + 1])) if hi > lo else int(centre)
        cuts.append(min(max(cut, cuts[-1] + 1), width - 1))
    cuts.append(width)
    x0, y0, _, _ = region.box
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        piece = mask[:, a:b]
        rows = np.flatnonzero(piece.any(axis=1))
        top, bottom = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, piece.shape[0])
        pieces.append((piece[top:bottom], (x0 + a, y0 + top, x0 + b, y0 + bottom)))
    return pieces


# ----------------------------------------------------------------------- normalisation


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang-Suen's deletion rules as two lookup tables over the 256 neighbourhoods.

    A neighbourhood code sets bit k for neighbour P(k+2), clockwise from north: N, NE,
    E, SE, S, SW, W, NW. A pixel may go when it has 2-6 ink neighbours, exactly one
    background-to-ink transition around it (it is on the boundary and removing it
    does not split the stroke), and it sits on the side that sub-iteration thins.
    """
    tables = np.zeros((2, 256), bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # p[0] = P2 (N) ... p[7] = P9 (NW)
        neighbours = sum(p)
        transitions = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        if not (2 <= neighbours <= 6 and transitions == 1):
            continue
        n, e, s, w = p[0], p[2], p[4], p[6]
        tables[0, code] = n * e * s == 0 and e * s * w == 0  # south-east boundary
        tables[1, code] = n * e * w == 0 and n * s * w == 0  # north-west boundary
    return tables


_THINNING_TABLES = _thinning_tables()
# (row, column) offsets of P2..P9, clockwise from north.
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def thin(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide, connected centre lines of the strokes (Zhang-Suen thinning).

    Unlike local maxima of the distance map, the result keeps every stroke in one piece
    whatever its width or direction, so redrawing it never leaves dotted lines.
    """
    skeleton = np.pad(mask.astype(bool), 1)
    h, w = skeleton.shape
    while True:
        changed = False
        for table in _THINNING_TABLES:
            code = np.zeros((h - 2, w - 2), np.uint8)
            for bit, (dy, dx) in enumerate(_NEIGHBOURS):
                code |= skeleton[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx].astype(np.uint8) << bit
            delete = skeleton[1:-1, 1:-1] & table[code]
            if delete.any():
                skeleton[1:-1, 1:-1] &= ~delete
                changed = True
        if not changed:
            return skeleton[1:-1, 1:-1]


def redraw_strokes(mask: np.ndarray, width: float) -> np.ndarray:
    """The same strokes drawn with a round pen of `width` pixels."""
    skeleton = thin(mask)
    if not skeleton.any():
        return mask
    return ndimage.distance_transform_edt(~skeleton) <= width / 2


def normalize_digit(crop: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """A digit's ink crop (any size) -> 28x28 float32 in [0, 1], the way MNIST was made."""
    if crop.size == 0 or not (crop > 0).any():
        return np.zeros((28, 28), np.float32)
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    crop = crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    # 1. Work at a fixed size so thickness rules are scale-free (a 300 px digit drawn with
    #    a 3 px pen and one drawn with a 40 px marker meet here).
    side = config.work_size
    factor = side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    work = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.BOX))
    # A thin line shrunk by area averaging stays as faint grey: keep it as stroke.
    mask = np.pad(work >= min(config.threshold, 0.25 * float(work.max())), 2)
    # 2. Redraw the strokes with one pen: thin them to connected centre lines and give
    #    those the target width. A 3 px mouse line and a 40 px marker become the same
    #    stroke.
    if config.redraw:
        mask = redraw_strokes(mask, config.stroke_ratio * side)
    ys, xs = np.nonzero(mask)
    mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    # 3. Fit in the (28 - 2 * padding) box keeping aspect ratio; area resampling
    #    anti-aliases like MNIST's grey edges.
    box = 28 - 2 * config.padding
    h, w = mask.shape
    factor = box / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(mask.astype(np.float32)).resize(size, Image.BOX))
    # 4. Centre by centre of mass in 28x28.
    out = np.zeros((28, 28), np.float32)
    cy, cx = ndimage.center_of_mass(small)
    top = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.clip(out, 0.0, 1.0)


def studio_view(image: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """An MNIST digit (28x28 uint8) as the studio sees it once drawn: enlarged smoothly
    to sketch scale, then `normalize_digit` (redrawn strokes, refitted box). Training on
    these views shows the classifier exactly what it is given at reading time."""
    sketch = Image.fromarray(image).resize((84, 84), Image.BILINEAR)
    digit = normalize_digit(np.asarray(sketch, np.float32) / 255.0, config)
    return (digit * 255.0).round().astype(np.uint8)
