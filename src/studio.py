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

from src.models.classifier import DigitClassifier, load_classifier
from src.utils.gradcam import METHODS
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
from src.utils.visualization import digit_tiles, heatmap_overlays, tile_grid

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLASSIFIER = ROOT / "checkpoints" / "classifier.pth"
DEFAULT_VAE = ROOT / "checkpoints" / "vae.pth"
# Confidence under which a digit is flagged and its runner-up shown. In the reading
# benchmark, 0.9 flags 65% of misread pen numbers and 12% of right ones (0.7: 40% and 3%):
# a warning on most mistakes is worth an amber chip on one right number in eight. The
# runner-up is the right digit for most misreads (top-2 accuracy on pen digits: 99.2%).
UNCERTAIN_BELOW = 0.9


@dataclass
class DigitReading:
    label: int
    confidence: float  # calibrated probability of `label`
    probabilities: list[float]  # all ten, calibrated
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in input pixels, exclusive ends
    line: int = 0  # 0 for the first line of writing, 1 for the next, ...

    @property
    def runner_up(self) -> int:
        return int(np.argsort(self.probabilities)[-2])

    @property
    def uncertain(self) -> bool:
        return self.confidence < UNCERTAIN_BELOW


@dataclass
class Reading:
    text: str  # digits left to right, lines in order; "" when nothing was drawn
    digits: list[DigitReading]
    crops: torch.Tensor = field(repr=False)  # (N, 1, 28, 28): what the classifier saw
    message: str = ""  # for a person, when nothing could be read

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
class Candidate:
    """One way to read a region: as one digit, or cut into several pieces."""

    region: int
    pieces: list[tuple[np.ndarray, tuple[int, int, int, int]]]  # (ink crop, working box)


class Studio:
    def __init__(
        self,
        classifier: DigitClassifier,
        vae: Any = None,
        segment: SegmentConfig | None = None,
    ) -> None:
        self.classifier = classifier
        self.vae = vae
        self.segment = segment or SegmentConfig()
        self.device = next(classifier.parameters()).device

    @classmethod
    def load(
        cls,
        classifier_path: str | Path | None = None,
        vae_path: str | Path | None = None,
        device: str = "cpu",
        segment: SegmentConfig | None = None,
    ) -> Studio:
        """The shipped checkpoints by default; the VAE is optional for reading."""
        from src.models.vae import load_vae

        classifier = load_classifier(classifier_path or DEFAULT_CLASSIFIER, device)
        vae_file = Path(vae_path or DEFAULT_VAE)
        vae = load_vae(vae_file, device) if vae_path or vae_file.exists() else None
        return cls(classifier, vae, segment)

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
        crops = [piece for c in candidates for piece, _ in c.pieces]
        batch = torch.from_numpy(np.stack([normalize_digit(p, self.segment) for p in crops]))
        probs, single = self.judge(batch.unsqueeze(1))
        chosen = self._choose(candidates, probs, single)

        digits, kept = [], []
        for index in chosen:
            candidate, offset = candidates[index[0]], index[1]
            for k, (_, box) in enumerate(candidate.pieces):
                p = probs[offset + k]
                label = int(p.argmax())
                digits.append(
                    DigitReading(
                        label, float(p[label]), p.tolist(),
                        self._to_input_box(box, segmentation.scale, image_shape=ink.shape),
                        regions[candidate.region].line,
                    )
                )  # fmt: skip
                kept.append(offset + k)
        text = "".join(str(d.label) for d in digits)
        return Reading(text, digits, batch[kept].unsqueeze(1))

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

    @staticmethod
    def _choose(
        candidates: list[Candidate], probs: torch.Tensor, single: torch.Tensor
    ) -> list[tuple[int, int]]:
        """Per region, the reading whose pieces are most surely digits, each one digit:
        the mean log of P(one digit) x P(its digit | one digit) over its pieces. Half a
        digit or two digits in one piece score low on the first factor.

        Returns (candidate index, offset of its first piece in `probs`) in reading order.
        """
        piece_scores = (probs.max(dim=1).values * single).clamp_min(1e-6).log()
        best: dict[int, tuple[float, int, int]] = {}
        offset = 0
        for index, candidate in enumerate(candidates):
            n = len(candidate.pieces)
            score = float(piece_scores[offset : offset + n].mean())
            if candidate.region not in best or score > best[candidate.region][0]:
                best[candidate.region] = (score, index, offset)
            offset += n
        return [(index, offset) for _, (_, index, offset) in sorted(best.items())]

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
