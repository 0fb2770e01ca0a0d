"""Training digits made from real pen strokes and from edits people's writing has.

MNIST alone taught the classifier one population of writers. This module makes the rest
of its training set, every item passed through the studio's own `normalize_digit` so it
learns exactly what it will be shown:

- **pen**: the pendigits *train* writers drawn as sketchpad drawings (brush 1.5-14% of
  the height, any size, slanted);
- **styles** MNIST barely has, made by label-preserving edits on MNIST and pen digits
  (slashed and dotted zero, crossed seven, one with a flag, with or without a base) and
  by stroke templates (open- and closed-top four, nine with a straight stem);
- **scan looks**: any of the above seen through a scanner or a phone: low resolution,
  blur, binarisation;
- **stretched** and **marker** looks (off by default: `stretch_share`, `fat_pens`):
  digits stretched to fill a square, as some collections store them, and pen digits
  drawn with a brush 14-30% of their height;
- **not a single digit** (class 10): touching pairs, fragments, mis-cut pieces holding a
  digit and part of its neighbour, and scribbles, so the splitter can tell a right cut
  from a wrong one by recognition.

The pendigits *test* writers are evaluation data: `build_training_set` refuses them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from src.config import bounded
from src.reading.config import SegmentConfig
from src.reading.cuts import split_region
from src.reading.ink import ink_box, pen_width
from src.reading.normalize import normalize_digit
from src.reading.regions import Region
from src.strokes import PenDigit, render_number

NOT_A_DIGIT = 10  # the classifier's 11th class
SYNTH_VERSION = 2  # bump when anything here changes what is made, so caches are rebuilt

Ink = np.ndarray  # float32 HxW in [0, 1]


# ------------------------------------------------------------------------- drawing


def sketch_ink(strokes: Sequence[np.ndarray], rng: np.random.Generator, **render) -> Ink:
    """Unit-height strokes drawn like a person on the sketchpad: random size, brush and
    slant unless given. Returns the ink (alpha) of the whole canvas."""
    options = {"height": rng.uniform(40, 300), "brush_frac": rng.uniform(0.015, 0.14)}
    options.update(render)
    digit = PenDigit(0, "synth", "train", list(strokes))
    drawing = render_number([digit], rng, slant_deg=12.0, **options)
    return drawing.image[..., 3].astype(np.float32) / 255.0


def mnist_ink(image: np.ndarray) -> Ink:
    """An MNIST digit enlarged smoothly to sketch scale, as `studio_view` does."""
    return np.asarray(Image.fromarray(image).resize((84, 84), Image.BILINEAR), np.float32) / 255


def draw_lines(ink: Ink, lines: Sequence[Sequence[tuple[float, float]]], width: float) -> Ink:
    """`ink` with extra pen strokes (polylines in pixels) drawn on it, the canvas grown
    where a stroke leaves it."""
    points = np.array([p for line in lines for p in line], np.float64)
    pad = int(math.ceil(width)) + 2
    lo = np.minimum(np.floor(points.min(0)) - pad, 0).astype(int)
    hi = np.maximum(np.ceil(points.max(0)) + pad, ink.shape[::-1]).astype(int)
    layer = Image.new("L", (int(hi[0] - lo[0]), int(hi[1] - lo[1])), 0)
    draw = ImageDraw.Draw(layer)
    radius = width / 2
    for line in lines:
        pts = [(x - lo[0], y - lo[1]) for x, y in line]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=max(1, round(width)), joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    out = np.asarray(layer, np.float32) / 255.0
    x, y = -lo
    out[y : y + ink.shape[0], x : x + ink.shape[1]] = np.maximum(
        out[y : y + ink.shape[0], x : x + ink.shape[1]], ink
    )
    return out


def stroke_width(ink: Ink) -> float:
    """Pen width of a drawing (see `pen_width`), kept to a sensible range."""
    return float(np.clip(pen_width(ink >= 0.3), 1.0, 0.25 * max(ink.shape)))


# ---------------------------------------------------------------- style edits (raster)
# Each edit takes a digit's ink and returns it with a stroke people add in that style,
# placed from the digit's own geometry; None when the digit does not allow it.


def _stem_x(ink: Ink, y: float) -> float | None:
    row = np.flatnonzero(ink[int(np.clip(y, 0, ink.shape[0] - 1))] >= 0.3)
    return float(row.mean()) if len(row) else None


def slashed_zero(ink: Ink, rng: np.random.Generator) -> Ink | None:
    x0, y0, x1, y1 = ink_box(ink)
    h, w = y1 - y0, x1 - x0
    reach = rng.uniform(-0.05, 0.15, 4) * h  # inside the ring or beyond it
    line = [(x1 + reach[0], y0 - reach[1]), (x0 - reach[2], y1 + reach[3])]
    if rng.random() < 0.15:  # a backslash now and then
        line = [(x0 - reach[0], y0 - reach[1]), (x1 + reach[2], y1 + reach[3])]
    del w
    return draw_lines(ink, [line], stroke_width(ink))


def dotted_zero(ink: Ink, rng: np.random.Generator) -> Ink | None:
    x0, y0, x1, y1 = ink_box(ink)
    cx, cy = (x0 + x1) / 2 + rng.normal(0, 0.04) * (x1 - x0), (y0 + y1) / 2
    r = rng.uniform(0.02, 0.06) * (y1 - y0)
    width = stroke_width(ink) * rng.uniform(1.0, 1.6)
    return draw_lines(ink, [[(cx - r, cy), (cx + r, cy + rng.uniform(-r, r))]], width)


def crossed_seven(ink: Ink, rng: np.random.Generator) -> Ink | None:
    x0, y0, x1, y1 = ink_box(ink)
    h = y1 - y0
    y = y0 + rng.uniform(0.45, 0.62) * h
    stem = _stem_x(ink, y)
    if stem is None:
        return None
    left, right = rng.uniform(0.12, 0.3) * h, rng.uniform(0.1, 0.28) * h
    tilt = rng.uniform(-0.05, 0.03) * h
    return draw_lines(ink, [[(stem - left, y - tilt), (stem + right, y + tilt)]], stroke_width(ink))


def flagged_one(ink: Ink, rng: np.random.Generator, base: bool | None = None) -> Ink | None:
    """A one with a long flag (European style), with or without a base.

    The flag falls steeply (35-65 degrees): a long flat one is the top bar of a seven,
    and people read it so.
    """
    x0, y0, x1, y1 = ink_box(ink)
    h = y1 - y0
    top, bottom = _stem_x(ink, y0 + 0.02 * h), _stem_x(ink, y1 - 1 - 0.02 * h)
    if top is None or bottom is None:
        return None
    length, fall = rng.uniform(0.2, 0.4) * h, np.deg2rad(rng.uniform(35, 65))
    flag = (top - length * math.cos(fall), y0 + length * math.sin(fall))
    lines = [[(top, y0), flag]]
    if base if base is not None else rng.random() < 0.5:
        half = rng.uniform(0.15, 0.3) * h
        lines.append([(bottom - half, y1 - 1), (bottom + half * rng.uniform(0.8, 1.2), y1 - 1)])
    return draw_lines(ink, lines, stroke_width(ink))


# ------------------------------------------------------------- stroke templates (unit)
# Styles no edit reaches: drawn from scratch as unit-height strokes, then jittered.


def _jitter(strokes: list[np.ndarray], rng: np.random.Generator, amount: float = 0.04):
    angle, shear = np.deg2rad(rng.uniform(-8, 8)), rng.uniform(-0.2, 0.2)
    stretch = rng.uniform(0.8, 1.2)
    c, s = math.cos(angle), math.sin(angle)
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[stretch, shear], [0, 1]])
    return [(np.asarray(p, float) + rng.normal(0, amount, (len(p), 2))) @ matrix.T for p in strokes]


def _arc(cx, cy, rx, ry, start, end, n=24) -> np.ndarray:
    t = np.linspace(start, end, n)
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], 1)


def open_four(rng: np.random.Generator) -> list[np.ndarray]:
    bar = rng.uniform(0.5, 0.7)
    stem_x = rng.uniform(0.5, 0.65)
    left = [(rng.uniform(0.15, 0.45), rng.uniform(0.0, 0.1)), (0.02, bar),
            (rng.uniform(0.72, 0.92), bar + rng.uniform(-0.05, 0.03))]  # fmt: skip
    stem = [(stem_x + rng.uniform(-0.05, 0.08), rng.uniform(0.0, 0.3)), (stem_x, 1.0)]
    return _jitter([np.array(left), np.array(stem)], rng, 0.02)


def closed_four(rng: np.random.Generator) -> list[np.ndarray]:
    bar = rng.uniform(0.55, 0.72)
    stem_x = rng.uniform(0.5, 0.68)
    stroke = [(stem_x, 1.0), (stem_x + rng.uniform(-0.03, 0.05), 0.0), (0.0, bar),
              (rng.uniform(0.75, 0.95), bar)]  # fmt: skip
    return _jitter([np.array(stroke)], rng, 0.02)


def straight_nine(rng: np.random.Generator) -> list[np.ndarray]:
    rx, ry = rng.uniform(0.22, 0.34), rng.uniform(0.17, 0.27)
    cx, cy = 0.05 + rx, 0.02 + ry
    loop = _arc(cx, cy, rx, ry, rng.uniform(-0.3, 0.3), 2 * math.pi + rng.uniform(0.0, 0.4))
    stem = np.array([loop[-1], (cx + rx + rng.uniform(-0.1, 0.03), 1.0)])
    return _jitter([np.concatenate([loop, stem[1:]])], rng, 0.015)


def scribble(rng: np.random.Generator) -> list[np.ndarray]:
    """Random smooth marks: what a person draws that is not a digit."""
    strokes = []
    for _ in range(rng.integers(1, 4)):
        knots = rng.uniform(0, 1, (rng.integers(3, 7), 2)) * [rng.uniform(0.3, 1.6), 1]
        t = np.linspace(0, 1, len(knots))
        fine = np.linspace(0, 1, 40)
        strokes.append(np.stack([np.interp(fine, t, knots[:, k]) for k in range(2)], 1))
    return strokes


TEMPLATES: dict[str, tuple[int, Callable]] = {
    "open_four": (4, open_four),
    "closed_four": (4, closed_four),
    "straight_nine": (9, straight_nine),
}
EDITS: dict[str, tuple[int, Callable]] = {
    "slashed_zero": (0, slashed_zero),
    "dotted_zero": (0, dotted_zero),
    "crossed_seven": (7, crossed_seven),
    "flagged_one": (1, lambda ink, rng: flagged_one(ink, rng, base=False)),
    "one_with_base": (1, lambda ink, rng: flagged_one(ink, rng, base=True)),
}
STYLES = [*EDITS, *TEMPLATES]


# ----------------------------------------------------------------------- scan looks


def scan_look(ink: Ink, rng: np.random.Generator) -> Ink:
    """The drawing as a scan or phone photo shows it: a digit 10-26 px tall, maybe
    blurred, maybe binarised, then enlarged again by a random factor."""
    box = ink_box(ink)
    if box is None:
        return ink
    height = box[3] - box[1]
    factor = rng.uniform(10, 26) / max(height, 1)
    if factor < 1:
        size = (max(1, round(ink.shape[1] * factor)), max(1, round(ink.shape[0] * factor)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.BOX))
    small = np.asarray(ink, np.float32)
    if rng.random() < 0.5:
        small = ndimage.gaussian_filter(small, rng.uniform(0.3, 1.0))
    if rng.random() < 0.3:
        small = (small >= rng.uniform(0.3, 0.6) * small.max()).astype(np.float32)
    up = rng.uniform(1, 5)
    size = (max(1, round(small.shape[1] * up)), max(1, round(small.shape[0] * up)))
    resample = Image.NEAREST if rng.random() < 0.3 else Image.BILINEAR
    return np.asarray(Image.fromarray(small).resize(size, resample), np.float32)


def stretched_to_square(ink: Ink, rng: np.random.Generator) -> Ink:
    """The digit cut to its ink and stretched both ways to (nearly) a square, as some
    collections store digits (Semeion stretches every digit to fill its 16x16 frame):
    a one becomes a broad slanted bar, a seven's bar and a nine's loop grow wide."""
    box = ink_box(ink)
    if box is None:
        return ink
    crop = ink[box[1] : box[3], box[0] : box[2]]
    side = max(crop.shape)
    width = max(1, round(side * rng.uniform(0.9, 1.1)))
    return np.asarray(Image.fromarray(crop).resize((width, side), Image.BILINEAR), np.float32)


# --------------------------------------------------------------- not a single digit


def side_by_side(left: Ink, right: Ink, gap: float) -> Ink:
    """Two digit inks placed in one picture, `gap` x height apart (negative: overlap),
    bottoms roughly aligned: a pair a splitter left whole."""
    boxes = [ink_box(left), ink_box(right)]
    crops = [ink[b[1] : b[3], b[0] : b[2]] for ink, b in zip((left, right), boxes, strict=True)]
    # Bring both to one height, as digits of one number are.
    height = max(c.shape[0] for c in crops)
    crops = [_resize_to_height(c, height) for c in crops]
    shift = int(round(gap * height))
    width = crops[0].shape[1] + max(shift, -crops[0].shape[1] + 1) + crops[1].shape[1]
    canvas = np.zeros((height, max(width, crops[0].shape[1], crops[1].shape[1])), np.float32)
    canvas[:, : crops[0].shape[1]] = crops[0]
    x = max(0, crops[0].shape[1] + shift)
    end = min(canvas.shape[1], x + crops[1].shape[1])
    canvas[:, x:end] = np.maximum(canvas[:, x:end], crops[1][:, : end - x])
    return canvas


def _resize_to_height(ink: Ink, height: int) -> Ink:
    if ink.shape[0] == height:
        return ink
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    return np.asarray(Image.fromarray(ink).resize((width, height), Image.BILINEAR))


def fragment(ink: Ink, rng: np.random.Generator) -> Ink | None:
    """One half of a wide digit cut the way the splitter cuts a blob. Narrow digits and
    narrow pieces are left out: a sliver of any digit is a fine "1"."""
    box = ink_box(ink)
    crop = ink[box[1] : box[3], box[0] : box[2]]
    if crop.shape[1] < 0.6 * crop.shape[0]:
        return None
    pieces = split_region(Region((0, 0, crop.shape[1], crop.shape[0]), crop), 2)
    wide = [p for p, _ in pieces if p.size and p.shape[1] >= 0.35 * crop.shape[0]]
    return wide[rng.integers(len(wide))] if wide else None


def miscut(left: Ink, right: Ink, rng: np.random.Generator) -> Ink | None:
    """A digit with a good part of its neighbour: a cut in the wrong place."""
    pair = side_by_side(left, right, rng.uniform(-0.1, 0.25))
    boundary = ink_box(left)[2] - ink_box(left)[0]
    boundary = round(boundary * pair.shape[0] / max(1, ink_box(left)[3] - ink_box(left)[1]))
    rest = pair.shape[1] - boundary
    if rest < 4:
        return None
    if rng.random() < 0.5:  # left digit and the start of the right one
        return pair[:, : boundary + int(rng.uniform(0.3, 0.6) * rest)]
    return pair[:, int(boundary * rng.uniform(0.4, 0.7)) :]


# ------------------------------------------------------------------------- assembly


@dataclass
class SynthConfig:
    """How many of each kind to make (see module docstring)."""

    enabled: bool = True
    pen_renders: int = bounded(4, 0, 100)  # drawings of each pen training digit
    styled: int = bounded(1500, 0, 1_000_000)  # per style
    not_digit: int = bounded(16000, 0, 1_000_000)  # pairs, fragments, mis-cuts, scribbles
    scan_share: float = bounded(0.25, 0.0, 1.0)  # share of every kind seen as a scan
    mnist_scans: int = bounded(4000, 0, 1_000_000)  # MNIST digits seen as a scan
    stretch_share: float = bounded(0.0, 0.0, 1.0)  # share of digits stretched to a square
    fat_pens: float = bounded(0.0, 0.0, 1.0)  # share of pen drawings made with a marker
    seed: int = 0


def _finish(
    ink: Ink | None,
    rng: np.random.Generator,
    scan_share: float,
    config: SegmentConfig,
    stretch: np.random.Generator | None = None,
):
    """`ink` as a uint8 studio view, maybe stretched (when `stretch` is given) and maybe
    seen as a scan first; None when nothing is left."""
    if ink is None or ink_box(ink) is None:
        return None
    if stretch is not None:
        ink = stretched_to_square(ink, stretch)
    if rng.random() < scan_share:
        ink = scan_look(ink, rng)
    digit = normalize_digit(ink, config)
    return (digit * 255).round().astype(np.uint8) if digit.any() else None


def _pen_ink(strokes: list, rng: np.random.Generator) -> Ink:
    return sketch_ink(strokes, rng)  # render_number scales tablet units to the height


@dataclass
class Sources:
    """What items are made from: pen training digits and MNIST training digits."""

    pen: list  # (label, strokes)
    mnist: np.ndarray  # uint8 (N, 28, 28)
    mnist_labels: np.ndarray
    scan_share: float
    stretch_share: float = 0.0
    fat_pens: float = 0.0


@dataclass
class Job:
    """One chunk of work: `count` items of one kind, deterministic in `seed`.
    Pen jobs render the pen digits `first`, `first + 1`, ... (wrapping around)."""

    kind: str
    count: int
    seed: int
    first: int = 0


_SOURCES: Sources | None = None  # set once per worker process, not sent with every job


def _set_sources(sources: Sources) -> None:
    global _SOURCES
    _SOURCES = sources


def _source_ink(src: Sources, rng: np.random.Generator, label: int | None = None) -> Ink:
    """A random training digit (pen or MNIST, optionally of `label`) as sketch ink."""
    if rng.random() < 0.5:
        pool = [i for i, (y, _) in enumerate(src.pen) if label is None or y == label]
        return _pen_ink(src.pen[pool[rng.integers(len(pool))]][1], rng)
    pool = np.flatnonzero(src.mnist_labels == label) if label is not None else None
    i = int(pool[rng.integers(len(pool))] if pool is not None else rng.integers(len(src.mnist)))
    return mnist_ink(src.mnist[i])


def run_job(job: Job, sources: Sources | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Make `job.count` items of one kind as uint8 studio views and their labels."""
    src = sources or _SOURCES
    rng = np.random.default_rng(job.seed)
    # Optional looks (a marker, a stretch) draw from their own stream, so the items they
    # leave alone are the same with or without them.
    look_rng = np.random.default_rng([job.seed, 1])
    seg = SegmentConfig()
    images, labels = [], []
    attempts = 0
    while len(images) < job.count and attempts < 4 * job.count + 20:
        attempts += 1
        label, ink = NOT_A_DIGIT, None
        if job.kind == "pen":
            label, strokes = src.pen[(job.first + len(images)) % len(src.pen)]
            # A marker 14-30% of the digit's height: a sketchpad brush on small writing.
            marker = look_rng.uniform(0.14, 0.3) if look_rng.random() < src.fat_pens else None
            ink = sketch_ink(strokes, rng, **({"brush_frac": marker} if marker else {}))
        elif job.kind == "mnist_scan":
            i = int(rng.integers(len(src.mnist)))
            label, ink = int(src.mnist_labels[i]), scan_look(mnist_ink(src.mnist[i]), rng)
        elif job.kind in EDITS:
            label, edit = EDITS[job.kind]
            ink = edit(_source_ink(src, rng, label), rng)
        elif job.kind in TEMPLATES:
            label, template = TEMPLATES[job.kind]
            ink = sketch_ink(template(rng), rng)
        elif job.kind == "pair":
            pair = [_source_ink(src, rng) for _ in range(2)]
            ink = side_by_side(*pair, gap=rng.uniform(-0.35, 0.08))
        elif job.kind == "fragment":
            ink = fragment(_source_ink(src, rng), rng)
        elif job.kind == "miscut":
            ink = miscut(_source_ink(src, rng), _source_ink(src, rng), rng)
        elif job.kind == "scribble":
            ink = sketch_ink(scribble(rng), rng)
        else:
            raise ValueError(f"unknown kind {job.kind!r}")
        stretch = None
        if label != NOT_A_DIGIT and look_rng.random() < src.stretch_share:
            stretch = look_rng
        item = _finish(ink, rng, 0.0 if job.kind == "mnist_scan" else src.scan_share, seg, stretch)
        if item is not None:
            images.append(item)
            labels.append(label)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack(images), np.array(labels, np.int64)


