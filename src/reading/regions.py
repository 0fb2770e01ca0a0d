"""Step 2, regions: threshold the ink (keeping faint strokes that continue dark ones),
find connected components (bridging the breaks a low-resolution scan puts in thin
strokes), drop specks, group them into lines, merge the pieces of one digit (a lifted 5
bar, a two-stroke 4), and order them: lines top to bottom, digits left to right."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from src.reading.config import SegmentConfig
from src.reading.ink import pen_width, stroke_ink


@dataclass
class Region:
    """One digit candidate: which components it holds and its box (x0, y0, x1, y1),
    exclusive ends, in working-scale pixels. `mask` is its ink inside the box."""

    box: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)
    line: int = 0
    tilt: float = 0.0  # slope (dy/dx) of its line, where the line rises or falls (`line_tilts`)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass
class Segmentation:
    regions: list[Region]
    scale: float  # working pixels per input pixel (< 1 for a photo, > 1 for a tiny image)
    ink: np.ndarray  # working-scale ink map
    message: str = ""  # why nothing was read, when that is the case
    marks_left_out: int = 0  # punctuation and ruled lines, not read (`SegmentConfig.skip_marks`)


def to_working_scale(ink: np.ndarray, max_side: int, min_side: int = 0) -> tuple[np.ndarray, float]:
    """The ink at the scale reading works at, and working pixels per input pixel: a
    large photo shrunk so its longer side is `max_side`; a small picture (a 16x16 or
    28x28 digit from a dataset, a strip cut from a scan) enlarged smoothly so its
    shorter side is `min_side`, as MNIST's studio views are made, since specks, gaps
    and pens are judged in pixels tuned on drawings of that size or more."""
    longer, shorter = max(ink.shape), min(ink.shape)
    scale = min(1.0, max_side / longer)
    if 0 < shorter < min_side:
        scale = min(min_side / shorter, max_side / longer)
    if scale != 1.0:
        size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        resample = Image.BOX if scale < 1.0 else Image.BILINEAR
        ink = np.asarray(Image.fromarray(ink).resize(size, resample))
    return ink, scale


def find_digit_regions(ink: np.ndarray, config: SegmentConfig) -> Segmentation:
    """Connected components of the ink, specks dropped, pieces merged, lines ordered."""
    ink, scale = to_working_scale(ink, config.max_side, config.min_side)
    stroke = stroke_ink(ink, config.threshold, config.faint)
    mask = stroke > 0
    # Lines are found among the marks as drawn, before bridging would join a close one
    # to the digits; not in a picture enlarged from a few pixels, whose marks are
    # broken by its sampling, so their heights do not tell how tall its digits are.
    rules = 0
    if config.skip_marks and scale <= 1:
        lines_ink, rules = ruled_lines(mask)
        mask &= ~lines_ink
    reach_factor = config.bridge_small if scale > 1 else 1.0
    labels, count = connected_marks(mask, config.bridge_gap, reach_factor)
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
    groups, punctuation = _merge_pieces(boxes[ids], heights[ids], config)
    regions = []
    for members, line in groups:
        x0, y0 = boxes[ids[members], 0].min(), boxes[ids[members], 1].min()
        x1, y1 = boxes[ids[members], 2].max(), boxes[ids[members], 3].max()
        inside = np.isin(labels[y0:y1, x0:x1], ids[members] + 1)
        regions.append(
            Region((int(x0), int(y0), int(x1), int(y1)), stroke[y0:y1, x0:x1] * inside, line)
        )
    tilts = line_tilts(regions, config.level_tilt_deg)
    for region in regions:
        region.tilt = tilts.get(region.line, 0.0)
    return Segmentation(regions, scale, ink, marks_left_out=rules + punctuation)


def line_tilts(regions: list[Region], min_deg: float) -> dict[int, float]:
    """Per line of three or more digits, the slope of the line through their centres,
    where it rises or falls by more than `min_deg` degrees (a number written uphill on
    the sketchpad, a photo taken askew); the line reader and the classifier then see
    it levelled. Fewer digits, or a line within `min_deg` of level, give no entry:
    digits' own ups and downs are not a tilt. `min_deg` 0 turns levelling off."""
    tilts: dict[int, float] = {}
    if min_deg <= 0:
        return tilts
    for line in {r.line for r in regions}:
        boxes = np.array([r.box for r in regions if r.line == line], np.float64)
        if len(boxes) < 3:
            continue
        xs, ys = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        if np.ptp(xs) < 1:
            continue
        slope = float(np.polyfit(xs, ys, 1)[0])
        if min_deg < abs(np.degrees(np.arctan(slope))) <= 45:
            tilts[line] = slope
    return tilts


