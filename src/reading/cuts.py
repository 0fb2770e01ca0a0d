"""Step 4, cuts: the ways each region may be read. Whole, as one digit; when it is wider
than a digit of its line, also cut into 2..k pieces at the columns with least ink; and,
when the line reader read several digits in it, cut where its alignment puts their
boundaries."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from src.models.line_reader import DecodedDigit
from src.reading.config import SegmentConfig
from src.reading.line_view import LineView
from src.reading.regions import Region, typical_height

Piece = tuple[np.ndarray, tuple[int, int, int, int]]  # (ink crop, working box)


@dataclass
class Candidate:
    """One way to read a region: as one digit, or cut into several pieces."""

    region: int
    pieces: list[Piece]


def candidates(
    regions: list[Region],
    config: SegmentConfig,
    views: dict[int, LineView] | None = None,
    held: list[list[DecodedDigit]] | None = None,
) -> list[Candidate]:
    """Each region as one digit; over-wide ones also cut into 2..k pieces; where the
    line reader read two or more digits in a region (`held`), its own cut too."""
    line_heights = {
        line: typical_height(np.array([r.height for r in regions if r.line == line]))
        for line in {r.line for r in regions}
    }
    found = []
    for i, region in enumerate(regions):
        found.append(Candidate(i, [(region.mask, region.box)]))
        height = max(line_heights[region.line], region.height)
        if region.width > config.split_aspect * height:
            expected = region.width / (config.narrowest_digit * height)
            for k in range(2, max(2, math.ceil(expected)) + 1):
                found.append(Candidate(i, split_region(region, k)))
        if views and held and len(held[i]) >= 2:
            pieces = aligned_cut(region, views[region.line], held[i])
            found.append(Candidate(i, pieces))
    return found


def split_region(region: Region, k: int) -> list[Piece]:
    """Cut a region into k pieces at the columns with least ink near the even cuts."""
    width = region.mask.shape[1]
    return cut_region(region, [j * width / k for j in range(1, k)], width / (3 * k))


def cut_region(region: Region, near: list[float], reach: float) -> list[Piece]:
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


def aligned_cut(region: Region, view: LineView, digits: list[DecodedDigit]) -> list[Piece]:
    """The region cut where the line reader's alignment puts the digit boundaries: near
    the middle between neighbouring digits' centres, at the column with least ink."""
    centres = [view.digit_x(d) - region.box[0] for d in digits]
    near = [(a + b) / 2 for a, b in zip(centres[:-1], centres[1:], strict=True)]
    reach = min(b - a for a, b in zip(centres[:-1], centres[1:], strict=True)) / 4
    return cut_region(region, near, max(1.0, reach))
