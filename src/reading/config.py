"""How the studio reads: one place for every setting of the reading pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from src.config import bounded


@dataclass
class SegmentConfig:
    threshold: float = bounded(0.35, 0.01, 0.99)  # ink level that counts as stroke
    # A fainter stroke that continues darker ink counts too, down to this level (see
    # `ink.stroke_ink`): a pencil's light strokes, a blurred scan's. 0: only `threshold`.
    faint: float = bounded(0.08, 0.0, 0.99)
    min_pixels: int = bounded(12, 1, 10_000)  # smaller marks are specks (working scale)
    speck_frac: float = bounded(0.12, 0.0, 1.0)  # marks smaller than this x line height too
    padding: int = bounded(4, 0, 12)  # margin in the 28x28 frame: digits fit in 28 - 2*p
    max_side: int = bounded(1200, 64, 8000)  # larger inputs are downscaled to this first
    min_side: int = bounded(84, 0, 1000)  # narrower inputs are enlarged to this first (0: never)
    # The lines of ruled or squared paper, photographed or scanned, are not ink
    # (`regions.without_paper_lines`). False: every mark on the page is ink.
    skip_paper_lines: bool = True
    max_components: int = bounded(64, 1, 10_000)  # more separate marks: refuse politely
    merge_overlap: float = bounded(0.55, 0.0, 1.0)  # x-overlap share that makes one digit
    # Marks that are no part of any digit are not read: a short mark standing apart
    # from every digit and shaped and placed like a dash (flat, mid-height) or a point
    # or comma (small, at the foot of the line), as in -42, 555-0199, 3.14 or 1,000
    # (`regions.punctuation_kind`), and a line drawn under or over the digits, apart
    # from them or through them (`regions.ruled_lines`). False: every mark is read.
    skip_marks: bool = True
    # Marks closer than this many pen widths (and 6% of the ink's height) are one piece
    # of ink: a thin stroke scanned or photographed small breaks into dashes. Used with
    # the line reader only (see `read_ink`). 0 takes the ink as it is.
    bridge_gap: float = bounded(1.5, 0.0, 10.0)
    # ... and this many times as far in a picture enlarged to `min_side` (a 16x16 scan
    # binarised): its pixels are coarse, and a break of a few of them is the
    # sampling's, not the writer's. 1: the same reach as any drawing.
    bridge_small: float = bounded(2.0, 1.0, 10.0)
    # A line of 3+ digits rising or falling by more than this is levelled (0: never).
    level_tilt_deg: float = bounded(4.0, 0.0, 45.0)
    split_aspect: float = bounded(1.15, 0.5, 10.0)  # width/height above which we try splits
    narrowest_digit: float = bounded(0.5, 0.1, 2.0)  # width/height, bounds how many per blob
    stroke_ratio: float = bounded(0.11, 0.02, 0.4)  # target stroke width / digit height
    redraw: bool = True  # thin and redraw strokes at stroke_ratio; off keeps the writer's pen
    # A pen already in MNIST's range (stroke width / the digit's longer side; MNIST's
    # digits span about 0.10-0.27) is kept as written: redrawing it only loses shape.
    # Set both to 0 and `erode_fat_pens` off to redraw every pen.
    keep_pen_min: float = bounded(0.09, 0.0, 1.0)
    keep_pen_max: float = bounded(0.25, 0.0, 1.0)
    # A pen fatter than keep_pen_max (a marker, a bold MNIST digit) is worn down to it
    # from the outside: its loops stay open where thinning would turn a loop the pen
    # nearly filled into a line (a bold 8 read as a 1). Off: thinned and redrawn.
    erode_fat_pens: bool = True
    work_size: int = bounded(64, 28, 512)  # crops are normalised at this size, then 20 px
    line_weight: float = bounded(1.0, 0.0, 100.0)  # the line reader's say in cuts (studio.py)
