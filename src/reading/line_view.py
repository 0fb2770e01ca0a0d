"""Step 3, the line reader's view: each line's ink (its regions only) becomes a strip
(`line_image`: cut to the ink, `INK_HEIGHT` px tall in a `LINE_HEIGHT` px strip, width
scaled alike), all lines go through the CRNN in one batch, and the time steps and digits
are mapped back to the drawing: which digits, and which columns, each region holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from src.models.line_reader import (
    BLANK,
    LINE_HEIGHT,
    STRIDE,
    DecodedDigit,
    LineReader,
    greedy_decode,
)
from src.reading.ink import ink_box
from src.reading.regions import Region
from src.runtime import eval_mode

INK_HEIGHT = 24  # the line's ink height inside the strip: 4 px of margin above and below


@dataclass
class LineStrip:
    """A line as the reader sees it, and where its columns came from: strip column c
    shows ink column `x0 + (c - STRIDE) / factor`."""

    image: np.ndarray  # float32 (LINE_HEIGHT, W), W a multiple of STRIDE
    x0: int = 0
    factor: float = 1.0

    def step_to_x(self, step: float) -> float:
        """Ink x coordinate of the centre of output time step `step`."""
        return self.x0 + ((step + 0.5) * STRIDE - STRIDE) / self.factor


def fit_line(ink: np.ndarray, max_width: int | None = None) -> LineStrip:
    """Ink of one line (float HxW in [0, 1]) -> its strip: cut to the ink, scaled to
    `INK_HEIGHT` px tall in a `LINE_HEIGHT` px strip, a `STRIDE` margin each side."""
    box = ink_box(ink, level=0.2)
    if box is None:
        return LineStrip(np.zeros((LINE_HEIGHT, 4 * STRIDE), np.float32))
    x0, y0, x1, y1 = box
    crop = np.asarray(ink[y0:y1, x0:x1], np.float32)
    factor = INK_HEIGHT / crop.shape[0]
    width = max(1, round(crop.shape[1] * factor))
    if max_width is not None and width > max_width - 2 * STRIDE:  # too long: shrink all
        factor *= (max_width - 2 * STRIDE) / width
        width = max_width - 2 * STRIDE
    height = max(1, round(crop.shape[0] * factor))
    small = np.asarray(Image.fromarray(crop).resize((width, height), Image.BOX), np.float32)
    total = -(-(width + 2 * STRIDE) // STRIDE) * STRIDE  # a margin each side, rounded up
    out = np.zeros((LINE_HEIGHT, total), np.float32)
    top = (LINE_HEIGHT - height) // 2
    out[top : top + height, STRIDE : STRIDE + width] = small
    return LineStrip(np.clip(out, 0.0, 1.0), x0, width / crop.shape[1])


def line_image(ink: np.ndarray, max_width: int | None = None) -> np.ndarray:
    """Ink of one line -> float32 (LINE_HEIGHT, W) strip (see `fit_line`). Empty ink
    gives a blank strip."""
    return fit_line(ink, max_width).image


@dataclass
class LineView:
    """What the line reader saw in one line of writing (working-scale coordinates)."""

    strip: LineStrip  # strip x0 is relative to `left`
    left: int  # working x of the line canvas' first column
    log_probs: torch.Tensor  # (T, 11)
    digits: list[DecodedDigit]

    def step_x(self, step: float) -> float:
        """Working x of the centre of time step `step`."""
        return self.left + self.strip.step_to_x(step)

    def digit_x(self, digit: DecodedDigit) -> float:
        return self.step_x((digit.columns[0] + digit.columns[1]) / 2)

    def steps_within(self, x0: float, x1: float) -> tuple[int, int]:
        """The time steps [start, stop) whose centres lie in [x0, x1)."""
        xs = self.step_x(np.arange(len(self.log_probs)))
        inside = np.flatnonzero((xs >= x0) & (xs < x1))
        if len(inside) == 0:
            centre = int(np.argmin(np.abs(xs - (x0 + x1) / 2)))
            return centre, centre + 1
        return int(inside[0]), int(inside[-1]) + 1


def line_ink(regions: list[Region], shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """The ink of these regions only (specks left out), on a canvas spanning them;
    returns the canvas and its left edge in working x."""
    x0 = min(r.box[0] for r in regions)
    y0 = min(r.box[1] for r in regions)
    x1 = max(r.box[2] for r in regions)
    y1 = max(r.box[3] for r in regions)
    canvas = np.zeros((min(shape[0], y1) - y0, min(shape[1], x1) - x0), np.float32)
    for r in regions:
        bx0, by0, bx1, by1 = r.box
        target = canvas[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0]
        np.maximum(target, r.mask[: target.shape[0], : target.shape[1]], out=target)
    return level(canvas, regions[0].tilt), x0


def level(canvas: np.ndarray, slope: float) -> np.ndarray:
    """A line rising or falling by `slope` (dy/dx) made level by shifting each column
    up or down: a vertical shear, so every column keeps its x and the line reader's
    time steps still map to the drawing's columns as they are."""
    if slope == 0.0:
        return canvas
    h, w = canvas.shape
    shift = max(0.0, slope * (w - 1))
    out_h = int(np.ceil(h + abs(slope) * (w - 1)))
    # PIL maps each output pixel (x, y) back to the input pixel (x, y + slope * x - shift).
    levelled = Image.fromarray(canvas).transform(
        (w, out_h), Image.AFFINE, (1, 0, 0, slope, 1, -shift), resample=Image.BILINEAR
    )
    return np.asarray(levelled, np.float32)


