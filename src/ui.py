"""What the studio's page shows, as plain functions of the sketchpad's value.

`demo.py` wires these to Gradio components; tests call them directly with synthetic
sketchpad dicts. Every failure becomes a friendly sentence: a person never sees a
traceback (the traceback goes to the server log).
"""

from __future__ import annotations

import contextlib
import html
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from src.reading.ink import DrawingError
from src.report import report_html, write_report
from src.studio import Analysis, Reading, RestyleError, Studio

log = logging.getLogger("digit_studio")

EMPTY_HINT = "Draw a number on the sketchpad (for example 2025), or pick an example below."
FAILED = "Sorry, something went wrong while reading this image. Please try again."
# Stroke width over digit height above which a sketchpad brush fills small loops: with a
# brush 22% of the height, held-out writers' numbers read 88% right, at 8% 99% (README).
THICK_PEN = 0.18
THICK_HINT = (
    "The strokes are thick for digits this size, which can fill small loops (an 8 may "
    "read as 1): write larger or pick a thinner brush for a surer reading."
)


def summary_html(reading: Reading, message: str = "", advice: str = "") -> str:
    """The number, big, then one chip per digit with its calibrated confidence; the
    runner-up class is shown where the model hesitated; then `advice`, if any."""
    if not reading.digits:
        text = html.escape(message or reading.message or EMPTY_HINT)
        return f'<div class="dis-summary"><p class="dis-hint">{text}</p></div>'
    chips = []
    for i, digit in enumerate(reading.digits, start=1):
        second = digit.runner_up
        doubt = ""
        if digit.alternative:  # the two readers disagree about this stretch of ink
            doubt = (
                f'<span class="dis-doubt" title="the other reader sees">⚠ or '
                f"{html.escape(digit.alternative)} here</span>"
            )
        elif digit.uncertain:
            doubt = (
                f'<span class="dis-doubt" title="uncertain">⚠ or {second} '
                f"({digit.probabilities[second]:.0%})</span>"
            )
        cls = "dis-chip dis-uncertain" if digit.uncertain else "dis-chip"
        chips.append(
            f'<span class="{cls}"><b>{digit.label}</b> {digit.confidence:.1%}'
            f"<small>#{i}</small>{doubt}</span>"
        )
    number = html.escape(reading.written)
    flagged = sum(d.uncertain for d in reading.digits)
    note = f"<p class='dis-note'>{flagged} digit(s) flagged as uncertain.</p>" if flagged else ""
    if reading.left_out_note:
        note += f'<p class="dis-note" id="dis-left-out">{html.escape(reading.left_out_note)}</p>'
    if advice:
        note += f'<p class="dis-note" id="dis-advice">{html.escape(advice)}</p>'
    return (
        f'<div class="dis-summary"><div class="dis-number" id="dis-number">{number}</div>'
        f'<div class="dis-chips">{"".join(chips)}</div>{note}</div>'
    )


def thick_pen_hint(image: Any, analysis: Analysis) -> str:
    """`THICK_HINT` when a sketchpad drawing's strokes are wide for its digits' height
    (`Analysis.pen_ratio`), else "". Uploads are left alone: a dataset's 28x28 digit is
    often that bold (a fifth of MNIST's test digits) and reads fine."""
    sketched = isinstance(image, dict)
    return THICK_HINT if sketched and analysis.pen_ratio > THICK_PEN else ""


def _captions(analysis: Analysis) -> list[str]:
    return [
        f"#{i} → {d.label} ({d.confidence:.0%})"
        for i, d in enumerate(analysis.reading.digits, start=1)
    ]


