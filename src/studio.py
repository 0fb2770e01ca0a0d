"""The studio as plain Python: its models loaded once, and what the page shows.

    studio = Studio.load()
    reading = studio.read(image)        # reading.text == "2025"
    reading.written                     # "-20.25" when a minus sign and a point were drawn
    analysis = studio.analyze(image)    # + heatmaps, VAE variations, morph

Reading itself is `src/reading/` (ink -> regions -> cuts -> line reader and classifier
-> digits); this facade binds it to the shipped models and adds the explanations and
the VAE. The Gradio app (`demo.py`) only calls this module; tests and benchmarks too.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.checkpoint import CheckpointError
from src.models.classifier import DigitClassifier, load_classifier
from src.models.line_reader import LineReader, load_line_reader
from src.models.style_vae import StyleVAE, load_style_vae
from src.reading.config import SegmentConfig
from src.reading.ink import DrawingError, box_pen_widths, ink_map
from src.reading.line_view import strip_batch
from src.reading.pipeline import UNCERTAIN_BELOW, DigitReading, Reading, read_ink
from src.report import report_html, write_report
from src.restyle import (
    RestyleError,
    check_text,
    hand_of,
    write_number,
)
from src.runtime import eval_mode
from src.utils.gradcam import METHODS, LineGradCAM
from src.utils.visualization import digit_tiles, heatmap_overlays, line_overlays, tile_grid

log = logging.getLogger("digit_studio")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLASSIFIER = ROOT / "checkpoints" / "classifier.pth"
DEFAULT_VAE = ROOT / "checkpoints" / "vae.pth"
DEFAULT_LINE_READER = ROOT / "checkpoints" / "line_reader.pth"
DEFAULT_STYLE_VAE = ROOT / "checkpoints" / "style_vae.pth"
LINE_METHOD = LineGradCAM.name  # the line reader's explanation, beside METHODS


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
    # Stroke width over digit height, the median over the digits read (0: none read):
    # how fat the pen is for the writing (see `ui.thick_pen_hint`).
    pen_ratio: float = 0.0


class Studio:
    def __init__(
        self,
        classifier: DigitClassifier,
        vae: Any = None,
        segment: SegmentConfig | None = None,
        line_reader: LineReader | None = None,
        style_vae: StyleVAE | None = None,
    ) -> None:
        self.classifier = classifier
        self.vae = vae
        self.segment = segment or SegmentConfig()
        self.line_reader = line_reader  # None: the classifier alone decides every cut
        self.style_vae = style_vae  # None: no restyling
        self.warnings: list[str] = []  # optional models that could not be loaded, and why
        self.device = next(classifier.parameters()).device

    @classmethod
    def load(
        cls,
        classifier_path: str | Path | None = None,
        vae_path: str | Path | None = None,
        device: str = "cpu",
        segment: SegmentConfig | None = None,
        line_reader_path: str | Path | None = None,
        style_vae_path: str | Path | None = None,
    ) -> Studio:
        """The shipped checkpoints by default. The classifier is required; the VAEs and
        the line reader are optional: one that is missing or cannot be loaded turns its
        feature off, and `studio.warnings` says which and why (reading still works)."""
        from src.models.vae import load_vae

        warnings: list[str] = []

        def optional(given: str | Path | None, default: Path, load: Any, what: str) -> Any:
            path = Path(given or default)
            if not given and not path.exists():
                return None
            try:
                return load(path, device)
            except CheckpointError as e:
                warnings.append(f"{what} is off: {e}")
                log.warning("%s is off: %s", what, e)
                return None

        classifier = load_classifier(classifier_path or DEFAULT_CLASSIFIER, device)
        vae = optional(vae_path, DEFAULT_VAE, load_vae, "the VAE (variations, morph)")
        line_reader = optional(
            line_reader_path, DEFAULT_LINE_READER, load_line_reader, "the line reader"
        )
        style_vae = optional(
            style_vae_path, DEFAULT_STYLE_VAE, load_style_vae, "the style VAE (restyling)"
        )
        studio = cls(classifier, vae, segment, line_reader, style_vae)
        studio.warnings = warnings
        return studio

    # ------------------------------------------------------------------------ reading

    def read(self, image: Any) -> Reading:
        """Read the number in `image` (array, PIL image, path or sketchpad dict)."""
        return self.read_ink(ink_map(image))

    def read_ink(self, ink: np.ndarray) -> Reading:
        """Read the number in an ink map (see `ink_map`)."""
        return read_ink(ink, self.segment, self.judge, self.line_reader)

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
        pen_ratio = pen_for_size(ink, reading, self.segment.threshold)
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
        return Analysis(
            reading, annotated, heatmaps, variations, morph_strip, method, timings, pen_ratio
        )

    @property
    def model_cards(self) -> dict[str, dict]:
        """What each loaded model is and how it measured (see `checkpoint.model_card`)."""
        models = {
            "classifier": self.classifier,
            "line reader": self.line_reader,
            "VAE": self.vae,
            "style VAE": self.style_vae,
        }
        return {name: model.card for name, model in models.items() if hasattr(model, "card")}

    def report_page(self, image: Any, method: str = "Grad-CAM") -> tuple[str, str]:
        """The report for `image` as HTML, and the number read ("" if none). An image
        the studio cannot read gives a report saying why, not an error."""
        try:
            analysis = self.analyze(image, method=method)
        except DrawingError as e:
            message = f"could not read the image: {e}"
            return report_html(None, self.model_cards, message), ""
        return report_html(analysis, self.model_cards), analysis.reading.text

    def report(self, image: Any, path: str | Path, method: str = "Grad-CAM") -> Path:
        """Write the self-contained HTML report of `image` to `path`; returns the path."""
        return write_report(self.report_page(image, method)[0], path)

    def restyle(self, image: Any, text: str, seed: int = 0) -> np.ndarray:
        """`text` (digits only, up to 16) written in the hand of the number drawn in
        `image`: its style, size, spacing and pen, as an HxW uint8 picture, dark ink on
        white. A `RestyleError` (or `DrawingError`) says plainly when it cannot be done."""
        digits = check_text(text)
        if self.style_vae is None:
            raise RestyleError("restyling needs the style model (checkpoints/style_vae.pth)")
        ink = ink_map(image)
        reading = self.read_ink(ink)
        if not reading.digits:
            raise RestyleError("nothing drawn: write a few digits, and the studio writes "
                               "any number in that hand")  # fmt: skip
        hand = hand_of(self.style_vae, reading, ink)
        return write_number(self.style_vae, digits, hand, seed, judge=self.classify)

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
        batch = strip_batch(strips)
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
        with eval_mode(self.classifier):
            probs, single = self.classifier.reading_probs(digits.to(self.device))
        return probs.cpu(), single.cpu()


def _lap(start: float) -> float:
    return (time.perf_counter() - start) * 1000


BOX_COLOURS = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 200, 200), (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40),
]  # fmt: skip
SIGN_COLOUR = (150, 150, 150)  # a sign's box: seen, but no digit


def pen_for_size(ink: np.ndarray, reading: Reading, level: float) -> float:
    """Median over the digits read of their stroke width over their height (0 if none)."""
    boxes = [d.box for d in reading.digits]
    widths = box_pen_widths(ink, boxes, level)
    ratios = widths / np.array([max(1, b[3] - b[1]) for b in boxes], np.float64)
    ratios = ratios[~np.isnan(ratios)]
    return float(np.median(ratios)) if len(ratios) else 0.0


_FONTS = threading.local()


def _label_font() -> Any:
    """Pillow's default font, loaded once per thread (a FreeType face is not to be
    shared between threads): a new drawing loads it again for its first text
    otherwise, 0.6 ms of each analysis."""
    if not hasattr(_FONTS, "label"):
        from PIL import ImageFont

        _FONTS.label = ImageFont.load_default()
    return _FONTS.label


def annotate(ink: np.ndarray, reading: Reading, max_side: int = 900) -> np.ndarray:
    """The drawing as dark ink on white with each digit's box and label, and a thin
    grey box round each sign (a minus, a point: shown, not read as a digit), at most
    `max_side` pixels wide or tall (a photo is shown small, a sketch as drawn)."""
    from PIL import Image, ImageDraw

    font = _label_font()
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
        draw.text((x0 + line + 1, max(0, y0 - 12)), label, fill=colour, font=font)
    for mark in reading.marks:
        x0, y0, x1, y1 = (round(v * scale) for v in mark.box)
        draw.rectangle((x0 - line, y0 - line, x1 + line, y1 + line), outline=SIGN_COLOUR)
    return np.asarray(canvas)


__all__ = [
    "LINE_METHOD",
    "UNCERTAIN_BELOW",
    "RestyleError",
    "Analysis",
    "DigitReading",
    "DrawingError",
    "Reading",
    "SegmentConfig",
    "Studio",
]
