"""The reading pipeline, start to end: ink in, `Reading` out.

    ink -> regions -> (line reader's view) -> cuts -> normalised pieces -> classifier
        -> options scored by both models -> the best per region -> digits with boxes

Each step lives in its own module of this package; this one only runs them in order.
The models come in as arguments (`judge`: the classifier's batch call), so the pipeline
runs with any classifier, with or without a line reader.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from src.models.line_reader import DecodedDigit, LineReader
from src.reading.config import SegmentConfig
from src.reading.cuts import candidates as find_candidates
from src.reading.fusion import (
    best_per_region,
    classifier_scores,
    label_options,
    line_scores,
)
from src.reading.line_view import LineView, view_regions
from src.reading.normalize import normalize_digits, upright
from src.reading.regions import Mark, find_digit_regions

Judge = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # see Studio.judge

# Confidence under which a digit is flagged and its runner-up shown. In the reading
# benchmark, 0.9 flags 65% of misread pen numbers and 12% of right ones (0.7: 40% and 3%):
# a warning on most mistakes is worth an amber chip on one right number in eight. The
# runner-up is the right digit for most misreads (top-2 accuracy on pen digits: 99.2%).
UNCERTAIN_BELOW = 0.9
NOTHING_DRAWN = "nothing drawn"  # what programs are told when no ink was found


@dataclass
class DigitReading:
    label: int
    confidence: float  # calibrated probability of `label`
    probabilities: list[float]  # all ten, calibrated
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in input pixels, exclusive ends
    line: int = 0  # 0 for the first line of writing, 1 for the next, ...
    # How the other model reads the ink this digit came from, when the line reader and
    # the per-digit classifier disagree there (for example "34" where "4" was kept).
    alternative: str = ""

    @property
    def runner_up(self) -> int:
        return int(np.argsort(self.probabilities)[-2])

    @property
    def uncertain(self) -> bool:
        return self.confidence < UNCERTAIN_BELOW or bool(self.alternative)


@dataclass
class Reading:
    text: str  # digits left to right, lines in order; "" when nothing was drawn
    digits: list[DigitReading]
    crops: torch.Tensor = field(repr=False)  # (N, 1, 28, 28): what the classifier saw
    message: str = ""  # for a person, when nothing could be read
    # Marks left out as no digit: a minus sign, point, comma or dash, a ruled line.
    marks_left_out: int = 0
    # The signs among them (not the lines), boxes in input pixels: `written` shows them.
    marks: list[Mark] = field(default_factory=list)
    # What the line reader saw, per line number, and working pixels per input pixel:
    # kept so its explanation needs no second pass.
    line_views: dict[int, LineView] = field(default_factory=dict, repr=False)
    scale: float = field(default=1.0, repr=False)

    @property
    def written(self) -> str:
        """The number as written: the digits with the signs among them (-20.25, 1,000,
        555-0199), in the order they stand, lines joined by " / ". `text` has the
        digits alone, which is what was read; this is how a person wrote them."""
        items = [(d.line, d.box, str(d.label)) for d in self.digits]
        items += [(m.line, m.box, m.kind) for m in self.marks]
        lines: dict[int, list[tuple[float, str]]] = {}
        for line, box, char in items:
            lines.setdefault(line, []).append(((box[0] + box[2]) / 2, char))
        return " / ".join("".join(c for _, c in sorted(lines[k])) for k in sorted(lines))

    @property
    def left_out_note(self) -> str:
        """For a person, when marks that are no digit were not read as digits ("" when
        none): the signs are shown in the number as written but are not part of `text`;
        a line under or over the digits, or a mark in broken ink, is left out."""
        signs, others = len(self.marks), self.marks_left_out - len(self.marks)
        parts = []
        if signs:
            shown = "the sign is" if signs == 1 else f"the {signs} signs are"
            parts.append(f"digits read: {self.text}, {shown} shown as written")
        if others:
            what = "1 other mark" if others == 1 else f"{others} other marks"
            parts.append(f"{what} (a line under or over them, a stray mark) left out")
        note = "; ".join(parts)
        return note[:1].upper() + note[1:] + "." if note else ""

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "digits": [
                {"label": d.label, "confidence": round(d.confidence, 4), "box": list(d.box)}
                for d in self.digits
            ],
            "message": self.message or ("" if self.digits else NOTHING_DRAWN),
            "marks_left_out": self.marks_left_out,
            "written": self.written,
        }


def read_ink(
    ink: np.ndarray,
    config: SegmentConfig,
    judge: Judge,
    line_reader: LineReader | None = None,
) -> Reading:
    """Read the number in an ink map (see `ink_map`). `judge` maps a batch of pieces
    (N, 1, 28, 28) to (digit probabilities (N, 10), P(one digit) (N,))."""
    # Bridging a scan's broken strokes also joins some close neighbours: harmless when
    # the line reader, which never cuts, counts the digits; the classifier alone would
    # read a narrow "41" as one digit (held-out writers' numbers: 88% -> 81%).
    if line_reader is None:
        config = replace(config, bridge_gap=0.0)
    segmentation = find_digit_regions(ink, config)
    regions = segmentation.regions
    if not regions:
        return Reading("", [], torch.zeros(0, 1, 28, 28), segmentation.message,
                       segmentation.marks_left_out)  # fmt: skip
    views: dict[int, LineView] = {}
    held: list[list[DecodedDigit]] = []
    if line_reader is not None:
        views, held = view_regions(line_reader, regions, segmentation.ink.shape)
    candidates = find_candidates(regions, config, views, held)
    crops = [upright(piece, regions[c.region].tilt) for c in candidates for piece, _ in c.pieces]
    batch = torch.from_numpy(normalize_digits(crops, config))
    probs, single = judge(batch.unsqueeze(1))
    offsets = np.cumsum([0] + [len(c.pieces) for c in candidates])
    options = label_options(candidates, offsets, probs, regions, views, held)
    by_classifier = classifier_scores(options, offsets, probs, single)
    scores = by_classifier
    if views:
        scores = by_classifier + config.line_weight * line_scores(
            options, candidates, regions, views
        )
    chosen = best_per_region(options, candidates, scores)
    # What the classifier reads: its labels on any cut on offer (the line reader's too:
    # a cut it could not find itself but agrees with is no disagreement), by its score.
    own = torch.tensor([0.0 if o.source == "classifier" else -math.inf for o in options])
    classifier_choice = best_per_region(options, candidates, by_classifier + own)

    digits, kept = [], []
    for region_index, index in sorted(chosen.items()):
        option = options[index]
        candidate, region = candidates[option.candidate], regions[region_index]
        alternative = ""
        if views:  # where the two readers disagree, the other one's reading
            line_text = "".join(str(d.label) for d in held[region_index])
            classifier_text = options[classifier_choice[region_index]].text
            others = (t for t in (line_text, classifier_text) if t and t != option.text)
            alternative = next(others, "")
        for k, (_, box) in enumerate(candidate.pieces):
            p, label = option.probabilities[k], option.labels[k]
            digits.append(
                DigitReading(
                    label, float(p[label]), p.tolist(),
                    to_input_box(box, segmentation.scale, ink.shape),
                    region.line, alternative,
                )
            )  # fmt: skip
            kept.append(offsets[option.candidate] + k)
    text = "".join(str(d.label) for d in digits)
    pieces = batch[kept].unsqueeze(1)
    marks = [
        replace(m, box=to_input_box(m.box, segmentation.scale, ink.shape))
        for m in segmentation.marks
    ]
    return Reading(text, digits, pieces, marks_left_out=segmentation.marks_left_out,
                   marks=marks, line_views=views, scale=segmentation.scale)  # fmt: skip


def to_input_box(
    box: tuple[int, int, int, int], scale: float, image_shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """A working-scale box in the input's pixels, clipped to the image."""
    h, w = image_shape[:2]
    x0, y0, x1, y1 = box
    return (
        max(0, math.floor(x0 / scale)),
        max(0, math.floor(y0 / scale)),
        min(w, math.ceil(x1 / scale)),
        min(h, math.ceil(y1 / scale)),
    )
