"""Training digits made from strokes: styles, scan looks, "not a digit", and the rule that
the pendigits test writers never reach training."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from src.strokes import PenDigit
from src.synth import (
    EDITS,
    NOT_A_DIGIT,
    STYLES,
    TEMPLATES,
    Job,
    Sources,
    SynthConfig,
    build_training_set,
    ink_box,
    plan_jobs,
    run_job,
    scan_look,
    side_by_side,
    sketch_ink,
    stretched_to_square,
)

RING = [[(0.5 + 0.4 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 6.4, 30)]]
BAR = [[(0.5, 0.0), (0.5, 1.0)]]
SEVEN = [[(0.0, 0.0), (0.6, 0.0), (0.25, 1.0)]]
SHAPES = {0: RING, 1: BAR, 7: SEVEN}


def tiny_sources() -> Sources:
    """Hand-made 0, 1 and 7, as pen strokes and as 28x28 'MNIST' images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    mnist = []
    for strokes in SHAPES.values():
        ink = sketch_ink(strokes, rng, height=60, brush_frac=0.12)
        x0, y0, x1, y1 = ink_box(ink, 0.1)
        width = max(1, round((x1 - x0) * 20 / (y1 - y0)))
        crop = Image.fromarray(ink[y0:y1, x0:x1] * 255).resize((width, 20), Image.BOX)
        tile = np.zeros((28, 28), np.uint8)
        tile[4:24, 14 - width // 2 : 14 - width // 2 + width] = np.asarray(crop)
        mnist.append(tile)
    pen = [(label, strokes) for label, strokes in SHAPES.items()] * 3
    return Sources(pen, np.stack(mnist), np.array(list(SHAPES)), scan_share=0.3)


@pytest.mark.parametrize("kind", ["pen", "pair", "fragment", "miscut", "scribble", *STYLES])
def test_every_kind_makes_studio_views_with_its_label(kind):
    images, labels = run_job(Job(kind, 6, seed=1), tiny_sources())
    assert images.shape == (6, 28, 28) and images.dtype == np.uint8
    assert (images.reshape(6, -1).max(1) > 100).all()  # real ink in every item
    if kind == "pen":
        assert set(labels) <= set(SHAPES)
    elif kind in ("pair", "fragment", "miscut", "scribble"):
        assert (labels == NOT_A_DIGIT).all()
    else:
        assert (labels == {**EDITS, **TEMPLATES}[kind][0]).all()


def test_jobs_are_deterministic_in_their_seed():
    a = run_job(Job("crossed_seven", 4, seed=3), tiny_sources())
    b = run_job(Job("crossed_seven", 4, seed=3), tiny_sources())
    c = run_job(Job("crossed_seven", 4, seed=4), tiny_sources())
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


def test_stretching_fills_a_square_and_leaves_other_items_as_they_were():
    bar = sketch_ink(BAR, np.random.default_rng(0), height=60, brush_frac=0.12)
    x0, y0, x1, y1 = ink_box(stretched_to_square(bar, np.random.default_rng(1)))
    assert 0.85 <= (x1 - x0) / (y1 - y0) <= 1.15  # a narrow one now fills its square
    plain, stretched = tiny_sources(), tiny_sources()
    stretched.stretch_share = 0.5
    a, labels_a = run_job(Job("pen", 12, seed=3), plain)
    b, labels_b = run_job(Job("pen", 12, seed=3), stretched)
    same = (a == b).all(axis=(1, 2))
    assert (labels_a == labels_b).all() and 0 < same.sum() < len(same)
    ones = labels_a == 1  # a stretched one is far wider than the plain one
    widths = [(img.max(0) > 50).sum() for img in (a[ones & ~same][0], b[ones & ~same][0])]
    assert widths[1] > 2 * widths[0]


def test_fat_pens_draw_pen_digits_with_a_marker():
    plain, marker = tiny_sources(), tiny_sources()
    marker.fat_pens = 1.0
    a, labels_a = run_job(Job("pen", 9, seed=2), plain)
    b, labels_b = run_job(Job("pen", 9, seed=2), marker)
    assert (labels_a == labels_b).all()
    # Redrawn or kept, a marker's digit covers more of its frame than the usual pens'.
    assert (b > 127).sum() > 1.3 * (a > 127).sum()


def test_slashed_zero_adds_a_stroke_across_the_ring():
    rng = np.random.default_rng(0)
    ring = sketch_ink(RING, rng, height=120, brush_frac=0.06)
    slashed = EDITS["slashed_zero"][1](ring, rng)
    # The ring alone encloses one hole; a slash across it cuts that into two.
    inside = ndimage.binary_fill_holes(slashed >= 0.3) & (slashed < 0.3)
    assert ndimage.label(inside)[1] >= 2
    assert ndimage.label(ndimage.binary_fill_holes(ring >= 0.3) & (ring < 0.3))[1] == 1


def test_touching_pair_is_one_blob_and_scan_look_is_low_resolution():
    rng = np.random.default_rng(0)
    a, b = (sketch_ink(s, rng, height=100, brush_frac=0.08) for s in (RING, SEVEN))
    pair = side_by_side(a, b, gap=-0.3)
    assert ndimage.label(pair >= 0.3, np.ones((3, 3)))[1] == 1
    x0, y0, x1, y1 = ink_box(a)
    assert pair.shape[1] > 1.3 * (x1 - x0)  # wider than either digit: both are there
    scan = scan_look(a, rng)
    # Seen 10-26 px tall, then enlarged by 1-5: far fewer distinct rows of detail.
    assert scan.shape[0] <= a.shape[0] * 26 * 5 / (y1 - y0) + 2


def test_test_writers_never_reach_a_training_set():
    digit = PenDigit(3, "test-w01", "test", [[(0, 0), (1, 1)]])
    with pytest.raises(ValueError, match="evaluation only"):
        build_training_set([digit], np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64))


