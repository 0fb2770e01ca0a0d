"""Step 2, regions: threshold the ink (keeping faint strokes that continue dark ones),
find connected components (bridging the breaks a low-resolution scan puts in thin
strokes), drop specks, group them into lines, merge the pieces of one digit (a lifted 5
bar, a two-stroke 4), and order them: lines top to bottom, digits left to right."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from src.reading.config import SegmentConfig
from src.reading.ink import ink_box, lowest_stroke_level, pen_width, stroke_ink
from src.reading.raster import components, grown

INK_MARGIN = 2  # blank pixels kept around the ink (see `find_digit_regions`)


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
class Mark:
    """A sign that is no digit, left out of the reading but kept for showing the number
    as written: `kind` is "-" (a minus sign or a dash), "." or ","; `box` as a Region's."""

    kind: str
    box: tuple[int, int, int, int]
    line: int = 0


@dataclass
class Segmentation:
    regions: list[Region]
    scale: float  # working pixels per input pixel (< 1 for a photo, > 1 for a tiny image)
    ink: np.ndarray  # working-scale ink map
    message: str = ""  # why nothing was read, when that is the case
    marks_left_out: int = 0  # punctuation and ruled lines, not read (`SegmentConfig.skip_marks`)
    marks: list[Mark] = field(default_factory=list)  # the signs among them, to be shown


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
    tiny_and_two_valued = min(ink.shape) < config.min_side and is_two_valued(ink)
    ink, scale = to_working_scale(ink, config.max_side, config.min_side)
    if config.skip_paper_lines:
        ink = without_paper_lines(ink, config.faint or config.threshold)
    # The rest works within the box of the ink that can be stroke, a blank margin kept:
    # a sketchpad is mostly blank, and each pass over the whole frame (labels, filters,
    # boxes) costs its area. Nothing below depends on where the ink sits in the frame.
    found = ink_box(ink, lowest_stroke_level(config.threshold, config.faint))
    if found is None:
        return Segmentation([], scale, ink)
    frame = ink
    left, top = max(0, found[0] - INK_MARGIN), max(0, found[1] - INK_MARGIN)
    ink = ink[top : found[3] + INK_MARGIN, left : found[2] + INK_MARGIN]
    stroke = stroke_ink(ink, config.threshold, config.faint)
    mask = stroke > 0
    # Lines and signs are found among the marks as drawn, before bridging would join a
    # close one to the digits; not in a picture enlarged from a few pixels, whose marks
    # are broken by its sampling, so their heights do not tell how tall its digits are.
    rules, marks = 0, []
    if config.skip_marks and scale <= 1:
        labels = components(mask)[0]
        boxes = mark_boxes(labels)  # shared by both searches: finding boxes costs a pass
        lines_ink, rules = ruled_lines(mask, labels, boxes)
        if rules:
            mask &= ~lines_ink
            labels = components(mask)[0]
            boxes = mark_boxes(labels)
        signs_ink, marks = signs_apart(labels, boxes, config)
        mask &= ~signs_ink
    reach_factor = config.bridge_small if scale > 1 else 1.0
    labels, reach = connected_marks(mask, config.bridge_gap, reach_factor)
    boxes = mark_boxes(labels)
    ids, _ = sized_marks(labels, boxes, config)
    if len(ids) == 0:
        return Segmentation([], scale, frame)
    if len(ids) > config.max_components:
        return Segmentation(
            [], scale, frame,
            f"found {len(ids)} separate marks (more than {config.max_components}); "
            "this does not look like a handwritten number",
        )  # fmt: skip
    clear = clear_of_other_marks(labels, boxes[ids], ids + 1)
    # What only the bridged marks leave apart is no digit, but not shown as a sign: in
    # broken ink (a scan's thin pen) or a tiny picture it is as often a stroke's piece.
    groups, punctuation = _merge_pieces(boxes[ids], clear, config)
    # In a two-valued picture enlarged from a few pixels, a digit's ink in several marks
    # was broken by binarising it at that size, so they are joined. A grey one (a
    # blurred scan) keeps soft ink at its gaps, and its pieces joined were read no
    # better. A drawing's pieces stay as drawn, and so do those of a region wider than
    # a digit (two bridged neighbours, still to be cut).
    broken_by_sampling = tiny_and_two_valued and scale > 1 and reach
    pieces = components(mask)[0] if broken_by_sampling else None
    regions = []
    for members, line in groups:
        x0, y0, x1, y1 = box = union_box(boxes[ids[members]])
        inside = labelled(labels[y0:y1, x0:x1], ids[members] + 1)
        crop = stroke[y0:y1, x0:x1] * inside
        if pieces is not None and x1 - x0 <= config.split_aspect * (y1 - y0):
            crop = joined_pieces(crop, pieces[y0:y1, x0:x1] * inside, reach)
        regions.append(Region(box, crop, line))
    tilts = line_tilts(regions, config.level_tilt_deg)
    for region in regions:
        region.tilt = tilts.get(region.line, 0.0)
    marks = on_lines(marks, regions)
    left_out = rules + len(marks) + len(punctuation)
    for region in regions:
        region.box = shifted(region.box, left, top)
    marks = [replace(m, box=shifted(m.box, left, top)) for m in marks]
    return Segmentation(regions, scale, frame, marks_left_out=left_out, marks=marks)


