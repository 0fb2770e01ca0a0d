"""Restyle: a text written in the hand of a drawing's digits."""

import numpy as np
import pytest
import torch

from src.models.style_vae import StyleVAE, StyleVAEConfig
from src.reading.ink import pen_width
from src.restyle import (
    Hand,
    RestyleError,
    check_text,
    clearest_draws,
    measure_hand,
    write_digits,
    write_number,
)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return StyleVAE(StyleVAEConfig(latent_dim=4, hidden_channels=4, hidden_dim=16)).eval()


@pytest.mark.parametrize(
    "text, expected",
    [("20 26", [2, 0, 2, 6]), ("0", [0]), ("1" * 16, [1] * 16)],
)
def test_text_gives_its_digits(text, expected):
    assert check_text(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [("", "type a number"), ("12a", "only the digits"), ("1" * 17, "up to 16"), ("٣", "only")],
)
def test_bad_text_gets_a_sentence(text, message):
    with pytest.raises(RestyleError, match=message):
        check_text(text)


def test_pen_width_of_a_drawn_bar():
    mask = np.zeros((100, 100), bool)
    mask[20:80, 40:48] = True  # 8 px wide, 60 px long
    assert 6.5 <= pen_width(mask) <= 9.0


def test_hand_is_measured_from_boxes_and_ink():
    ink = np.zeros((100, 300), np.float32)
    ink[20:80, 40:46] = 1.0
    ink[20:80, 90:96] = 1.0
    boxes = [(30, 20, 60, 80), (80, 20, 110, 80), (200, 120, 230, 180)]
    hand = measure_hand(boxes, [0, 0, 1], ink, torch.zeros(4))
    assert hand.height == 60 and hand.gap == pytest.approx(20 / 60)  # same line only
    assert 4.0 <= hand.pen <= 8.0


def test_a_huge_drawing_gives_a_picture_of_bounded_size():
    from src.restyle import MAX_HEIGHT

    ink = np.zeros((4000, 3000), np.float32)
    ink[100:3900, 1000:1200] = 1.0
    hand = measure_hand([(900, 100, 1300, 3900)], [0], ink, torch.zeros(4))
    assert hand.height == MAX_HEIGHT and hand.pen < 0.1 * MAX_HEIGHT


def test_written_number_is_dark_on_white_sized_and_deterministic(tiny_model):
    hand = Hand(torch.zeros(4), height=50.0, gap=0.3, pen=5.0)
    a = write_number(tiny_model, [1, 2, 3], hand, seed=3)
    b = write_number(tiny_model, [1, 2, 3], hand, seed=3)
    assert a.dtype == np.uint8 and a.ndim == 2 and np.array_equal(a, b)
    assert a.shape[0] == round(28 * 50 / 20) + 2 * round(0.15 * 50 + 5)
    assert (a == 255).mean() > 0.5  # mostly paper


# ------------------------------------------------------------------- shipped models


@pytest.mark.integration
def test_restyled_pen_number_reads_back():
    """A test writer's 2025 drawn on the canvas; 1984 written in that hand is read as 1984,
    the same seed gives the same picture, and bad text or an empty page get a sentence."""
    from src.strokes import by_writer, load_pendigits, pendigits_path, render_number
    from src.studio import Studio
    from tests.conftest import need

    need(pendigits_path().exists(), f"pen-stroke digits at {pendigits_path()}")
    studio = Studio.load()
    writer = by_writer([d for d in load_pendigits() if d.split == "test"])["test-w01"]
    digits = [next(d for d in writer if d.label == int(c)) for c in "2025"]
    drawing = render_number(digits, np.random.default_rng(0), height=150, brush_frac=0.07)
    picture = studio.restyle(drawing.image, "1984", seed=0)
    assert picture.dtype == np.uint8 and picture.ndim == 2
    assert studio.read(picture).text == "1984"
    assert np.array_equal(picture, studio.restyle(drawing.image, "1984", seed=0))
    # Written at the drawing's size: about as tall as the digits drawn.
    rows = np.flatnonzero((picture < 128).any(axis=1))
    drawn = np.median([b[3] - b[1] for b in drawing.boxes])
    assert 0.6 * drawn <= rows[-1] - rows[0] <= 1.5 * drawn
    with pytest.raises(RestyleError, match="only the digits"):
        studio.restyle(drawing.image, "12-34")
    with pytest.raises(RestyleError, match="nothing drawn"):
        studio.restyle(np.full((200, 400), 255, np.uint8), "12")


def test_training_script_names_a_wrong_config_key(capsys):
    import train_style_vae

    assert train_style_vae.main(["--set", "training.epoch=2"]) == 2
    assert "training.epoch" in capsys.readouterr().err


