"""The line reader: CTC decoding, line images, training lines and a tiny training run."""

import math

import numpy as np
import pytest
import torch

from src.lines import LineDataConfig, build_lines, mnist_line
from src.models.line_reader import (
    BLANK,
    LINE_HEIGHT,
    STRIDE,
    LineReader,
    LineReaderConfig,
    greedy_decode,
)
from src.reading.line_view import INK_HEIGHT, line_image
from src.strokes import PenDigit

# -------------------------------------------------------------------- decoding


def outputs(path: list[int], sure: float = 0.9) -> torch.Tensor:
    """(T, 1, 11) log-probabilities whose best path is `path`."""
    probs = torch.full((len(path), 11), (1 - sure) / 10)
    probs[torch.arange(len(path)), torch.tensor(path)] = sure
    return probs.log().unsqueeze(1)


def test_decoding_merges_repeats_and_drops_blanks():
    (line,) = greedy_decode(outputs([BLANK, 3, 3, BLANK, 1, BLANK, BLANK, 4, 4, 4]))
    assert [d.label for d in line] == [3, 1, 4]
    assert [d.columns for d in line] == [(1, 2), (4, 4), (7, 9)]


def test_a_blank_between_equal_labels_makes_two_digits():
    (line,) = greedy_decode(outputs([1, 1, BLANK, 1, 7, 7]))
    assert "".join(str(d.label) for d in line) == "117"


def test_decoding_stops_at_each_lines_length():
    batch = torch.cat([outputs([2, BLANK, 5, 5]), outputs([9, BLANK, BLANK, 0])], dim=1)
    first, second = greedy_decode(batch, torch.tensor([4, 2]))
    assert [d.label for d in first] == [2, 5] and [d.label for d in second] == [9]


def test_decoded_confidence_is_the_digits_best_column():
    probs = torch.full((3, 11), 0.01)
    probs[0, 6], probs[1, 6], probs[2, BLANK] = 0.6, 0.85, 0.9
    (line,) = greedy_decode(probs.log().unsqueeze(1))
    assert line[0].label == 6 and line[0].confidence == pytest.approx(0.85)


def test_all_blank_reads_nothing():
    assert greedy_decode(outputs([BLANK] * 5)) == [[]]


# -------------------------------------------------------------------- model and data


