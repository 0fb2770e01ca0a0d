"""Restyle: any number written in the hand of the digits in a drawing.

A hand is what the studio can measure in what a person wrote:
- the style: the restyling VAE's posteriors of the digits it read, a latent per digit
  (their own 7s for a 7, their overall hand for a digit they did not write);
- the size: the median height of those digits, in the drawing's pixels;
- the spacing: the median gap between neighbours, as a share of that height;
- the pen: the stroke width, from the ink's area over half its outline.

`write_number` decodes the digits of a text in that style in one batch, scales them to
that size, gives their strokes that pen width and sets them side by side at that spacing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from src.models.style_vae import StyleVAE
from src.reading.config import SegmentConfig
from src.reading.ink import box_pen_widths
from src.reading.normalize import thin_each
from src.reading.pipeline import Reading
from src.reading.raster import distance_to

MAX_DIGITS = 16
MAX_HEIGHT = 240  # px: the tallest digits restyle writes
# How many of a writer's digits their overall hand counts as in each digit's style (see
# `StyleVAE.style`); chosen on the held-out train writers (`bench_restyle --writers val`).
PRIOR_WEIGHT = 1.0
# A digit's first draw that the judge gives at least this is written as it is; the others
# are the clearest of all their draws. Chosen on the held-out train writers
# (`bench_restyle.py --writers val`, 1,000 numbers): read back 96.8% at 0.999 against
# 96.5% when every digit took the clearest of four draws, 96.2% at 0.998, 95.7% at 0.99;
# writing 8 digits in 40 of their hands took 9.6 ms instead of 15.2 (p50; see
# docs/patches/s21_restyle_hands.py).
SURE_ENOUGH = 0.999
INK_LEVEL = SegmentConfig().threshold  # what counts as stroke in a drawing, as in reading


class RestyleError(ValueError):
    """Restyling cannot be done for this text or drawing (message is safe to show)."""


@dataclass
class Hand:
    style: torch.Tensor  # (10, latent_dim): one latent per digit, or (latent_dim,)
    height: float  # a digit's height, input pixels
    gap: float  # between neighbours, share of the height (negative: they overlap)
    pen: float  # stroke width, input pixels
    shear: float = 0.0  # slant the style alone misses (x shift per unit of y, 28x28)
    widen: float = 1.0  # width-to-height the style alone misses (factor)


def geometry(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slant (ink x-y covariance over y variance: x shift per unit of y) and width over
    height (of the ink's spread: two standard deviations each way) of (N, 1, 28, 28)."""
    w = images[:, 0].clamp_min(0)
    w = w / w.sum(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cy, cx = (w * ys).sum((1, 2), keepdim=True), (w * xs).sum((1, 2), keepdim=True)
    var_y = (w * (ys - cy) ** 2).sum((1, 2)).clamp_min(1e-6)
    cov = (w * (xs - cx) * (ys - cy)).sum((1, 2))
    slant = cov / var_y
    # Width once the slant is taken out, so a leaning 1 is not counted as a wide one.
    var_x = (w * (xs - cx - slant.view(-1, 1, 1) * (ys - cy)) ** 2).sum((1, 2))
    return slant, (var_x.clamp_min(1e-6) / var_y).sqrt()


def residual_geometry(written: torch.Tensor, own: torch.Tensor) -> tuple[float, float]:
    """How the writer's own digits lean and spread beyond what the style VAE writes for
    the same labels: (shear, widen), medians over their digits, kept within sane bounds."""
    slant_w, aspect_w = geometry(written)
    slant_o, aspect_o = geometry(own)
    shear = float((slant_o - slant_w).median().clamp(-0.6, 0.6))
    widen = float((aspect_o / aspect_w.clamp_min(1e-3)).median().clamp(0.6, 1.6))
    return shear, widen


@torch.no_grad()
def style_of(
    model: StyleVAE,
    digits: torch.Tensor,
    labels: torch.Tensor,
    prior_weight: float = PRIOR_WEIGHT,
) -> tuple[torch.Tensor, float, float]:
    """A writer's style from digits they wrote (N, 1, 28, 28) and their labels: a latent
    per label (see `StyleVAE.style`), and the lean and spread it misses (see
    `residual_geometry`)."""
    style = model.style(digits, labels, prior_weight)
    shear, widen = residual_geometry(model.write(labels, style).cpu(), digits.cpu())
    return style, shear, widen


def write_digits(
    model: StyleVAE, labels: torch.Tensor, style: tuple[torch.Tensor, float, float],
    spread: float = 0.0, generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """Digits `labels` in a style from `style_of`: (N, 1, 28, 28) in [0, 1]."""
    latent, shear, widen = style
    return reshape(model.write(labels, latent, spread, generator).cpu(), shear, widen)


def reshape(images: torch.Tensor, shear: float, widen: float) -> torch.Tensor:
    """Digits (N, 1, 28, 28) leaned by `shear` and widened by `widen` about their centre:
    one batched resampling."""
    if shear == 0.0 and widen == 1.0:
        return images
    # Output (x, y) samples input ((x - shear * y) / widen, y), in [-1, 1] units.
    theta = torch.tensor([[1 / widen, -shear / widen, 0.0], [0.0, 1.0, 0.0]])
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", align_corners=False)


def check_text(text: str) -> list[int]:
    """The digits of `text` (spaces ignored), or a `RestyleError` saying what is wrong."""
    digits = re.sub(r"\s+", "", str(text or ""))
    if not digits:
        raise RestyleError("type a number to write, for example 2026")
    if not re.fullmatch(r"[0-9]+", digits):
        raise RestyleError(f"only the digits 0-9 can be written, not {text!r}")
    if len(digits) > MAX_DIGITS:
        raise RestyleError(f"up to {MAX_DIGITS} digits at a time ({len(digits)} given)")
    return [int(c) for c in digits]


def hand_of(model: StyleVAE, reading: Reading, ink: np.ndarray) -> Hand:
    """The hand of the digits in a reading of `ink`: their style (see `style_of`), and
    their size, spacing and pen (see `measure_hand`)."""
    device = next(model.parameters()).device
    labels = torch.tensor([d.label for d in reading.digits], device=device)
    style, shear, widen = style_of(model, reading.crops.to(device), labels, PRIOR_WEIGHT)
    boxes, lines = [d.box for d in reading.digits], [d.line for d in reading.digits]
    return measure_hand(boxes, lines, ink, style, shear, widen)


def measure_hand(
    boxes: list[tuple[int, int, int, int]],
    lines: list[int],
    ink: np.ndarray,
    style: torch.Tensor,
    shear: float = 0.0,
    widen: float = 1.0,
) -> Hand:
    """The hand of digits with these boxes (input pixels) and line numbers."""
    heights = np.array([b[3] - b[1] for b in boxes], np.float64)
    height = float(np.median(heights))
    gaps = [
        (b[0] - a[2]) / height
        for a, b, la, lb in zip(boxes[:-1], boxes[1:], lines[:-1], lines[1:], strict=True)
        if la == lb
    ]
    gap = float(np.clip(np.median(gaps), -0.1, 1.0)) if gaps else 0.25
    widths = box_pen_widths(ink, boxes, INK_LEVEL)
    widths = widths[~np.isnan(widths)]
    pen = float(np.median(widths)) if len(widths) else height * 0.1
    # A photo's digits can be thousands of pixels tall: write at most MAX_HEIGHT, the
    # pen scaled alike, so a huge drawing cannot make a huge (slow) picture.
    shrink = min(1.0, MAX_HEIGHT / height)
    return Hand(style, height * shrink, gap, pen * shrink, shear, widen)


def write_number(
    model: StyleVAE,
    digits: list[int],
    hand: Hand,
    seed: int = 0,
    spread: float = 0.25,
    judge: Callable[[torch.Tensor], torch.Tensor] | None = None,
    tries: int = 4,
) -> np.ndarray:
    """`digits` in `hand`: an HxW uint8 picture, dark ink on white. With `judge` (digit
    probabilities for a batch), a digit the judge is not sure of (see `clearest_draws`)
    is drawn `tries` times in all, with different noise, and the draw it finds most
    surely its digit is kept: the studio never writes a digit it would misread itself,
    if another draw of it is clearer."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(digits)
    if judge is None:
        style = (hand.style, hand.shear, hand.widen)
        decoded = write_digits(model, labels, style, spread, generator)
    else:
        decoded = clearest_draws(model, labels, hand, spread, generator, judge, tries)
    # Centre lines at twice MNIST's resolution, then drawn at the hand's size and pen:
    # MNIST's digits are 20 px tall in their 28 px frame.
    fine = F.interpolate(decoded, scale_factor=2, mode="bilinear", align_corners=False)
    skeletons = thin_each(fine[:, 0].numpy() >= 0.5)
    side = max(8, round(28 * hand.height / 20.0))
    margin = round(0.15 * hand.height + hand.pen)
    drawn = [i for i, skeleton in enumerate(skeletons) if skeleton.any()]
    glyphs = draw_strokes(skeletons[drawn], side, hand.pen) if drawn else []
    pieces, x = [], margin
    for glyph in glyphs:
        cols = np.flatnonzero(glyph.max(axis=0) > 0)
        glyph = glyph[:, cols[0] : cols[-1] + 1]
        pieces.append((x, glyph))
        x = max(x + 1, x + glyph.shape[1] + round(hand.gap * hand.height))
    width = max((left + g.shape[1] for left, g in pieces), default=0) + margin
    ink = np.zeros((side + 2 * margin, max(width, 2 * margin)), np.float32)
    for left, glyph in pieces:
        target = ink[margin : margin + side, left : left + glyph.shape[1]]
        np.maximum(target, glyph[:, : target.shape[1]], out=target)
    return (255 - 255 * ink).round().astype(np.uint8)


def clearest_draws(
    model: StyleVAE,
    labels: torch.Tensor,
    hand: Hand,
    spread: float,
    generator: torch.Generator,
    judge: Callable[[torch.Tensor], torch.Tensor],
    tries: int,
) -> torch.Tensor:
    """`labels` in `hand` (N, 1, 28, 28), each the clearest of up to `tries` draws. All
    draws' noise is taken up front, so a draw is the same whichever are decoded; the
    first draw of every digit is judged, and only digits whose first draw the judge gives
    less than `SURE_ENOUGH` get their other draws decoded and judged."""
    n = len(labels)
    draws = labels.repeat(tries)  # draw t of digit i is row t * n + i
    z = model.latents(draws, hand.style, spread, generator)

    def decode(rows: torch.Tensor) -> torch.Tensor:
        return reshape(model.draw(z[rows], draws[rows]).cpu(), hand.shear, hand.widen)

    first = decode(torch.arange(n))
    if tries < 2:  # nothing to choose from: no need to judge
        return first
    sure = judge(first)[torch.arange(n), labels]
    unsure = torch.nonzero(sure < SURE_ENOUGH).flatten()
    if len(unsure) == 0:
        return first
    rows = (torch.arange(1, tries)[:, None] * n + unsure).flatten()
    more = decode(rows)
    sure_more = judge(more)[torch.arange(len(rows)), draws[rows]]
    options = torch.cat([first[unsure][None], more.view(tries - 1, len(unsure), *more.shape[1:])])
    best = torch.cat([sure[unsure][None], sure_more.view(tries - 1, len(unsure))]).argmax(dim=0)
    first[unsure] = options[best, torch.arange(len(unsure))]
    return first


def draw_strokes(skeletons: np.ndarray, side: int, pen: float) -> np.ndarray:
    """Centre-line masks (N, h, h) drawn `side` px square with a round pen `pen` px wide:
    (N, side, side) ink in [0, 1]. A pixel's ink is how far it lies inside the pen's
    reach of the nearest centre-line pixel (distance fields upsampled bilinearly, one
    batch), so edges get a one-pixel soft rim: anti-aliased without supersampling."""
    distance = np.stack([distance_to(s) for s in skeletons])
    zoom = side / skeletons.shape[1]
    distance = F.interpolate(
        torch.from_numpy(distance).unsqueeze(1),  # float32 already
        size=(side, side), mode="bilinear", align_corners=False,
    )[:, 0]  # fmt: skip
    return (pen / 2 + 0.5 - distance * zoom).clamp_(0.0, 1.0).numpy()