def shifted(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[int, int, int, int]:
    """A box (x0, y0, x1, y1) moved right by `dx` and down by `dy`."""
    x0, y0, x1, y1 = box
    return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def is_two_valued(ink: np.ndarray) -> bool:
    """Whether the ink is all but fully on or off: a binarised picture (Semeion's and
    optdigits' bitmaps, a fax, a thresholded scan), not a grey one whose soft edges and
    faint ink tell where strokes run."""
    values = ink[ink > 0.05]
    return bool(values.size) and float(np.mean(values < 0.95)) < 0.02


def labelled(labels: np.ndarray, ids: np.ndarray | list[int]) -> np.ndarray:
    """Where `labels` holds one of `ids`: `np.isin`, by one comparison per id for the
    few ids a digit or a page's signs have (isin's setup costs several times more)."""
    ids = np.asarray(ids, labels.dtype).ravel()
    if len(ids) > 8:
        return np.isin(labels, ids)
    found = np.zeros(labels.shape, bool)
    for i in ids:
        found |= labels == i
    return found


def union_box(boxes: np.ndarray) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) around boxes (N, 4) of the same form."""
    return (
        int(boxes[:, 0].min()),
        int(boxes[:, 1].min()),
        int(boxes[:, 2].max()),
        int(boxes[:, 3].max()),
    )


def mark_boxes(labels: np.ndarray) -> np.ndarray:
    """The boxes (x0, y0, x1, y1) of components 1..count of `labels`: (count, 4)."""
    slices = ndimage.find_objects(labels)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices]
    return np.array(boxes, int).reshape(len(boxes), 4)


def sized_marks(
    labels: np.ndarray, boxes: np.ndarray, config: SegmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Of components 1..count of `labels` (their `mark_boxes`), the indices of those
    that are marks to read and of the specks: under `min_pixels`, nothing at all; a
    speck is small in both directions compared with the digits around it, while a flat
    stroke (a 5's bar, a 7's crossbar) is kept however thin."""
    none = np.zeros(0, int)
    count = len(boxes)
    if count == 0:
        return none, none
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    heights = boxes[:, 3] - boxes[:, 1]
    keep = areas >= config.min_pixels
    if not keep.any():
        return none, none
    extent = np.maximum(heights, boxes[:, 2] - boxes[:, 0])
    small = extent < config.speck_frac * typical_height(heights[keep])
    return np.flatnonzero(keep & ~small), np.flatnonzero(keep & small)