def test_model_gives_one_step_per_stride_columns():
    model = LineReader(LineReaderConfig(channels=4, hidden=8))
    out = model(torch.rand(3, 1, LINE_HEIGHT, 96))
    assert out.shape == (96 // STRIDE, 3, 11)
    assert torch.allclose(out.exp().sum(-1), torch.ones(96 // STRIDE, 3), atol=1e-5)


def test_line_image_height_is_fixed_and_width_follows_the_ink():
    ink = np.zeros((300, 900), np.float32)
    ink[100:200, 50:650] = 1.0  # 100 px tall, 600 px wide
    strip = line_image(ink)
    assert strip.shape[0] == LINE_HEIGHT and strip.shape[1] % STRIDE == 0
    rows = np.flatnonzero(strip.any(axis=1))
    cols = np.flatnonzero(strip.any(axis=0))
    assert rows[-1] - rows[0] + 1 == INK_HEIGHT
    assert abs((cols[-1] - cols[0] + 1) - 6 * INK_HEIGHT) <= 1
    assert line_image(ink, max_width=64).shape[1] <= 64
    assert not line_image(np.zeros((10, 10), np.float32)).any()


def squares(n: int) -> np.ndarray:
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 6:22, 8:20] = 255
    return images


def test_mnist_line_overlaps_take_the_brighter_ink():
    rng = np.random.default_rng(0)
    config = LineDataConfig(touching_share=1.0, style_share=0.0)
    ink = mnist_line(squares(3), np.array([0, 1, 2]), rng, config)
    assert ink.max() <= 1.0 and ink.any()


def test_training_lines_refuse_test_writers():
    pen = [PenDigit(1, "test-w01", "test", [[[0, 0], [0, 100]]])]
    with pytest.raises(ValueError, match="evaluation only"):
        build_lines(pen, squares(4), np.arange(4), 2, LineDataConfig(), seed=0, workers=1)


def test_training_lines_are_deterministic_and_labelled():
    pen = [PenDigit(d, "train-w01", "train", [[[0, 0], [30, 0], [0, 100]]]) for d in range(10)]
    config = LineDataConfig(max_width=384)
    a = build_lines(pen, squares(10), np.arange(10), 30, config, seed=3, workers=1)
    b = build_lines(pen, squares(10), np.arange(10), 30, config, seed=3, workers=1)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    strips, widths, texts = a
    assert strips.shape == (30, LINE_HEIGHT, 384) and strips.dtype == np.uint8
    assert all(1 <= len(t) <= 12 and t.isdigit() for t in texts)
    assert (widths % STRIDE == 0).all() and (widths <= 384).all()


def test_fat_pens_draw_pen_lines_with_a_marker():
    pen = [PenDigit(d, "train-w01", "train", [[[0, 0], [30, 0], [0, 100]]]) for d in range(10)]
    plain = LineDataConfig(pen_share=1.0, scan_share=0.0)
    fat = LineDataConfig(pen_share=1.0, scan_share=0.0, fat_pens=1.0)

    def ink_per_digit(config: LineDataConfig) -> float:
        strips, _, texts = build_lines(pen, squares(10), np.arange(10), 40, config, 1, workers=1)
        return (strips > 127).sum() / sum(len(t) for t in texts)

    assert ink_per_digit(fat) > 1.3 * ink_per_digit(plain)


def bars_and_boxes(n: int = 64, seed: int = 0):
    """Lines of two fake 'digits' (a bar is 1, a box is 0), as a LineSet."""
    from src.training.line_reader import LineSet

    rng = np.random.default_rng(seed)
    strips, texts = np.zeros((n, LINE_HEIGHT, 64), np.uint8), []
    for i in range(n):
        text = "".join(rng.choice(["0", "1"], rng.integers(1, 4)))
        for k, c in enumerate(text):
            x = 4 + 20 * k
            if c == "1":
                strips[i, 4:28, x + 6 : x + 9] = 255
            else:
                strips[i, 4:28, x : x + 14] = 255
                strips[i, 8:24, x + 3 : x + 11] = 0
        texts.append(text)
    return LineSet(torch.from_numpy(strips), torch.full((n,), 64), texts)


@pytest.fixture(scope="module")
def tiny_training():
    """A tiny reader trained 60 steps with CTC on bars and boxes; its loss per step."""
    from src.training.line_reader import collate

    lines = bars_and_boxes()
    torch.manual_seed(0)
    model = LineReader(LineReaderConfig(channels=8, hidden=16, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, targets, target_lengths, input_lengths = collate(lines, torch.arange(64))
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.ctc_loss(
            model(x), targets, input_lengths, target_lengths, blank=BLANK
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_a_tiny_reader_learns_to_read_synthetic_lines(tiny_training):
    _, losses = tiny_training
    assert math.isfinite(losses[-1]) and losses[-1] < 0.3 * losses[0]


def test_calibration_cools_an_overconfident_reader(tiny_training):
    """The trained tiny reader made overconfident (head x 4) gets a temperature above 1
    on held-out lines, and their CTC NLL falls; T is kept on the model for forward()."""
    import copy

    from src.training.line_reader import calibrate_line_reader

    model = copy.deepcopy(tiny_training[0])
    with torch.no_grad():
        model.head.weight.mul_(4.0)
        model.head.bias.mul_(4.0)
    report = calibrate_line_reader(model, bars_and_boxes(32, seed=1))
    assert report["temperature"] > 1.0
    assert report["ctc_nll_after"] < report["ctc_nll_before"]
    assert float(model.temperature) == pytest.approx(report["temperature"])
    assert 0.0 <= report["digit_ece_after"] <= 1.0


# -------------------------------------------------------------------- shipped reader


@pytest.mark.integration
def test_shipped_line_reader_reads_touching_numbers_of_unseen_writers():
    """Touching numbers by the pendigits *test* writers, which no model trained on."""
    from src.models.line_reader import load_line_reader
    from tests.conftest import ROOT, touching_test_numbers

    drawings = touching_test_numbers(30, seed=12)
    reader = load_line_reader(ROOT / "checkpoints/line_reader.pth", "cpu")
    right = 0
    for drawing in drawings:
        strip = line_image(drawing.image[..., 3].astype(np.float32) / 255)
        with torch.no_grad():
            (read,) = greedy_decode(reader(torch.from_numpy(strip)[None, None]))
        right += "".join(str(d.label) for d in read) == drawing.text
    assert right >= 21  # of 30; the per-digit splitter reads about a quarter of these


def test_training_script_names_a_wrong_config_key(capsys):
    import train_line_reader

    assert train_line_reader.main(["--set", "training.epoch=2"]) == 2
    assert "training.epoch" in capsys.readouterr().err