def test_a_tiny_style_vae_learns(tiny_model):
    """A few steps of the conditional ELBO on random strokes lower it."""
    import copy

    from src.models.vae import elbo_terms

    torch.manual_seed(0)
    model = copy.deepcopy(tiny_model).train()
    x = (torch.rand(32, 1, 28, 28) > 0.8).float()
    y = torch.randint(0, 10, (32,))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        _, _, loss = elbo_terms(model, x, labels=y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_each_unsure_digit_is_the_clearest_of_its_tries(tiny_model):
    """With a judge, a digit whose first draw the judge is sure of is kept as drawn;
    the others are drawn `tries` times and the surest kept. Every draw's noise is taken
    up front, so the draws are those of one batch of all of them."""
    labels = torch.tensor([3, 5])
    hand = Hand(torch.zeros(4), height=40.0, gap=0.3, pen=4.0)
    style = (hand.style, hand.shear, hand.widen)
    every_draw = write_digits(tiny_model, labels.repeat(4), style, 1.0,
                              torch.Generator().manual_seed(1)).view(4, 2, 1, 28, 28)  # fmt: skip
    calls = []

    def judge(batch: torch.Tensor, sure_of: set[int]) -> torch.Tensor:
        """Certain of the digits in `sure_of`; otherwise the more ink, the surer, below
        `SURE_ENOUGH`: a draw's ink against the most any draw has."""
        calls.append(len(batch))
        ink = batch.sum(dim=(1, 2, 3)) / every_draw.sum(dim=(2, 3, 4)).max() / 2
        exact = torch.isclose(batch[:, None], every_draw[0][None]).flatten(2).all(2)
        certain = exact & torch.tensor([int(x) in sure_of for x in labels])
        return torch.where(certain.any(1), 1.0, ink).unsqueeze(1).expand(-1, 10)

    def clearest(sure_of: set[int]) -> torch.Tensor:
        calls.clear()
        return clearest_draws(tiny_model, labels, hand, 1.0, torch.Generator().manual_seed(1),
                              lambda b: judge(b, sure_of), tries=4)  # fmt: skip

    inkiest = every_draw.sum(dim=(2, 3, 4)).argmax(dim=0)
    assert torch.allclose(clearest({3, 5}), every_draw[0]) and calls == [2]
    assert torch.allclose(clearest(set()), every_draw[inkiest, torch.arange(2)])
    assert calls == [2, 6]
    mixed = clearest({3})
    assert calls == [2, 3]
    assert torch.allclose(mixed[0], every_draw[0, 0])
    assert torch.allclose(mixed[1], every_draw[inkiest[1], 1])
    picture = write_number(tiny_model, [3, 5], hand, seed=1, spread=1.0,
                           judge=lambda b: judge(b, set()))  # fmt: skip
    assert picture.dtype == np.uint8 and picture.shape[0] > 0


def test_style_has_a_latent_per_digit_from_the_writers_own_copies(tiny_model):
    """A digit the writer wrote takes its style from their own copies (drawn towards
    their overall hand by `prior_weight`); a digit they never wrote gets the overall
    hand; `write` picks each label's row."""
    torch.manual_seed(1)
    digits = torch.rand(5, 1, 28, 28)
    labels = torch.tensor([7, 7, 3, 1, 1])
    mu = tiny_model.encode(digits, labels)[0]
    overall = mu.mean(0)
    style = tiny_model.style(digits, labels, prior_weight=1.0)
    assert style.shape == (10, 4)
    assert torch.allclose(style[7], (mu[0] + mu[1] + overall) / 3, atol=1e-6)
    assert torch.allclose(style[3], (mu[2] + overall) / 2, atol=1e-6)
    assert torch.allclose(style[0], overall, atol=1e-6)
    alone = tiny_model.style(digits, labels, prior_weight=1e9)
    assert torch.allclose(alone, overall.expand(10, -1), atol=1e-5)
    written = tiny_model.write(torch.tensor([7, 0]), style)
    assert torch.allclose(written[0:1], tiny_model.write(torch.tensor([7]), style[7]))
    assert torch.allclose(written[1:2], tiny_model.write(torch.tensor([0]), overall))


def test_strokes_are_drawn_at_the_pen_width_with_soft_edges():
    """One centre-line dot drawn with a 12 px pen at 4x: a disk about 12 px across."""
    from src.restyle import draw_strokes

    dot = np.zeros((1, 10, 10), bool)
    dot[0, 5, 5] = True
    (glyph,) = draw_strokes(dot, 40, 12.0)
    assert glyph.shape == (40, 40) and glyph.max() == 1.0
    across = (glyph[22] > 0.5).sum()  # the row through the dot's centre (22 = 5.5 * 4)
    assert 11 <= across <= 14
    assert ((glyph > 0) & (glyph < 1)).any()  # anti-aliased rim
    assert glyph[0, 0] == 0
