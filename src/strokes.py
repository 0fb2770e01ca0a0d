"""Real pen strokes turned into sketchpad drawings: the nearest thing to what people draw.

The UCI pen-based digits (44 writers, CC BY 4.0) store each digit as pen-down paths in a
500x500 tablet box, y growing down. `render_number` draws them with a round brush onto a
canvas the way the studio's sketchpad would, alone or side by side as a number, with the
spacing, jitter, slant and overlap that real writing has.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]

DEFAULT_PENDIGITS = Path(__file__).resolve().parent.parent.parent / "shared/data/pendigits"


@dataclass
class PenDigit:
    label: int
    writer: str
    split: str
    strokes: list[Stroke]


def pendigits_path() -> Path:
    """$DIGIT_STUDIO_PENDIGITS (a folder or the .jsonl.gz itself), else ../shared/data."""
    path = Path(os.environ.get("DIGIT_STUDIO_PENDIGITS", DEFAULT_PENDIGITS))
    return path / "pendigits_strokes.jsonl.gz" if path.is_dir() else path


def load_pendigits(path: str | Path | None = None) -> list[PenDigit]:
    path = Path(path) if path else pendigits_path()
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    return [PenDigit(int(r["label"]), r["writer"], r["split"], r["strokes"]) for r in rows]


def by_writer(digits: Sequence[PenDigit]) -> dict[str, list[PenDigit]]:
    groups: dict[str, list[PenDigit]] = defaultdict(list)
    for digit in digits:
        groups[digit.writer].append(digit)
    return dict(groups)


@dataclass
class RenderedNumber:
    image: np.ndarray  # HxWx4 uint8 (transparent canvas) or HxWx3 (white canvas)
    text: str
    boxes: list[tuple[int, int, int, int]]  # (x0, y0, x1, y1) per digit, left to right


def normalised_strokes(strokes: Sequence[Stroke]) -> list[np.ndarray]:
    """Strokes shifted so the digit's box starts at (0, 0) and scaled to unit height."""
    points = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes])
    lo, hi = points.min(0), points.max(0)
    height = max(hi[1] - lo[1], 1.0)
    return [(np.asarray(s, dtype=np.float64).reshape(-1, 2) - lo) / height for s in strokes]


def render_number(
    digits: Sequence[PenDigit],
    rng: np.random.Generator,
    height: float | None = None,
    brush_frac: float | None = None,
    gap_frac: tuple[float, float] = (0.15, 0.45),
    jitter_frac: float = 0.06,
    slant_deg: float = 8.0,
    transparent: bool = True,
    margin_frac: float = 0.4,
    supersample: int = 2,
) -> RenderedNumber:
    """Draw pen digits side by side as one number, like a person on the sketchpad.

    `height`: digit height in px (random 80-300 when None); `brush_frac`: brush width as a
    share of the height (random 3-12%); `gap_frac`: horizontal gap between neighbours as a
    share of the height, negative values make them overlap (touch).
    """
    height = float(height if height is not None else rng.uniform(80, 300))
    brush = max(1.0, (brush_frac if brush_frac is not None else rng.uniform(0.03, 0.12)) * height)
    slant = np.tan(np.deg2rad(rng.uniform(-slant_deg, slant_deg)))
    placed, boxes, x = [], [], 0.0
    for digit in digits:
        size = height * rng.uniform(0.9, 1.1)
        dy = rng.uniform(-jitter_frac, jitter_frac) * height
        strokes = [s * size for s in normalised_strokes(digit.strokes)]
        for s in strokes:
            s[:, 0] -= slant * (s[:, 1] - size / 2)  # shear about the digit's middle
        left = min(s[:, 0].min() for s in strokes)
        width = max(s[:, 0].max() for s in strokes) - left
        for s in strokes:
            s[:, 0] += x - left
            s[:, 1] += dy
        placed.append(strokes)
        boxes.append((x, dy, x + width, dy + size))
        x += width + rng.uniform(*gap_frac) * height
    margin = margin_frac * height + brush
    all_points = np.concatenate([s for strokes in placed for s in strokes])
    origin = all_points.min(0) - margin
    canvas_w = int(np.ceil(all_points[:, 0].max() - origin[0] + margin))
    canvas_h = int(np.ceil(all_points[:, 1].max() - origin[1] + margin))

    k = supersample  # draw larger, then downsample: anti-aliased edges like a real canvas
    ink = Image.new("L", (canvas_w * k, canvas_h * k), 0)
    draw = ImageDraw.Draw(ink)
    radius = brush * k / 2
    for strokes in placed:
        for s in strokes:
            pts = [tuple(p) for p in ((s - origin) * k)]
            if len(pts) > 1:
                draw.line(pts, fill=255, width=max(1, round(brush * k)), joint="curve")
            for px, py in (pts[0], pts[-1]) if len(pts) > 1 else pts:  # round caps
                draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)
    alpha = np.asarray(ink.resize((canvas_w, canvas_h), Image.BOX))
    if transparent:
        image = np.zeros((canvas_h, canvas_w, 4), np.uint8)
        image[..., 3] = alpha  # black ink, alpha carries the stroke
    else:
        image = np.repeat((255 - alpha)[..., None], 3, axis=2)
    boxes_px = [
        (
            int(x0 - origin[0] - brush / 2),
            int(y0 - origin[1] - brush / 2),
            int(x1 - origin[0] + brush / 2),
            int(y1 - origin[1] + brush / 2),
        )
        for x0, y0, x1, y1 in boxes
    ]
    return RenderedNumber(image, "".join(str(d.label) for d in digits), boxes_px)