def test_plan_covers_every_kind_with_its_counts():
    config = SynthConfig(pen_renders=2, styled=30, not_digit=100, mnist_scans=10)
    jobs = plan_jobs(n_pen=40, config=config, chunk=25)
    totals: dict[str, int] = {}
    for job in jobs:
        totals[job.kind] = totals.get(job.kind, 0) + job.count
    assert totals["pen"] == 80 and totals["mnist_scan"] == 10
    assert all(totals[style] == 30 for style in STYLES)
    assert sum(totals[k] for k in ("pair", "fragment", "miscut", "scribble")) == 100
    assert len({job.seed for job in jobs}) == len(jobs)


# ------------------------------------------------------------------ real data


@pytest.mark.integration
@pytest.mark.parametrize("held_out", [0, 4])  # none (every train writer learnt) or the default 4
def test_training_data_holds_only_pen_train_writers(held_out, pen_digits, monkeypatch, tmp_path):
    import src.training.classifier as training
    from src.data import MNISTSplits
    from src.training.classifier import ClassifierRunConfig, prepare_training_data

    given = []

    def spy(pen, images, labels, config=None, workers=None):
        given.append(list(pen))
        return np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.int64)

    monkeypatch.setattr(training, "build_training_set", spy)
    tiny = torch.zeros(10, 28, 28, dtype=torch.uint8), torch.arange(10)
    config = ClassifierRunConfig()
    config.data.studio_view, config.data.cache = 0.0, str(tmp_path)
    config.data.pen_val_writers = held_out
    data = prepare_training_data(config, MNISTSplits(*tiny, *tiny, *tiny), pen_digits)
    train, val = given if held_out else (given[0], [])
    assert len(data.pen_val_labels) == (1 if held_out else 0)  # what the spy drew
    assert len(train) + len(val) == sum(d.split == "train" for d in pen_digits)
    for digit in train + val:
        assert digit.split == "train" and digit.writer.startswith("train-")
    assert not {d.writer for d in train} & {d.writer for d in val}
    assert len({d.writer for d in val}) == config.data.pen_val_writers
    assert all(w.startswith("train-") for w in data.pen_writers)


@pytest.mark.integration
@pytest.mark.parametrize("style", STYLES)
def test_shipped_classifier_reads_each_style(style, pen_digits, mnist):
    """A held-out batch of each style, made from the pen *test* writers and MNIST test
    digits with a seed training never used, is read as its label."""
    from src.models.classifier import load_classifier
    from src.studio import DEFAULT_CLASSIFIER
    from src.training.classifier import predict_logits

    test_pen = [(d.label, d.strokes) for d in pen_digits if d.split == "test"]
    sources = Sources(test_pen, mnist.test_images.numpy(), mnist.test_labels.numpy(), 0.0)
    images, labels = run_job(Job(style, 100, seed=987_654_321), sources)
    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    predicted = predict_logits(model, torch.from_numpy(images)).argmax(1).numpy()
    assert (predicted == labels).mean() >= 0.97