def signs_apart(
    labels: np.ndarray, boxes: np.ndarray, config: SegmentConfig
) -> tuple[np.ndarray, list[Mark]]:
    """The ink of the signs written among the digits (a minus sign, a dash, a point, a
    comma; see `punctuation_kind`), as drawn, and the signs. Found before bridging,
    which joins a dash or a point written close to a digit into it (in a probe of
    held-out writers' 555-0199s, 38% of the dashes were found after bridging, 83%
    before), and among specks a pen wide or more: a tapped point is often under the
    speck size, so 3.14 showed as 314. Not in broken ink (see below). `labels` are the
    marks as drawn (8-connected components, 1..count), `boxes` their `mark_boxes`."""
    none = np.zeros(labels.shape, bool), []
    ids, specks = sized_marks(labels, boxes, config)
    if not 0 < len(ids) <= config.max_components:
        return none
    # More pieces than digits is broken ink (a thin pen scanned small comes out dotted),
    # whose pieces can look like signs: there, only what bridging leaves apart is one.
    heights = boxes[ids, 3] - boxes[ids, 1]
    tall = int((heights >= _tall_cut(heights)).sum())
    if len(ids) - tall + len(specks) > tall:
        return none
    clear = clear_of_other_marks(labels, boxes[ids], ids + 1)
    groups, punctuation = _merge_pieces(boxes[ids], clear, config)
    signs = {
        ids[i] + 1: Mark(kind, union_box(boxes[ids[[i]]]))
        for i, kind in punctuation.items()
        if kind  # a stray mark is left out, not shown
    }
    digits = np.array([union_box(boxes[ids[members]]) for members, _ in groups])
    lines = np.array([line for _, line in groups])
    # A pen draws no dot narrower than itself: smaller specks are dust or a scan's grain.
    pen = pen_width(labels > 0) if len(specks) else 0.0
    extent = np.maximum(boxes[specks, 2] - boxes[specks, 0], boxes[specks, 3] - boxes[specks, 1])
    speck_clear = clear_of_other_marks(labels, boxes[specks], specks + 1) & (extent >= pen)
    for i in specks[speck_clear]:
        kind = small_sign_kind(boxes[i], digits, lines)
        if kind:
            signs[i + 1] = Mark(kind, union_box(boxes[[i]]))
    return labelled(labels, list(signs)), list(signs.values())


def on_lines(marks: list[Mark], regions: list[Region]) -> list[Mark]:
    """The marks, each given the line of digits nearest its middle, in reading order."""
    if not regions:
        return []
    middles = np.array([(r.box[1] + r.box[3]) / 2 for r in regions])
    placed = []
    for mark in marks:
        nearest = int(np.argmin(np.abs(middles - (mark.box[1] + mark.box[3]) / 2)))
        placed.append(replace(mark, line=regions[nearest].line))
    return sorted(placed, key=lambda m: (m.line, m.box[0]))


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
    marks less than `bridge_gap` pen widths apart counted as one, and that reach in
    pixels (0: none). A thin pen scanned or photographed small comes out as dots and
    dashes, and every dash would otherwise be read as a digit; gaps between written
    digits are wider than that. `reach_factor` widens both limits below (for pictures
    enlarged from a few pixels)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return components(mask)[0], 0
    # Everything below works within the ink's box: two marks whose grown squares meet
    # also meet inside it.
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    # ... and never more than a small share of the ink's height: a fat pen's gaps
    # between digits can be under two pen widths.
    limit = min(bridge_gap * pen_width(mask[box]) / 2, 0.06 * (rows[-1] - rows[0] + 1))
    reach = round(reach_factor * limit)
    if reach < 1:
        return components(mask)[0], 0
    labels = np.zeros(mask.shape, np.int32)
    labels[box] = components(grown(mask[box], reach))[0]
    labels[~mask] = 0
    return labels, reach