def analyze_drawing(
    studio: Studio,
    image: Any,
    method: str = "Grad-CAM",
    n_variations: int = 8,
    temperature: float = 1.0,
    morph_from: float | None = None,
    morph_to: float | None = None,
) -> tuple[str, np.ndarray | None, list, list, np.ndarray | None, str | None]:
    """Sketchpad value -> (summary HTML, annotated drawing, heatmap gallery,
    variations gallery, morph strip, report file). Never raises."""
    nothing = (None, [], [], None, None)
    if image is None:
        return (summary_html(_empty(), EMPTY_HINT), *nothing)
    morph = None
    if morph_from and morph_to and int(morph_from) != int(morph_to):
        morph = (int(morph_from) - 1, int(morph_to) - 1)
    try:
        analysis = studio.analyze(
            image, method=method, n_variations=int(n_variations),
            temperature=float(temperature), morph=morph,
        )  # fmt: skip
    except DrawingError as e:
        return (summary_html(_empty(), f"That image could not be read: {e}."), *nothing)
    except Exception:
        log.exception("analysis failed")
        return (summary_html(_empty(), FAILED), *nothing)
    reading = analysis.reading
    if not reading.digits:
        return (summary_html(reading), *nothing)
    captions = _captions(analysis)
    heatmaps = list(zip(analysis.heatmaps, captions, strict=True))
    variations = list(zip(analysis.variations, captions, strict=False))
    try:  # the downloadable report of what is on screen, from the same analysis
        page = report_html(analysis, studio.model_cards)
        report = str(write_report(page, report_path(reading.text)))
    except Exception:
        log.exception("report failed")
        report = None
    summary = summary_html(reading, advice=thick_pen_hint(image, analysis))
    return (summary, analysis.annotated, heatmaps, variations, analysis.morph, report)


def read_api(studio: Studio, image: Any) -> dict:
    """The `/read` endpoint: {"text", "digits": [{"label", "confidence", "box"}], "message",
    "marks_left_out", "written"}. Whatever arrives (a file path from the API, an array,
    nothing) gets this shape, with a sentence in `message` when nothing could be read."""
    if image is None:
        return _empty().to_json() | {"message": "no image received"}
    try:
        return studio.read(image).to_json()
    except DrawingError as e:
        return _empty().to_json() | {"message": f"could not read the image: {e}"}
    except Exception:
        log.exception("read failed")
        return _empty().to_json() | {"message": FAILED}


REPORTS = Path(tempfile.gettempdir()) / "digit-studio-reports"
REPORTS_KEPT_S = 3600  # the app serves its own copy; ours go after an hour


def report_path(text: str) -> Path:
    """A fresh path for a report named after the number read; old reports are removed."""
    now = time.time()
    if REPORTS.is_dir():
        for old in REPORTS.iterdir():
            with contextlib.suppress(OSError):  # another request may be removing it too
                if now - old.stat().st_mtime > REPORTS_KEPT_S:
                    shutil.rmtree(old, ignore_errors=True)
    folder = REPORTS / uuid.uuid4().hex
    folder.mkdir(parents=True)
    name = "".join(c for c in text if c.isdigit())[:32] or "nothing-read"
    return folder / f"digit-report-{name}.html"


def report_api(studio: Studio, image: Any, method: str = "Grad-CAM") -> str:
    """The `/report` endpoint: an image in, a self-contained HTML report out, named after
    the number read. Input the studio cannot read gives a report saying why."""
    try:
        page, text = studio.report_page(image, method=method)
    except Exception:
        log.exception("report failed")
        page, text = report_html(None, message=FAILED), ""
    return str(write_report(page, report_path(text)))


def restyle_drawing(
    studio: Studio, sketch: Any, upload: Any, text: str
) -> tuple[np.ndarray | None, str]:
    """("Write it in my hand") the number in `text` in the hand of the sketch, or of
    the uploaded image when nothing is sketched: (picture or None, message HTML)."""
    for image in (sketch, upload):
        if image is None:
            continue
        picture, message = restyle_api(studio, image, text)
        if picture is not None or "nothing drawn" not in message or image is upload:
            break
    else:
        picture, message = None, "nothing drawn: write a few digits first"
    note = f'<p class="dis-hint">{html.escape(message)}</p>' if message else ""
    return picture, note


def restyle_api(studio: Studio, image: Any, text: str) -> tuple[np.ndarray | None, str]:
    """The `/restyle` endpoint: (image file, text) -> (the picture, "") or (None, why)."""
    if image is None:
        return None, "no image received"
    try:
        return studio.restyle(image, text), ""
    except (RestyleError, DrawingError) as e:
        return None, str(e)
    except Exception:
        log.exception("restyle failed")
        return None, FAILED


def _empty() -> Reading:
    import torch

    return Reading("", [], torch.zeros(0, 1, 28, 28))
