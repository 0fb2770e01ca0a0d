"""A reading as one self-contained HTML file: every image embedded, no script, no link
to fetch, so it opens offline and can be mailed or archived as it is.

    html = report_html(analysis, models)   # see Studio.report for the usual entry

It shows the drawing with its boxes, the number, each digit's confidence and runner-up
(and the other reader's reading where the two disagree), the heatmap per digit for the
chosen method, the VAE variations, the models used with their recorded metrics, and the
date. Everything that comes from input or from files is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #111; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #555; } .number { font-size: 3rem; font-weight: 700; letter-spacing: .1em; }
.message { font-size: 1.2rem; color: #92400e; }
table { border-collapse: collapse; } td, th { padding: .4rem .6rem; border-bottom: 1px solid #ddd;
  text-align: left; vertical-align: middle; }
.flag { color: #92400e; } img { image-rendering: auto; }
.drawing { max-width: 100%; border: 1px solid #ddd; }
"""


def png_data_uri(image: np.ndarray) -> str:
    """An HxW or HxWx3 uint8 array as a data: URI holding a PNG."""
    buffer = io.BytesIO()
    # Fast compression: the studio writes a report after every stroke (about 11 ms for
    # 6 digits; optimize=True would take 90 ms to save 8% of the bytes).
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(image: np.ndarray, alt: str, cls: str) -> str:
    return f'<img class="{cls}" alt="{escape(alt)}" src="{png_data_uri(image)}">'


def report_html(
    analysis: Any,
    models: dict[str, dict] | None = None,
    message: str = "",
    created: dt.datetime | None = None,
) -> str:
    """The report for one `Analysis` (or for none, with `message` saying why)."""
    created = created or dt.datetime.now(dt.UTC)
    reading = analysis.reading if analysis is not None else None
    text = reading.written if reading is not None else ""  # with its signs: -20.25
    message = message or (reading.message if reading is not None else "") or "nothing drawn"
    method = analysis.method if analysis is not None else ""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Digit Insight Studio report: {escape(text or 'nothing read')}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Digit Insight Studio report</h1>",
        f'<p class="meta">Created {escape(created.strftime("%Y-%m-%d %H:%M UTC"))}'
        + (f" &middot; explanation method: {escape(method)}" if method else "")
        + "</p>",
        "<h2>Number read</h2>",
        f'<p class="number" id="number">{escape(text)}</p>'
        if text
        else f'<p class="message" id="message">{escape(message)}</p>',
    ]
    if reading is not None and reading.left_out_note:
        parts.append(f'<p class="meta" id="left-out">{escape(reading.left_out_note)}</p>')
    if reading is not None and reading.digits:
        parts += [
            "<h2>The drawing, as it was cut</h2>",
            _img(analysis.annotated, f"the drawing read as {text}", "drawing"),
            "<h2>Each digit</h2>",
            "<table><tr><th>#</th><th>Digit</th><th>Confidence</th><th>Runner-up</th>"
            "<th>Why: heatmap</th><th>Imagined: VAE variations</th></tr>",
        ]
        for i, digit in enumerate(reading.digits):
            second = digit.runner_up
            doubt = (
                f'<br><span class="flag">the other reader sees "{escape(digit.alternative)}"'
                " here</span>"
                if digit.alternative
                else ""
            )
            heat = (
                _img(analysis.heatmaps[i], f"heatmap of digit {i + 1}", "heatmap")
                if i < len(analysis.heatmaps)
                else ""
            )
            grid = (
                _img(analysis.variations[i], f"variations of digit {i + 1}", "variations")
                if i < len(analysis.variations)
                else ""
            )
            parts.append(
                f'<tr class="digit"><td>{i + 1}</td><td><b>{digit.label}</b>{doubt}</td>'
                f"<td>{digit.confidence:.1%}</td>"
                f"<td>{second} ({digit.probabilities[second]:.1%})</td>"
                f"<td>{heat}</td><td>{grid}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Models</h2>")
    if not models:
        parts.append("<p>Not recorded (models built in code, not loaded from checkpoints).</p>")
    for name, card in (models or {}).items():
        rows = "".join(
            f"<tr><td>{escape(str(k))}</td><td>{escape(_fmt(v))}</td></tr>"
            for k, v in card.get("metrics", {}).items()
        )
        parts.append(
            f'<h3>{escape(name)}</h3><p class="meta">{escape(str(card.get("file", "")))}, '
            f"trained {escape(str(card.get('created', '')))}, "
            f"commit {escape(str(card.get('git_commit', '')))}</p><table>{rows}</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_report(html: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