def joined_pieces(crop: np.ndarray, pieces: np.ndarray, reach: int) -> np.ndarray:
    """A digit's ink `crop` with its separate `pieces` (labels within the crop, 0
    elsewhere) joined: each to the nearest of the others by a straight stroke of the
    ink's pen width and median strength, along a spanning tree of the pieces, where they
    are within bridging `reach` (2 * reach px, the reach of both). A thin pen binarised
    at 16 px leaves a digit as dots, and thinned dots are redrawn as dots, which the
    classifier never saw; joining fills the gaps only, not the loops a closing fills."""
    ids = [int(i) for i in np.unique(pieces) if i]
    if not 2 <= len(ids) <= 64:
        return crop
    pixels = [np.nonzero(pieces == i) for i in ids]
    # length[a, b], ends[a, b]: the shortest way from piece b to piece a, (x, y) ends.
    length, ends = np.zeros((len(ids), len(ids))), {}
    for a, i in enumerate(ids):
        distance, (near_y, near_x) = ndimage.distance_transform_edt(
            pieces != i, return_indices=True
        )
        for b, (ys, xs) in enumerate(pixels):
            k = int(np.argmin(distance[ys, xs]))
            length[a, b] = distance[ys[k], xs[k]]
            ends[a, b] = ((xs[k], ys[k]), (near_x[ys[k], xs[k]], near_y[ys[k], xs[k]]))
    joined, strokes = {0}, []
    while len(joined) < len(ids):  # Prim: always the shortest link out of the tree
        out = [(a, b) for a in joined for b in set(range(len(ids))) - joined]
        a, b = min(out, key=lambda link: length[link])
        joined.add(b)
        if length[a, b] <= 2 * reach:
            strokes.append(ends[a, b])
    if not strokes:
        return crop
    canvas = Image.new("L", (crop.shape[1], crop.shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(pen_width(pieces > 0)))
    for (x0, y0), (x1, y1) in strokes:
        draw.line([(int(x0), int(y0)), (int(x1), int(y1))], fill=255, width=width)
    drawn = np.asarray(canvas) > 0
    return np.maximum(crop, drawn * float(np.median(crop[pieces > 0])))


def clear_of_other_marks(labels: np.ndarray, boxes: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Per mark, whether no other mark's ink lies in its box grown by half its height
    up and down: whether it stands apart from the digits in the rows it spans. A dash
    between two slanted digits often shares columns with one of them, never ink; a 7's
    crossbar has the 7's stem through it, a 1's base the stem's foot just above it."""
    clear = np.ones(len(boxes), bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        grow = (y1 - y0 + 1) // 2
        window = labels[max(0, y0 - grow) : y1 + grow, x0:x1]
        clear[i] = not ((window > 0) & (window != own[i])).any()
    return clear


def _merge_pieces(
    boxes: np.ndarray, clear: np.ndarray, config: SegmentConfig
) -> tuple[list[tuple[list[int], int]], dict[int, str]]:
    """Group component indices into digits: [(members, line number)] in reading order
    (lines top to bottom, digits left to right within a line), and the components left
    out: {index: its kind, see `punctuation_kind`; "" for a stray mark}. A short mark
    can be punctuation only where it is `clear` of the other marks' ink."""
    n = len(boxes)
    if n == 0:
        return [], {}
    heights = boxes[:, 3] - boxes[:, 1]
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def x_overlap(a: int, b: int) -> int:
        return min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0])

    def join_sharing_width(pieces: list[int]) -> None:
        """Pieces that share most of the narrower one's width become one digit."""
        for a_pos, a in enumerate(pieces):
            for b in pieces[a_pos + 1 :]:
                narrower = min(boxes[a, 2] - boxes[a, 0], boxes[b, 2] - boxes[b, 0])
                if x_overlap(a, b) >= config.merge_overlap * max(narrower, 1):
                    parent[find(a)] = find(b)

    tall_cut = _tall_cut(heights)
    lines = _group_lines(boxes, heights)
    dropped: dict[int, str] = {}
    for line in lines:
        tall = sorted((i for i in line if heights[i] >= tall_cut), key=lambda i: boxes[i, 0])
        # Two tall pieces are one digit when they share most of their width (a 4 drawn
        # in two strokes); neighbours that merely touch or slant into each other are not.
        join_sharing_width(tall)
        # A short piece cannot be a digit on its own (a lifted bar, a flag, a dot): it
        # joins the tall piece it overlaps most, or the nearest one close beside it,
        # unless it stands apart from them all and looks like punctuation: then it is
        # no part of any digit, and not read.
        if not tall:
            continue
        top, foot = float(np.median(boxes[tall, 1])), float(np.median(boxes[tall, 3]))
        loose = []
        for i in (i for i in line if heights[i] < tall_cut):
            best = max(tall, key=lambda t: x_overlap(i, t))
            apart = clear[i] and not within_columns(boxes[i], boxes[tall])
            kind = punctuation_kind(boxes[i], top, foot) if apart and config.skip_marks else ""
            if kind:
                dropped[i] = kind
            elif x_overlap(i, best) > -0.3 * heights[best]:
                parent[find(i)] = find(best)
            else:
                loose.append(i)
        # Short pieces far from every tall one join each other the same way: a digit
        # whose stroke broke into an upper and a lower half (a scanned 3 or 5) was
        # read as two digits. What stays under a quarter of a digit's height both ways
        # is no digit at all but a stray mark (a blot beside a scanned 1 was read as a
        # 0): left out, kind "". A broken stroke's pieces are larger.
        join_sharing_width(loose)
        for root in {find(i) for i in loose}:
            members = [i for i in loose if find(i) == root]
            x0, y0, x1, y1 = union_box(boxes[members])
            if max(x1 - x0, y1 - y0) < 0.5 * tall_cut:
                dropped.update(dict.fromkeys(members, ""))
    groups: dict[int, list[int]] = {}
    for i in (i for i in range(n) if i not in dropped):
        groups.setdefault(find(i), []).append(i)
    line_of = {i: k for k, line in enumerate(lines) for i in line}
    result = [(members, line_of[members[0]]) for members in groups.values()]
    return sorted(result, key=lambda g: (g[1], boxes[g[0], 0].min())), dropped


def small_sign_kind(box: np.ndarray, digits: np.ndarray, lines: np.ndarray) -> str:
    """What a speck (x0, y0, x1, y1) clear of other ink (`clear_of_other_marks`) is as a
    sign ("" for none, see `punctuation_kind`), judged against the line of `digits`
    (their boxes, and line numbers in `lines`) it sits on: within a quarter of their
    height above or below them."""
    middle = (box[1] + box[3]) / 2
    for line in np.unique(lines):
        mine = digits[lines == line]
        top, foot = np.median(mine[:, 1]), np.median(mine[:, 3])
        margin = 0.25 * (foot - top)
        if not top - margin <= middle <= foot + margin:
            continue
        if within_columns(box, mine):
            return ""
        return punctuation_kind(box, float(top), float(foot))
    return ""


def within_columns(box: np.ndarray, digits: np.ndarray) -> bool:
    """Whether over half of a mark's width (x0, y0, x1, y1) lies within the columns of
    one of `digits` (N, 4): then it is a piece of that digit (a 7's crossbar written
    apart from its stem), not a sign beside it."""
    overlaps = np.minimum(box[2], digits[:, 2]) - np.maximum(box[0], digits[:, 0])
    return bool((overlaps > 0.5 * (box[2] - box[0])).any())


def punctuation_kind(box: np.ndarray, top: float, foot: float) -> str:
    """What a short mark (x0, y0, x1, y1) on a line whose digits span `top` to `foot`
    is shaped and placed like: "-", a dash or minus sign (wider than tall, by a quarter
    at least, as a short dash with a fat brush is, and under a quarter of the digits'
    height, its middle in their middle half); "." or ",", a point or a comma (under 40%
    of their height each way, its middle in their lowest quarter or below; a comma is
    the one a third again as tall as wide, a point is a dot); "" for neither. A lifted
    5 bar sits at the top, a 7's crossbar across its 7 (see `clear_of_other_marks`)."""
    height = max(foot - top, 1.0)
    w, h = box[2] - box[0], box[3] - box[1]
    middle = ((box[1] + box[3]) / 2 - top) / height  # 0 at the digits' top, 1 at their foot
    if w >= 1.25 * h and h <= 0.25 * height and 0.25 <= middle <= 0.75:
        return "-"
    if w <= 0.4 * height and h <= 0.4 * height and middle >= 0.75:
        return "," if h >= 1.35 * w else "."
    return ""


def ruled_lines(mask: np.ndarray, labels: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, int]:
    """The ink of lines drawn under or over the digits, and how many: such a line is
    no part of any digit, and joined to one it ruins its reading (an underlined 94460
    read 24462). A line apart from the digits is a mark of its own (see `is_rule`); one
    that touches them is the horizontal runs of ink longer than 1.4 times the digits'
    height, which no digit's stroke makes (a 7's top or a 2's base is under one height)
    while a line under two digits is that long: taking them out cuts the digits where
    they cross it. `labels` are the mask's 8-connected components, 1..count, `boxes`
    their `mark_boxes`."""
    count = len(boxes)
    if count == 0:
        return np.zeros_like(mask), 0
    digit_height = typical_height(boxes[:, 3] - boxes[:, 1])
    rules = [i + 1 for i, box in enumerate(boxes) if count > 1 and is_rule(box, digit_height)]
    lines = labelled(labels, rules)
    length = round(1.4 * digit_height)
    if length >= 8 and (boxes[:, 2] - boxes[:, 0]).max() >= length:
        touching = horizontal_runs(mask & ~lines, length)
        if touching.any():
            return lines | touching, len(rules) + 1
    return lines, len(rules)


def without_paper_lines(ink: np.ndarray, faint: float, fewest: int = 3) -> np.ndarray:
    """The ink without the lines printed on ruled or squared paper, photographed or
    scanned: straight horizontal or vertical runs of ink (at least half `faint`) across 90%
    of the picture, thin against their length, at least `fewest` of them, and beside
    them the thin runs a turned page's corner cuts short (from a side of the frame out
    through its top or foot). Where a stroke crosses or follows a line, the ink above
    the line's own level stays. A digit's strokes never make that many such lines, so
    drawings come back as they were; read as ink, squared paper joined every digit
    into one mark."""
    loose = ink >= faint
    # Looked for down to half that level: a pale line thinner than a pixel, crossing the
    # rows at a slant, leaves as little as half its darkness in each, so at `faint` it
    # falls apart into dashes too short to be found, which join the digits they touch.
    seen = ink >= faint / 2
    # Looked for on a copy reduced by a block maximum (a thin line survives it): a few
    # milliseconds less per read, and more slack for a line photographed askew.
    f = max(1, min(ink.shape) // 100)
    small = seen[::f, ::f].copy()
    for dy in range(f):
        for dx in range(f):
            part = seen[dy::f, dx::f]
            small[: part.shape[0], : part.shape[1]] |= part
    if not (spans_most(small.any(axis=0)) or spans_most(small.any(axis=1))):
        return ink  # no run can cross 90% of the picture: a drawing, not a page
    found = np.zeros(small.shape, np.int32)  # line number per reduced pixel, 0: none
    count = 0
    cut_by_corner = []  # thin pieces running from a side of the frame out through its top or foot
    for along in (small, small.T):  # horizontal lines, then vertical ones
        extent = along.shape[1]
        if extent < 24:
            continue
        # Runs an eighth of the way at a time, with two pixels of slack across, so a line
        # a few degrees askew is still found (held-out writers' numbers on a grid
        # photographed 4 degrees askew: 78% read right, against 60% without slack); a
        # sixth rose too far along a ruled line turned 5-6 degrees and lost its ends.
        wide = ndimage.maximum_filter1d(along, 5, axis=0)
        on_runs = horizontal_runs(wide, extent // 8) & along
        pieces, _ = components(on_runs)
        lines = found if along is small else found.T
        for i, box in enumerate(ndimage.find_objects(pieces), start=1):
            rows, cols = box
            line = pieces[box] == i
            span = cols.stop - cols.start
            # Thin on average: where strokes or the crossing lines join it, a line's
            # box grows, but not the ink per column it holds.
            thin = (
                line.sum() <= (0.03 * extent + 3) * span
                and rows.stop - rows.start <= 0.15 * extent + 4
            )
            if span >= 0.9 * extent and thin:
                count += 1
                lines[box][line] = count
            elif (
                thin
                and (cols.start == 0 or cols.stop == extent)
                and (rows.start == 0 or rows.stop == along.shape[0])
            ):
                cut_by_corner.append((lines, box, line))
    if count < fewest:
        return ink
    # On a page that fills a photo taken askew, a line near a corner leaves the frame
    # through its top or foot before it spans 90% of it; left in, it joins the digits
    # it passes (squared pages turned 2-6 degrees). Only taken out beside full lines:
    # that many pieces touching a side and an edge are no digit's strokes.
    for lines, box, line in cut_by_corner:
        count += 1
        lines[box][line] = count
    found = np.repeat(np.repeat(found, f, axis=0), f, axis=1)[: ink.shape[0], : ink.shape[1]]
    found = np.where(loose, found, 0)
    # Each line's level, from its pixels paler than a pen's core: a stroke that runs
    # along a line for a while (a 1 beside a vertical one) is found with it.
    levels = np.zeros(count + 1, np.float32)
    pale = np.where(ink < 0.9, found, 0)
    levels[1:] = np.nan_to_num(ndimage.median(ink, pale, np.arange(1, count + 1)))
    above = ink - levels[found]
    return np.where(found > 0, np.where(above >= faint, above, 0.0), ink).astype(np.float32)


def spans_most(occupied: np.ndarray, share: float = 0.9) -> bool:
    """Whether the occupied cells of a row or column (bool) span `share` of its length:
    `without_paper_lines` asks it first, since no line can be longer than the ink."""
    cells = np.flatnonzero(occupied)
    return bool(len(cells)) and cells[-1] - cells[0] + 1 >= share * len(occupied)


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