def strip_batch(images: list[np.ndarray]) -> torch.Tensor:
    """Line strips (LINE_HEIGHT, W_i) as one batch (N, 1, LINE_HEIGHT, max W), padded
    with blank columns on the right."""
    batch = torch.zeros(len(images), 1, LINE_HEIGHT, max(image.shape[1] for image in images))
    for i, image in enumerate(images):
        batch[i, 0, :, : image.shape[1]] = torch.from_numpy(image)
    return batch


@torch.inference_mode()  # not just no_grad: the GRU runs ~10% faster without autograd's bookkeeping
def view_lines(
    reader: LineReader, lines: list[list[Region]], shape: tuple[int, int]
) -> list[LineView]:
    """Every line through the line reader in one padded batch."""
    if not lines:
        return []
    strips, lefts = [], []
    for regions in lines:
        ink, left = line_ink(regions, shape)
        strips.append(fit_line(ink))
        lefts.append(left)
    batch = strip_batch([s.image for s in strips])
    device = next(reader.parameters()).device
    with eval_mode(reader):
        log_probs = reader(batch.to(device)).cpu()  # (T, N, 11)
    lengths = torch.tensor([s.image.shape[1] // STRIDE for s in strips])
    decoded = greedy_decode(log_probs, lengths)
    return [
        LineView(s, left, log_probs[: lengths[i], i], decoded[i])
        for i, (s, left) in enumerate(zip(strips, lefts, strict=True))
    ]


def view_regions(
    reader: LineReader, regions: list[Region], shape: tuple[int, int]
) -> tuple[dict[int, LineView], list[list[DecodedDigit]]]:
    """The line reader over every line of `regions` (one batch); returns the view per
    line number and, per region, the digits it read there."""
    numbers = sorted({r.line for r in regions})
    members = [[i for i, r in enumerate(regions) if r.line == n] for n in numbers]
    line_regions = [[regions[i] for i in m] for m in members]
    views = dict(zip(numbers, view_lines(reader, line_regions, shape), strict=True))
    held: list[list[DecodedDigit]] = [[] for _ in regions]
    for n, m, in_line in zip(numbers, members, line_regions, strict=True):
        for i, digits in zip(m, assign_digits(views[n], in_line), strict=True):
            held[i] = digits
    return views, held


def nearest_region(xs: np.ndarray, regions: list[Region]) -> np.ndarray:
    """For each working x, the region it belongs to: one whose box holds it (the one it
    is most central in, where boxes overlap), else the nearest box."""
    boxes = np.array([r.box for r in regions], np.float64)
    xs = np.asarray(xs, np.float64)[:, None]
    outside = np.maximum(np.maximum(boxes[:, 0] - xs, xs - boxes[:, 2]), 0.0)
    centre = np.abs(xs - (boxes[:, 0] + boxes[:, 2]) / 2) / np.maximum(boxes[:, 2] - boxes[:, 0], 1)
    return np.lexsort((centre.T, outside.T), axis=0)[0]  # outside first, then centre


def assign_digits(view: LineView, regions: list[Region]) -> list[list[DecodedDigit]]:
    """What the line reader says each region holds: each digit it read goes to the
    region its centre falls in (see `nearest_region`)."""
    held: list[list[DecodedDigit]] = [[] for _ in regions]
    if view.digits:
        owners = nearest_region(np.array([view.digit_x(d) for d in view.digits]), regions)
        for digit, owner in zip(view.digits, owners, strict=True):
            held[int(owner)].append(digit)
    return held


def region_steps(view: LineView, regions: list[Region]) -> list[tuple[int, int]]:
    """The time steps [start, stop) that each region owns, by the same rule as the
    digits, so a neighbour's digit never falls into a region's columns."""
    owners = nearest_region(view.step_x(np.arange(len(view.log_probs))), regions)
    spans = []
    for i in range(len(regions)):
        steps = np.flatnonzero(owners == i)
        spans.append((int(steps[0]), int(steps[-1]) + 1) if len(steps) else (0, 0))
    return spans


def digit_probabilities(view: LineView, digit: DecodedDigit) -> torch.Tensor:
    """The line reader's ten digit probabilities for one digit it read, at the time step
    where it was surest of it (the blank left out)."""
    first, last = digit.columns
    steps = view.log_probs[first : last + 1]
    probs = steps[int(steps[:, digit.label].argmax()), :BLANK].exp()
    return probs / probs.sum()