def connected_marks(
    mask: np.ndarray, bridge_gap: float, reach_factor: float = 1.0
) -> tuple[np.ndarray, int]:
    """Connected components of the ink (labels 1..count on ink pixels, 0 elsewhere),
    marks less than `bridge_gap` pen widths apart counted as one. A thin pen scanned or
    photographed small comes out as dots and dashes, and every dash would otherwise be
    read as a digit; gaps between written digits are wider than that. `reach_factor`
    widens both limits below (for pictures enlarged from a few pixels)."""
    eight = np.ones((3, 3), bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return ndimage.label(mask, structure=eight)
    # Everything below works within the ink's box: two marks whose grown squares meet
    # also meet inside it.
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    # ... and never more than a small share of the ink's height: a fat pen's gaps
    # between digits can be under two pen widths.
    limit = min(bridge_gap * pen_width(mask[box]) / 2, 0.06 * (rows[-1] - rows[0] + 1))
    reach = round(reach_factor * limit)
    if reach < 1:
        return ndimage.label(mask, structure=eight)
    # Grown by a square: a max filter is separable, its cost does not grow with the pen.
    labels = np.zeros(mask.shape, np.int32)
    labels[box], count = ndimage.label(
        ndimage.maximum_filter(mask[box], size=2 * reach + 1), structure=eight
    )
    labels[~mask] = 0
    return labels, count


def _merge_pieces(
    boxes: np.ndarray, heights: np.ndarray, config: SegmentConfig
) -> tuple[list[tuple[list[int], int]], int]:
    """Group component indices into digits: [(members, line number)] in reading order
    (lines top to bottom, digits left to right within a line), and how many components
    were left out as punctuation."""
    n = len(boxes)
    if n == 0:
        return [], 0
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
    dropped: set[int] = set()
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
        # joins the tall piece it overlaps most, or the nearest one close beside it,
        # unless it stands apart from them all and looks like punctuation: then it is
        # no part of any digit, and not read.
        if not tall:
            continue
        top, foot = float(np.median(boxes[tall, 1])), float(np.median(boxes[tall, 3]))
        for i in (i for i in line if heights[i] < tall_cut):
            best = max(tall, key=lambda t: x_overlap(i, t))
            apart = x_overlap(i, best) <= 0
            if apart and config.skip_marks and is_punctuation(boxes[i], top, foot):
                dropped.add(i)
            elif x_overlap(i, best) > -0.3 * heights[best]:
                parent[find(i)] = find(best)
    groups: dict[int, list[int]] = {}
    for i in (i for i in range(n) if i not in dropped):
        groups.setdefault(find(i), []).append(i)
    line_of = {i: k for k, line in enumerate(lines) for i in line}
    result = [(members, line_of[members[0]]) for members in groups.values()]
    return sorted(result, key=lambda g: (g[1], boxes[g[0], 0].min())), len(dropped)


def is_punctuation(box: np.ndarray, top: float, foot: float) -> bool:
    """Whether a short mark (x0, y0, x1, y1) on a line whose digits span `top` to
    `foot` is shaped and placed like a dash (flat: at least twice as wide as tall and
    under a quarter of the digits' height, its middle in their middle half), or like a
    point or comma (under 40% of their height each way, its middle in their lowest
    quarter or below). A lifted 5 bar sits at the top, a 7's crossbar across its 7."""
    height = max(foot - top, 1.0)
    w, h = box[2] - box[0], box[3] - box[1]
    middle = ((box[1] + box[3]) / 2 - top) / height  # 0 at the digits' top, 1 at their foot
    dash = w >= 2 * h and h <= 0.25 * height and 0.25 <= middle <= 0.75
    point = w <= 0.4 * height and h <= 0.4 * height and middle >= 0.75
    return bool(dash or point)


def ruled_lines(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The ink of lines drawn under or over the digits, and how many: such a line is
    no part of any digit, and joined to one it ruins its reading (an underlined 94460
    read 24462). A line apart from the digits is a mark of its own (see `is_rule`); one
    that touches them is the horizontal runs of ink longer than two digits are tall,
    which no digit's stroke makes: taking them out cuts the digits where they cross it."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(mask), 0
    slices = ndimage.find_objects(labels)
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices])
    digit_height = typical_height(boxes[:, 3] - boxes[:, 1])
    rules = [i + 1 for i, box in enumerate(boxes) if count > 1 and is_rule(box, digit_height)]
    lines = np.isin(labels, rules) if rules else np.zeros_like(mask)
    length = round(2 * digit_height)
    if length >= 8 and (boxes[:, 2] - boxes[:, 0]).max() >= length:
        touching = horizontal_runs(mask & ~lines, length)
        if touching.any():
            return lines | touching, len(rules) + 1
    return lines, len(rules)


def horizontal_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """The pixels of `mask` in horizontal runs of at least `length`: an opening by a
    1 x length bar, as two running filters (their cost does not grow with `length`)."""
    inside = ndimage.uniform_filter1d(mask.astype(np.float32), length, axis=1, mode="constant")
    return ndimage.maximum_filter1d(inside > 1 - 1e-4, length, axis=1) & mask


def is_rule(box: np.ndarray, digit_height: float) -> bool:
    """Whether a short mark (x0, y0, x1, y1) is a line ruled under or over digits
    `digit_height` tall: flat (at least four times as wide as tall, under a quarter of
    their height) and wider than any one digit (1.2 times their height). No piece of a
    digit is that wide: a 5's bar or a 7's crossbar is about half of it."""
    w, h = box[2] - box[0], box[3] - box[1]
    return bool(w >= 4 * h and h <= 0.25 * digit_height and w >= 1.2 * digit_height)


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
