"""The studio's reading pipeline as plain Python: drawing in, number out.

    studio = Studio.load()
    reading = studio.read(image)        # reading.text == "2025"

The Gradio app (`demo.py`) only calls this module; tests and benchmarks use it directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.fusion import (
    LineView,
    aligned_cut,
    assign_digits,
    ctc_log_likelihoods,
    digit_probabilities,
    region_steps,
    view_lines,
)
from src.models.classifier import DigitClassifier, load_classifier
from src.models.line_reader import DecodedDigit, LineReader, load_line_reader
from src.utils.gradcam import METHODS, LineGradCAM
from src.utils.segmentation import (
    DrawingError,
    Region,
    SegmentConfig,
    find_digit_regions,
    ink_map,
    normalize_digit,
    split_region,
    typical_height,
)
from src.utils.visualization import digit_tiles, heatmap_overlays, line_overlays, tile_grid

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLASSIFIER = ROOT / "checkpoints" / "classifier.pth"
DEFAULT_VAE = ROOT / "checkpoints" / "vae.pth"
DEFAULT_LINE_READER = ROOT / "checkpoints" / "line_reader.pth"
# Confidence under which a digit is flagged and its runner-up shown. In the reading
# benchmark, 0.9 flags 65% of misread pen numbers and 12% of right ones (0.7: 40% and 3%):
# a warning on most mistakes is worth an amber chip on one right number in eight. The
# runner-up is the right digit for most misreads (top-2 accuracy on pen digits: 99.2%).
UNCERTAIN_BELOW = 0.9
LINE_METHOD = LineGradCAM.name  # the line reader's explanation, beside METHODS


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
    # What the line reader saw, per line number, and working pixels per input pixel:
    # kept so its explanation needs no second pass.
    line_views: dict[int, LineView] = field(default_factory=dict, repr=False)
    scale: float = field(default=1.0, repr=False)

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "digits": [
                {"label": d.label, "confidence": round(d.confidence, 4), "box": list(d.box)}
                for d in self.digits
            ],
            "message": self.message,
        }


@dataclass
class Analysis:
    """Everything the studio shows for one drawing, as plain arrays and numbers."""

    reading: Reading
    annotated: np.ndarray  # the drawing with the segmentation boxes, HxWx3 uint8
    heatmaps: list[np.ndarray]  # one overlay per digit, size x size x 3 uint8
    variations: list[np.ndarray]  # one grid of n VAE variations per digit
    morph: np.ndarray | None  # interpolation strip between two digits, when asked
    method: str
    timings_ms: dict[str, float]


@dataclass
class Option:
    """One candidate cut with one labelling: its pieces' ten-digit probabilities and
    whose they are ("classifier", or "both": classifier x line reader, renormalised)."""

    candidate: int
    probabilities: torch.Tensor  # (pieces, 10)
    source: str

    @property
    def labels(self) -> list[int]:
        return self.probabilities.argmax(dim=1).tolist()

    @property
    def text(self) -> str:
        return "".join(map(str, self.labels))


@dataclass
class Candidate:
    """One way to read a region: as one digit, or cut into several pieces."""

    region: int
    pieces: list[tuple[np.ndarray, tuple[int, int, int, int]]]  # (ink crop, working box)
    aligned: bool = False  # cut where the line reader's alignment put the boundaries


class Studio:
    def __init__(
        self,
        classifier: DigitClassifier,
        vae: Any = None,
        segment: SegmentConfig | None = None,
        line_reader: LineReader | None = None,
    ) -> None:
        self.classifier = classifier
        self.vae = vae
        self.segment = segment or SegmentConfig()
        self.line_reader = line_reader  # None: the classifier alone decides every cut
        self.device = next(classifier.parameters()).device

    @classmethod
    def load(
        cls,
        classifier_path: str | Path | None = None,
        vae_path: str | Path | None = None,
        device: str = "cpu",
        segment: SegmentConfig | None = None,
        line_reader_path: str | Path | None = None,
    ) -> Studio:
        """The shipped checkpoints by default; the VAE and the line reader are optional
        (reading works without them)."""
        from src.models.vae import load_vae

        classifier = load_classifier(classifier_path or DEFAULT_CLASSIFIER, device)
        vae_file = Path(vae_path or DEFAULT_VAE)
        vae = load_vae(vae_file, device) if vae_path or vae_file.exists() else None
        reader_file = Path(line_reader_path or DEFAULT_LINE_READER)
        line_reader = (
            load_line_reader(reader_file, device)
            if line_reader_path or reader_file.exists()
            else None
        )
        return cls(classifier, vae, segment, line_reader)

    # ------------------------------------------------------------------------ reading

    def read(self, image: Any) -> Reading:
        """Read the number in `image` (array, PIL image, path or sketchpad dict)."""
        return self.read_ink(ink_map(image))

    def read_ink(self, ink: np.ndarray) -> Reading:
        """Read the number in an ink map (see `ink_map`)."""
        segmentation = find_digit_regions(ink, self.segment)
        regions = segmentation.regions
        if not regions:
            return Reading("", [], torch.zeros(0, 1, 28, 28), segmentation.message)
        candidates = self._candidates(regions)
        views: dict[int, LineView] = {}
        held: list[list[DecodedDigit]] = [[] for _ in regions]
        if self.line_reader is not None:
            views, held = self._view_lines(regions, segmentation.ink.shape)
            for i, digits in enumerate(held):
                if len(digits) >= 2:  # the line reader's own cut, beside the even ones
                    view = views[regions[i].line]
                    pieces = aligned_cut(regions[i], view, digits)
                    candidates.append(Candidate(i, pieces, aligned=True))
        crops = [piece for c in candidates for piece, _ in c.pieces]
        batch = torch.from_numpy(np.stack([normalize_digit(p, self.segment) for p in crops]))
        probs, single = self.judge(batch.unsqueeze(1))
        offsets = np.cumsum([0] + [len(c.pieces) for c in candidates])
        options = self._label_options(candidates, offsets, probs, regions, views, held)
        by_classifier = self._classifier_scores(options, offsets, probs, single)
        scores = by_classifier
        if views:
            line_scores = self._line_scores(options, candidates, regions, views)
            scores = by_classifier + self.segment.line_weight * line_scores
        chosen = self._best_per_region(options, candidates, scores)
        # The classifier's own reading: its cuts, its labels, its score (what it reads alone).
        own = torch.tensor(
            [
                0.0
                if o.source == "classifier" and not candidates[o.candidate].aligned
                else -math.inf
                for o in options
            ]
        )
        classifier_choice = self._best_per_region(options, candidates, by_classifier + own)

        digits, kept = [], []
        for region_index, index in sorted(chosen.items()):
            option = options[index]
            candidate, region = candidates[option.candidate], regions[region_index]
            alternative = ""
            if views:
                line_text = "".join(str(d.label) for d in held[region_index])
                classifier_text = options[classifier_choice[region_index]].text
                alternative = next(
                    (t for t in (line_text, classifier_text) if t != option.text), ""
                )
            for k, (_, box) in enumerate(candidate.pieces):
                p = option.probabilities[k]
                label = option.labels[k]
                digits.append(
                    DigitReading(
                        label, float(p[label]), p.tolist(),
                        self._to_input_box(box, segmentation.scale, image_shape=ink.shape),
                        region.line, alternative,
                    )
                )  # fmt: skip
                kept.append(offsets[option.candidate] + k)
        text = "".join(str(d.label) for d in digits)
        crops = batch[kept].unsqueeze(1)
        return Reading(text, digits, crops, line_views=views, scale=segmentation.scale)

    def analyze(
        self,
        image: Any,
        method: str = "Grad-CAM",
        n_variations: int = 8,
        temperature: float = 1.0,
        morph: tuple[int, int] | None = None,
        morph_steps: int = 8,
        seed: int = 0,
        tile: int = 112,
    ) -> Analysis:
        """Read, explain and imagine: the reading, one heatmap and one grid of VAE
        variations per digit, each computed for all digits in one batched call."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        ink = ink_map(image)  # once: for a photo this is the costliest step
        reading = self.read_ink(ink)
        timings["read"] = _lap(clock)
        annotated = annotate(ink, reading)
        crops = reading.crops
        heatmaps: list[np.ndarray] = []
        variations: list[np.ndarray] = []
        morph_strip = None
        if len(crops):
            clock = time.perf_counter()
            if method == LINE_METHOD and reading.line_views:
                heatmaps = self.explain_lines(reading, height=tile)
            else:
                method = method if method in METHODS else "Grad-CAM"
                targets = torch.tensor([d.label for d in reading.digits])
                with METHODS[method](self.classifier) as explainer:
                    maps = explainer(crops.to(self.device), targets).cpu()
                heatmaps = list(heatmap_overlays(crops, maps, size=tile))
            timings["explain"] = _lap(clock)
            if self.vae is not None and n_variations > 0:
                clock = time.perf_counter()
                generator = torch.Generator().manual_seed(seed)
                samples = self.vae.variations(
                    crops.to(self.device), n_variations, temperature, generator
                )
                tiles = digit_tiles(samples.flatten(0, 1).cpu(), size=tile // 2)
                tiles = tiles.reshape(len(crops), n_variations, *tiles.shape[1:])
                columns = math.ceil(n_variations / 2) if n_variations > 3 else n_variations
                variations = [tile_grid(strip, columns, gap=2) for strip in tiles]
                if morph is not None and all(0 <= i < len(crops) for i in morph):
                    path = self.vae.interpolate(crops[morph[0]], crops[morph[1]], morph_steps)
                    morph_strip = tile_grid(digit_tiles(path.cpu(), size=tile // 2), gap=2)
                timings["imagine"] = _lap(clock)
        return Analysis(reading, annotated, heatmaps, variations, morph_strip, method, timings)

    def explain_lines(self, reading: Reading, height: int = 112) -> list[np.ndarray]:
        """Per digit, Grad-CAM of the line reader over the digit's whole line: which
        strokes made the line reader see this digit in this place. One batched pass."""
        if not reading.digits or self.line_reader is None:
            return []
        strips, targets = [], []
        for digit in reading.digits:
            view = reading.line_views[digit.line]
            start, stop = view.steps_within(
                digit.box[0] * reading.scale, digit.box[2] * reading.scale
            )
            strips.append(view.strip.image)
            targets.append((digit.label, start, stop))
        widths = [s.shape[1] for s in strips]
        batch = torch.zeros(len(strips), 1, strips[0].shape[0], max(widths))
        for i, strip in enumerate(strips):
            batch[i, 0, :, : widths[i]] = torch.from_numpy(strip)
        with LineGradCAM(self.line_reader) as explainer:
            maps = explainer(batch.to(self.device), torch.tensor(targets)).cpu()
        overlays = line_overlays(batch[:, 0], maps, height=height)
        scale = height / batch.shape[2]
        return [o[:, : round(w * scale)] for o, w in zip(overlays, widths, strict=True)]

    def classify(self, digits: torch.Tensor) -> torch.Tensor:
        """Calibrated digit probabilities for a batch (N, 1, 28, 28) in one forward pass."""
        return self.judge(digits)[0]

    @torch.no_grad()
    def judge(self, digits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For a batch (N, 1, 28, 28), in one forward pass: calibrated digit probabilities
        (N, 10) and the probability that each piece is one digit at all (N,)."""
        if len(digits) == 0:
            return torch.zeros(0, 10), torch.zeros(0)
        was_training = self.classifier.training
        self.classifier.eval()
        probs, single = self.classifier.reading_probs(digits.to(self.device))
        self.classifier.train(was_training)
        return probs.cpu(), single.cpu()

    def _candidates(self, regions: list[Region]) -> list[Candidate]:
        """Each region as one digit; over-wide ones also cut into 2..k pieces."""
        line_heights: dict[int, float] = {}
        for line in {r.line for r in regions}:
            line_heights[line] = typical_height(
                np.array([r.height for r in regions if r.line == line])
            )
        candidates = []
        for i, region in enumerate(regions):
            candidates.append(Candidate(i, [(region.mask, region.box)]))
            height = max(line_heights[region.line], region.height)
            if region.width > self.segment.split_aspect * height:
                expected = region.width / (self.segment.narrowest_digit * height)
                for k in range(2, max(2, math.ceil(expected)) + 1):
                    candidates.append(Candidate(i, split_region(region, k)))
        return candidates

    def _view_lines(
        self, regions: list[Region], shape: tuple[int, int]
    ) -> tuple[dict[int, LineView], list[list[DecodedDigit]]]:
        """The line reader over every line; which of its digits each region holds."""
        numbers = sorted({r.line for r in regions})
        members = [[i for i, r in enumerate(regions) if r.line == n] for n in numbers]
        line_regions = [[regions[i] for i in m] for m in members]
        views = dict(zip(numbers, view_lines(self.line_reader, line_regions, shape), strict=True))
        held: list[list[DecodedDigit]] = [[] for _ in regions]
        for n, m, in_line in zip(numbers, members, line_regions, strict=True):
            for i, digits in zip(m, assign_digits(views[n], in_line), strict=True):
                held[i] = digits
        return views, held

    @staticmethod
    def _label_options(
        candidates: list[Candidate],
        offsets: np.ndarray,
        probs: torch.Tensor,
        regions: list[Region],
        views: dict[int, LineView],
        held: list[list[DecodedDigit]],
    ) -> list[Option]:
        """Each candidate cut with the classifier's labels; where the line reader read as
        many digits in that region as the cut has pieces, also with the labels both
        agree on most: per piece, the product of the two models' probabilities."""
        options = []
        for index, candidate in enumerate(candidates):
            piece_probs = probs[offsets[index] : offsets[index + 1]]
            options.append(Option(index, piece_probs, "classifier"))
            line_digits = held[candidate.region]
            if len(line_digits) == len(candidate.pieces):
                view = views[regions[candidate.region].line]
                line_probs = torch.stack([digit_probabilities(view, d) for d in line_digits])
                joint = piece_probs * line_probs
                joint = joint / joint.sum(dim=1, keepdim=True).clamp_min(1e-12)
                seen = {options[-1].text}
                for p, source in ((joint, "both"), (line_probs, "line reader")):
                    option = Option(index, p, source)
                    if option.text not in seen:
                        options.append(option)
                        seen.add(option.text)
        return options

    @staticmethod
    def _classifier_scores(
        options: list[Option], offsets: np.ndarray, probs: torch.Tensor, single: torch.Tensor
    ) -> torch.Tensor:
        """Per option, how surely its pieces are digits, each one digit with its label:
        the mean log of P(one digit) x P(that label | one digit), by the classifier. Half
        a digit or two digits in one piece score low on the first factor."""
        scores = []
        for option in options:
            start = offsets[option.candidate]
            pieces = torch.arange(start, start + len(option.labels))
            p = probs[pieces, torch.tensor(option.labels)] * single[pieces]
            scores.append(p.clamp_min(1e-6).log().mean())
        return torch.stack(scores)

    @staticmethod
    def _line_scores(
        options: list[Option],
        candidates: list[Candidate],
        regions: list[Region],
        views: dict[int, LineView],
    ) -> torch.Tensor:
        """Per option, log P(its digits) under the line reader's CTC over the time steps
        its region owns: how well its count and labels fit what the line reader saw."""
        spans: dict[int, tuple[int, int]] = {}
        for line, view in views.items():
            in_line = [i for i, r in enumerate(regions) if r.line == line]
            steps = region_steps(view, [regions[i] for i in in_line])
            spans.update(zip(in_line, steps, strict=True))
        columns = []
        for option in options:
            region = candidates[option.candidate].region
            start, stop = spans[region]
            columns.append(views[regions[region].line].log_probs[start:stop])
        return ctc_log_likelihoods(columns, [o.labels for o in options])

    @staticmethod
    def _best_per_region(
        options: list[Option], candidates: list[Candidate], scores: torch.Tensor
    ) -> dict[int, int]:
        """Region index -> index of its best-scoring option."""
        best: dict[int, int] = {}
        for index, option in enumerate(options):
            region = candidates[option.candidate].region
            if region not in best or scores[index] > scores[best[region]]:
                best[region] = index
        return best

    @staticmethod
    def _to_input_box(
        box: tuple[int, int, int, int], scale: float, image_shape: tuple[int, ...]
    ) -> tuple[int, int, int, int]:
        h, w = image_shape[:2]
        x0, y0, x1, y1 = box
        return (
            max(0, math.floor(x0 / scale)),
            max(0, math.floor(y0 / scale)),
            min(w, math.ceil(x1 / scale)),
            min(h, math.ceil(y1 / scale)),
        )


def _lap(start: float) -> float:
    return (time.perf_counter() - start) * 1000


BOX_COLOURS = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 200, 200), (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40),
]  # fmt: skip


def annotate(ink: np.ndarray, reading: Reading, max_side: int = 900) -> np.ndarray:
    """The drawing as dark ink on white with each digit's box and label, at most
    `max_side` pixels wide or tall (a photo is shown small, a sketch as drawn)."""
    from PIL import Image, ImageDraw

    h, w = ink.shape
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    grey = (255 - np.clip(ink, 0, 1) * 230).astype(np.uint8)
    canvas = Image.fromarray(grey).resize(size, Image.BILINEAR).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(min(size) / 150))
    for i, digit in enumerate(reading.digits):
        colour = BOX_COLOURS[i % len(BOX_COLOURS)]
        x0, y0, x1, y1 = (round(v * scale) for v in digit.box)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=line)
        label = f"{digit.label} {digit.confidence:.0%}"
        draw.text((x0 + line + 1, max(0, y0 - 12)), label, fill=colour)
    return np.asarray(canvas)


__all__ = ["Analysis", "DigitReading", "DrawingError", "Reading", "Studio"]
