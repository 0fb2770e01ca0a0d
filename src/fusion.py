"""The line reader's view of each line, and how it joins the per-digit classifier.

The classifier reads well what the segmentation cut well; the line reader (CRNN + CTC)
counts digits well where strokes touch, since it never cuts. Per region of ink, the
studio weighs every way of reading it by both:

    score(candidate) = mean over its pieces of log(P(one digit) * P(its digit))   [classifier]
                     + line_weight * log P_CTC(its digits | the region's columns) [line reader]

The candidates are the segmentation's own (the region whole, or cut into 2..k pieces),
plus one cut where the line reader's alignment puts the boundaries between its digits.
Each candidate keeps the classifier's labels, crops and boxes, so confidences, Grad-CAM
and the VAE work per digit as before; the line reader only decides how a region is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from src.lines import LineStrip, fit_line
from src.models.line_reader import BLANK, STRIDE, DecodedDigit, LineReader, greedy_decode
from src.utils.segmentation import Region, cut_region

IMPOSSIBLE = -1e4  # CTC log-likelihood of a reading the region's columns cannot hold


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
    return canvas, x0


@torch.no_grad()
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
    width = max(s.image.shape[1] for s in strips)
    batch = torch.zeros(len(strips), 1, strips[0].image.shape[0], width)
    for i, s in enumerate(strips):
        batch[i, 0, :, : s.image.shape[1]] = torch.from_numpy(s.image)
    device = next(reader.parameters()).device
    was_training = reader.training
    reader.eval()
    log_probs = reader(batch.to(device)).cpu()  # (T, N, 11)
    reader.train(was_training)
    lengths = torch.tensor([s.image.shape[1] // STRIDE for s in strips])
    decoded = greedy_decode(log_probs, lengths)
    return [
        LineView(s, left, log_probs[: lengths[i], i], decoded[i])
        for i, (s, left) in enumerate(zip(strips, lefts, strict=True))
    ]


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


def aligned_cut(
    region: Region, view: LineView, digits: list[DecodedDigit]
) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """The region cut where the line reader's alignment puts the digit boundaries: near
    the middle between neighbouring digits' centres, at the column with least ink."""
    centres = [view.digit_x(d) - region.box[0] for d in digits]
    near = [(a + b) / 2 for a, b in zip(centres[:-1], centres[1:], strict=True)]
    reach = min(b - a for a, b in zip(centres[:-1], centres[1:], strict=True)) / 4
    return cut_region(region, near, max(1.0, reach))


def ctc_log_likelihoods(log_probs: list[torch.Tensor], texts: list[list[int]]) -> torch.Tensor:
    """log P(text | columns) under CTC for each (columns, text) pair, in one call;
    `IMPOSSIBLE` where the columns are too few to hold the text."""
    if not texts:
        return torch.zeros(0)
    steps = max(len(lp) for lp in log_probs)
    batch = torch.full((steps, len(texts), BLANK + 1), -1e9)
    batch[..., BLANK] = 0.0  # padding reads as blank (unused beyond each input length)
    for i, lp in enumerate(log_probs):
        batch[: len(lp), i] = lp
    loss = F.ctc_loss(
        batch,
        torch.tensor([t for text in texts for t in text]),
        torch.tensor([len(lp) for lp in log_probs]),
        torch.tensor([len(text) for text in texts]),
        blank=BLANK,
        reduction="none",
        zero_infinity=False,
    )
    return torch.where(torch.isfinite(loss), -loss, torch.tensor(IMPOSSIBLE)).clamp_min(IMPOSSIBLE)