NOT_DIGIT_SHARES = {"pair": 0.4, "fragment": 0.25, "miscut": 0.25, "scribble": 0.1}


def plan_jobs(n_pen: int, config: SynthConfig, chunk: int = 500) -> list[Job]:
    """The whole synthetic set as chunks of work, each with its own seed."""
    counts = {"pen": n_pen * config.pen_renders, "mnist_scan": config.mnist_scans}
    counts.update({style: config.styled for style in STYLES})
    counts.update({k: round(config.not_digit * s) for k, s in NOT_DIGIT_SHARES.items()})
    jobs = []
    for kind, total in counts.items():
        for start in range(0, total, chunk):
            seed = config.seed * 1_000_003 + len(jobs)
            jobs.append(Job(kind, min(chunk, total - start), seed, start))
    return jobs


def build_training_set(
    pen: Sequence[PenDigit],
    mnist_images: np.ndarray,
    mnist_labels: np.ndarray,
    config: SynthConfig | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every synthetic item as uint8 (N, 28, 28) studio views and int64 labels (0-10)."""
    config = config or SynthConfig()
    if any(d.split != "train" or not d.writer.startswith("train-") for d in pen):
        raise ValueError("pendigits test writers are for evaluation only, never for training")
    sources = Sources([(d.label, d.strokes) for d in pen], mnist_images, mnist_labels,
                      config.scan_share, config.stretch_share, config.fat_pens)  # fmt: skip
    jobs = plan_jobs(len(sources.pen), config)
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, initializer=_set_sources, initargs=(sources,)) as pool:
            parts = list(pool.map(run_job, jobs))
    else:
        parts = [run_job(job, sources) for job in jobs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
