"""The studio's page handlers, fed what Gradio 6's Sketchpad hands over."""

import numpy as np
import pytest
import torch
from PIL import Image

from src.models.classifier import ClassifierConfig, DigitClassifier
from src.models.vae import ConvVAE, VAEConfig
from src.studio import Studio
from src.ui import EMPTY_HINT, THICK_HINT, analyze_drawing, read_api, summary_html


@pytest.fixture(scope="module")
def studio():
    """Tiny untrained models: these tests are about plumbing, not accuracy."""
    torch.manual_seed(0)
    classifier = DigitClassifier(ClassifierConfig(hidden_channels=4)).eval()
    vae = ConvVAE(VAEConfig(latent_dim=4, hidden_channels=4, hidden_dim=16)).eval()
    return Studio(classifier, vae)


def strokes_layer(h=300, w=900, pen=16):
    """An RGBA layer with three vertical bars drawn in dark ink on transparency."""
    layer = np.zeros((h, w, 4), np.uint8)
    for x in (150, 450, 750):
        layer[60:240, x - pen // 2 : x + pen // 2] = (17, 17, 17, 255)
    return layer


def sketchpad(layers, background=None, composite=None):
    return {"background": background, "layers": layers, "composite": composite}


def test_rgba_layers_are_read(studio):
    summary, annotated, heatmaps, variations, morph, report = analyze_drawing(
        studio, sketchpad([strokes_layer()]), n_variations=3, morph_from=1, morph_to=3
    )
    assert 'id="dis-number"' in summary
    assert annotated.shape[2] == 3
    assert len(heatmaps) == 3 and len(variations) == 3
    image, caption = heatmaps[0]
    assert image.shape == (112, 112, 3) and caption.startswith("#1 → ")
    assert variations[0][0].shape[:2] == (56, 3 * 56 + 2 * 2)  # one row of 3 tiles of 56 px
    assert morph is not None and morph.shape[0] == 56


def test_a_brush_thick_for_the_digits_size_gets_advice(studio):
    """Bars 48 px wide and 180 tall (a fifth of the height, where loops fill) get the
    hint; 16 px wide do not; nor does the fat drawing uploaded as a picture, since a
    dataset's bold digits read fine."""
    fat = strokes_layer(pen=48)
    advice = 'id="dis-advice"'
    assert advice in analyze_drawing(studio, sketchpad([fat]), n_variations=0)[0]
    assert THICK_HINT.split(",")[0] in analyze_drawing(studio, sketchpad([fat]), n_variations=0)[0]
    assert advice not in analyze_drawing(studio, sketchpad([strokes_layer()]), n_variations=0)[0]
    assert advice not in analyze_drawing(studio, fat, n_variations=0)[0]


def test_composite_only_and_white_background(studio):
    layer = strokes_layer()
    white = np.full_like(layer, 255)
    composite = np.asarray(Image.alpha_composite(Image.fromarray(white), Image.fromarray(layer)))
    for value in (sketchpad([], composite=composite), sketchpad([layer], background=white)):
        summary, _, heatmaps, _, _, _ = analyze_drawing(studio, value, n_variations=0)
        assert len(heatmaps) == 3, summary


@pytest.mark.parametrize(
    "value",
    [
        None,
        sketchpad([]),
        sketchpad([np.zeros((300, 900, 4), np.uint8)]),
        sketchpad([], background=np.full((300, 900, 4), 255, np.uint8)),
    ],
)
def test_empty_canvas_gives_a_hint_not_an_error(studio, value):
    summary, annotated, heatmaps, variations, morph, report = analyze_drawing(studio, value)
    assert EMPTY_HINT in summary or "Draw" in summary
    assert heatmaps == [] and variations == [] and morph is None and report is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/nonexistent/file.png", "no such file"),
        (np.zeros((10, 10, 7), np.uint8), "expected an image"),
        (b"not an image", "unsupported input type"),
        (np.zeros((9000, 9000), np.uint8), "too large"),
    ],
)
def test_bad_input_is_a_friendly_message(studio, value, expected):
    summary, *_ = analyze_drawing(studio, value)
    assert expected in summary and "Traceback" not in summary
    result = read_api(studio, value)
    assert result["text"] == "" and expected in result["message"]


def test_unexpected_failure_is_hidden_from_the_page(studio, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(studio, "analyze", boom)
    summary, *_ = analyze_drawing(studio, sketchpad([strokes_layer()]))
    assert "went wrong" in summary and "internal detail" not in summary


def test_read_api_json_shape(studio):
    result = read_api(studio, strokes_layer())
    assert set(result) == {"text", "digits", "message", "marks_left_out", "written"}
    assert len(result["digits"]) == 3 and len(result["text"]) == 3
    assert result["written"] == result["text"]  # no signs drawn, none shown
    for digit in result["digits"]:
        assert set(digit) == {"label", "confidence", "box"} and len(digit["box"]) == 4


def test_summary_flags_uncertain_digits():
    from src.studio import DigitReading, Reading

    sure = DigitReading(7, 0.99, [0.0] * 7 + [0.99, 0.01, 0.0], (0, 0, 5, 5))
    unsure = DigitReading(
        1, 0.55, [0.0, 0.55, 0.0, 0.0, 0.0, 0.0, 0.0, 0.45, 0.0, 0.0], (6, 0, 9, 5)
    )
    html = summary_html(Reading("71", [sure, unsure], torch.zeros(2, 1, 28, 28)))
    assert ">71<" in html and "or 7 (45%)" in html and "1 digit(s) flagged" in html


def test_summary_shows_the_signs_as_written_and_says_what_was_left_out():
    from src.reading.regions import Mark
    from src.studio import DigitReading, Reading

    probs = [0.0] * 4 + [0.99] + [0.01 / 5] * 5
    fours = [DigitReading(4, 0.99, probs, (x, 0, x + 5, 10)) for x in (10, 30)]
    plain = summary_html(Reading("44", fours, torch.zeros(2, 1, 28, 28)))
    assert "dis-left-out" not in plain and ">44<" in plain
    minus, point = Mark("-", (0, 4, 6, 6)), Mark(".", (21, 8, 23, 10))
    signed = Reading("44", fours, torch.zeros(2, 1, 28, 28), marks_left_out=3, marks=[minus, point])
    html = summary_html(signed)
    assert 'id="dis-number">-4.4<' in html  # the number as written, signs in place
    assert 'id="dis-left-out"' in html and "Digits read: 44, the 2 signs are shown" in html
    assert "1 other mark (a line under or over them" in html  # the third mark was a line
    assert signed.to_json()["text"] == "44" and signed.to_json()["written"] == "-4.4"


def test_summary_shows_what_the_other_reader_saw():
    from src.studio import DigitReading, Reading

    probs = [0.0] * 7 + [0.98, 0.02, 0.0]
    digit = DigitReading(7, 0.98, probs, (0, 0, 5, 5), alternative="17")
    assert digit.uncertain
    html = summary_html(Reading("7", [digit], torch.zeros(1, 1, 28, 28)))
    assert "or 17 here" in html and "1 digit(s) flagged" in html
