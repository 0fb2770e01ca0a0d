"""The shipped checkpoints, judged on real MNIST against the metrics they record."""

import subprocess
import sys

import pytest
import torch

from src.checkpoint import load_checkpoint
from src.data import to_float
from src.models.classifier import load_classifier
from src.models.vae import load_vae
from src.studio import DEFAULT_CLASSIFIER, DEFAULT_VAE, ROOT
from src.training import classifier as classifier_run
from src.training import line_reader as line_reader_run
from src.training import style_vae as style_vae_run
from src.training import vae as vae_run
from src.training.classifier import (
    accuracy_and_loss,
    held_out_writers,
    predict_logits,
    split_pen_writers,
    studio_view_accuracy,
)
from src.training.vae import neg_elbo

pytestmark = pytest.mark.integration


def test_shipped_classifier_matches_its_recorded_accuracy(mnist):
    recorded = load_checkpoint(DEFAULT_CLASSIFIER, "classifier")["metrics"]["test_accuracy"]
    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    accuracy, _ = accuracy_and_loss(predict_logits(model, mnist.test_images), mnist.test_labels)
    assert abs(accuracy - recorded) <= 0.0005  # within 0.05 points of what it records
    # Half its MNIST digits are studio views, and half of each epoch is pen writing,
    # styles, scans and "not a digit" (issue 11): raw MNIST fell 99.41% -> 99.21% while
    # unseen pen writers rose 96.35% -> 97.7%. The floor catches a broken model.
    assert accuracy >= 0.99
    assert DEFAULT_CLASSIFIER.stat().st_size < 2 * 1024 * 1024


def test_shipped_classifier_reads_mnist_as_the_studio_sees_it(mnist):
    recorded = load_checkpoint(DEFAULT_CLASSIFIER, "classifier")["metrics"]
    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    accuracy = studio_view_accuracy(model, mnist.test_images, mnist.test_labels)
    assert abs(accuracy - recorded["test_accuracy_studio_view"]) <= 0.0005
    assert accuracy >= 0.98


def test_bold_mnist_digits_keep_their_loops_as_the_studio_sees_them(mnist):
    """MNIST's boldest digits (a pen over the 25% of their size kept as written, 3.7% of
    the test set, mostly 0, 6 and 8) are worn down to that width, not thinned: thinned,
    a loop the pen nearly filled became a line and only 91.6% read right."""
    from src.reading.config import SegmentConfig
    from src.reading.normalize import as_sketch, pen_share

    config = SegmentConfig()
    bold = [
        i
        for i, image in enumerate(mnist.test_images.numpy())
        if pen_share(as_sketch(image), config) > config.keep_pen_max
    ]
    assert 200 <= len(bold) <= 600
    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    accuracy = studio_view_accuracy(model, mnist.test_images[bold], mnist.test_labels[bold])
    assert accuracy >= 0.99


def test_shipped_classifier_is_calibrated(mnist):
    from src.calibration import expected_calibration_error

    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    probs = torch.softmax(predict_logits(model, mnist.test_images) / model.temperature, 1)
    assert expected_calibration_error(probs, mnist.test_labels) < 0.01


def test_shipped_models_never_saw_the_tuning_writers(pen_digits):
    """Settings are tried on 4 pen train writers (`--writers val`): every shipped model
    that learns from pen writing must have held them out."""
    tuning = {d.writer for d in split_pen_writers(pen_digits, 4, 0)[1]}
    assert len(tuning) == 4
    for name, kind in (
        ("classifier.pth", "classifier"),
        ("line_reader.pth", "line_reader"),
        ("style_vae.pth", "style_vae"),
    ):
        config = load_checkpoint(ROOT / "checkpoints" / name, kind)["train_config"]
        assert tuning <= held_out_writers(config, pen_digits), name


def test_shipped_vae_matches_its_recorded_metric(mnist):
    checkpoint = load_checkpoint(DEFAULT_VAE, "vae")
    model = load_vae(DEFAULT_VAE, "cpu")
    subset = neg_elbo(model, mnist.test_images[:2000])["neg_elbo"]
    # The first 2,000 test images give 94.07 against 94.70 on all 10,000.
    assert abs(subset - checkpoint["metrics"]["test_neg_elbo"]) < 1.5
    assert checkpoint["metrics"]["test_neg_elbo"] <= 95.0
    assert DEFAULT_VAE.stat().st_size < 4 * 1024 * 1024


def test_vae_variations_stay_the_same_digit(mnist):
    """Most temperature-1 variations keep the source digit's label."""
    classifier = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    vae = load_vae(DEFAULT_VAE, "cpu")
    digits, labels = to_float(mnist.test_images[:200]), mnist.test_labels[:200]
    samples = vae.variations(digits, 8, 1.0, torch.Generator().manual_seed(0))
    predicted = predict_logits(classifier, samples.flatten(0, 1)).argmax(1).view(200, 8)
    assert (predicted == labels.view(-1, 1)).float().mean() >= 0.9


def test_every_shipped_checkpoint_redraws_its_training_curves(tmp_path):
    """`make figures` draws the README's curves from the history each checkpoint
    carries: every shipped model must carry every key its curves plot."""
    runs = {"classifier": classifier_run, "vae": vae_run,
            "line_reader": line_reader_run, "style_vae": style_vae_run}  # fmt: skip
    for kind, module in runs.items():
        history = load_checkpoint(ROOT / "checkpoints" / f"{kind}.pth", kind)["metrics"]["history"]
        assert history, kind
        keys = {key for panel in module.CURVES.values() for key in panel}
        assert keys <= set(history[0]), (kind, keys - set(history[0]))
    script = ROOT / "scripts" / "model_figures.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "classifier_curves.png", "line_reader_curves.png",
        "style_vae_curves.png", "vae_curves.png",
    ]  # fmt: skip
