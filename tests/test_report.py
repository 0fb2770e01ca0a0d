"""The HTML report: self-contained, complete, escaped, and small."""

import datetime as dt

import numpy as np
import torch

from src.report import report_html
from src.studio import Analysis, DigitReading, Reading
from tests.report_page import parse_report


def tiny_analysis(alternative: str = "") -> Analysis:
    probs = [0.0] * 7 + [0.9, 0.1, 0.0]
    digits = [DigitReading(7, 0.9, probs, (0, 0, 10, 10), alternative=alternative)] * 2
    reading = Reading("77", digits, torch.zeros(2, 1, 28, 28))
    tile = np.full((16, 16, 3), 200, np.uint8)
    return Analysis(reading, tile, [tile, tile], [tile, tile], None, "Grad-CAM", {})


def test_report_holds_the_number_and_one_heatmap_and_grid_per_digit():
    page = parse_report(report_html(tiny_analysis()))
    assert page.number == "77" and page.heatmaps == 2 and page.variations == 2
    assert page.external == 0


def test_the_report_shows_the_signs_as_written_and_says_what_was_left_out():
    from src.reading.regions import Mark

    analysis = tiny_analysis()
    assert 'id="left-out"' not in report_html(analysis)
    analysis.reading.marks_left_out = 1
    assert "1 other mark (a line under or over them, a stray mark)" in report_html(analysis)
    analysis.reading.marks_left_out, analysis.reading.marks = 2, [Mark("-", (-8, 4, -2, 6))]
    page = report_html(analysis)
    assert parse_report(page).number == "-77" and "Digits read: 77, the sign is shown" in page


def test_everything_from_input_or_files_is_escaped():
    evil = "<script>alert(1)</script>"
    cards = {"classifier": {"file": evil, "created": evil, "metrics": {evil: evil}}}
    html = report_html(tiny_analysis(alternative=evil), cards)
    html += report_html(None, message=evil)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_report_of_nothing_says_why_and_when():
    when = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    html = report_html(None, message="could not read the image: this file is not an image",
                       created=when)  # fmt: skip
    assert "this file is not an image" in html and "2026-11-25 12:00 UTC" in html
    assert parse_report(html).number == ""
