"""Step 5, normalisation: each piece becomes what MNIST's digits are: stroke thickness
brought into MNIST's range (a pen already in it is kept), fit in a 20x20 box keeping
aspect ratio, anti-aliased, centred by centre of mass in 28x28."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from src.reading.config import SegmentConfig
from src.reading.ink import pen_width, stroke_ink
from src.reading.raster import distance_to


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
    # Only ink pixels can go, so the rules are looked up at those alone (flat indices;
    # the padding keeps every neighbour in range): a fraction of the image's pixels.
    flat = skeleton.ravel()
    ink = np.flatnonzero(flat)
    offsets = [dy * w + dx for dy, dx in _NEIGHBOURS]
    while True:
        changed = False
        for table in _THINNING_TABLES:
            code = np.zeros(len(ink), np.uint8)
            for bit, offset in enumerate(offsets):
                code |= flat[ink + offset].view(np.uint8) << bit
            delete = table[code]  # decided on the same state for all, as the rules need
            if delete.any():
                flat[ink[delete]] = False
                ink = ink[~delete]
                changed = True
        if not changed:
            return skeleton[1:-1, 1:-1]


def thin_each(masks: np.ndarray) -> np.ndarray:
    """`thin` of each mask (N, h, w), in one pass: the masks side by side, a blank
    column between neighbours so none touches another (thinning is local)."""
    n, h, w = masks.shape
    if n == 0:
        return masks.astype(bool)
    tiled = np.zeros((h, n, w + 1), bool)
    tiled[:, :, :w] = masks.transpose(1, 0, 2)
    skeleton = thin(tiled.reshape(h, n * (w + 1)))
    return skeleton.reshape(h, n, w + 1)[:, :, :w].transpose(1, 0, 2)


def redraw_strokes(mask: np.ndarray, width: float) -> np.ndarray:
    """The same strokes drawn with a round pen of `width` pixels."""
    return _redrawn(mask, thin(mask), width)


def _redrawn(mask: np.ndarray, skeleton: np.ndarray, width: float) -> np.ndarray:
    if not skeleton.any():
        return mask
    return distance_to(skeleton) <= width / 2


def upright(crop: np.ndarray, slope: float) -> np.ndarray:
    """A digit's crop turned by its line's tilt (`Region.tilt`), so a number written
    uphill is read as if written level; unchanged when the line is level."""
    if slope == 0.0 or crop.size == 0:
        return crop
    turned = Image.fromarray(np.asarray(crop, np.float32)).rotate(
        float(np.degrees(np.arctan(slope))), resample=Image.BILINEAR, expand=True
    )
    return np.asarray(turned, np.float32)


def normalize_digit(crop: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """A digit's ink crop (any size) -> 28x28 float32 in [0, 1], the way MNIST was made."""
    return normalize_digits([crop], config)[0]


def normalize_digits(crops: list[np.ndarray], config: SegmentConfig) -> np.ndarray:
    """Digits' ink crops (any sizes) -> (N, 28, 28) float32 in [0, 1], the way MNIST was
    made; the strokes of all of them are thinned in one pass."""
    masks = [_work_mask(crop, config) for crop in crops]
    if config.redraw:
        # 2. Bring a pen MNIST never has into its range. A pen too thin for it is thinned
        #    to connected centre lines and given the target width, so a 3 px mouse line
        #    becomes a pen stroke; one too fat is worn down to the range's top, keeping
        #    the loops it left open; one in range stays as drawn.
        drawn = []
        for i, mask in enumerate(masks):
            if mask is None:
                continue
            width, widest = pen_width(mask), config.keep_pen_max * config.work_size
            if width > widest and config.erode_fat_pens:
                masks[i] = _worn_down(mask, width, widest)
            elif width > widest or width < config.keep_pen_min * config.work_size:
                drawn.append(i)
        side = max((max(masks[i].shape) for i in drawn), default=0)
        stacked = np.zeros((len(drawn), side, side), bool)
        for k, i in enumerate(drawn):
            stacked[k, : masks[i].shape[0], : masks[i].shape[1]] = masks[i]
        target = config.stroke_ratio * config.work_size
        for i, skeleton in zip(drawn, thin_each(stacked), strict=True):
            h, w = masks[i].shape
            masks[i] = _redrawn(masks[i], skeleton[:h, :w], target)
    out = np.zeros((len(crops), 28, 28), np.float32)
    for i, mask in enumerate(masks):
        if mask is not None:
            out[i] = _fit(mask, config)
    return out


def _worn_down(mask: np.ndarray, width: float, target: float) -> np.ndarray:
    """A stroke mask `width` px wide (on average) eroded to about `target` px: what lies
    deeper than half the difference inside the ink. A mask all thinner than that (no
    ink so deep) is kept as it is."""
    deep = distance_to(~mask) > (width - target) / 2
    return deep if deep.any() else mask


def pen_share(crop: np.ndarray, config: SegmentConfig) -> float:
    """A digit crop's stroke width as a share of its longer side, as normalisation
    measures it (MNIST's digits: about 0.10-0.27); 0 for a crop without ink."""
    mask = _work_mask(crop, config)
    return 0.0 if mask is None else pen_width(mask) / config.work_size


def _work_mask(crop: np.ndarray, config: SegmentConfig) -> np.ndarray | None:
    """1. The crop's ink at a fixed size, so thickness rules are scale-free (a 300 px
    digit drawn with a 3 px pen and one drawn with a 40 px marker meet here); None if
    it holds no ink."""
    if crop.size == 0 or not (crop > 0).any():
        return None
    # A region's crop is stroke ink already (0 or at least the threshold). In an ink map
    # given whole (training views, `studio_view`) the faint strokes that count are
    # raised to the threshold here; the rest is left as it is.
    if config.faint > 0 and ((crop > 0) & (crop < config.threshold)).any():
        crop = np.maximum(crop, stroke_ink(crop, config.threshold, config.faint))
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    crop = crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    factor = config.work_size / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    work = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.BOX))
    # A thin line shrunk by area averaging stays as faint grey: keep it as stroke.
    stroke = work >= min(config.threshold, 0.25 * float(work.max()))
    padded = np.zeros((stroke.shape[0] + 4, stroke.shape[1] + 4), bool)  # np.pad(stroke, 2),
    padded[2:-2, 2:-2] = stroke  # without its 20 us of overhead per digit
    return padded


def _fit(mask: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """3-4. A stroke mask fitted into MNIST's 28x28 frame."""
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
    top = min(max(round(14 - cy), 0), 28 - small.shape[0])  # not np.clip: per digit,
    left = min(max(round(14 - cx), 0), 28 - small.shape[1])  # its overhead adds up
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.clip(out, 0.0, 1.0)


def studio_view(image: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """An MNIST digit (28x28 uint8) as the studio sees it once drawn: enlarged smoothly
    to sketch scale, then `normalize_digit` (binarised, refitted box). Training on
    these views shows the classifier exactly what it is given at reading time."""
    digit = normalize_digit(as_sketch(image), config)
    return (digit * 255.0).round().astype(np.uint8)


def as_sketch(image: np.ndarray) -> np.ndarray:
    """An MNIST digit (28x28 uint8) enlarged smoothly to sketch scale: 84x84 ink in [0, 1]."""
    sketch = Image.fromarray(image).resize((84, 84), Image.BILINEAR)
    return np.asarray(sketch, np.float32) / 255.0
