import pytest
import torch
import torch.nn.functional as F

from src.calibration import expected_calibration_error, fit_temperature
from src.checkpoint import CheckpointError, save_checkpoint
from src.config import config_to_dict
from src.models.classifier import ClassifierConfig, DigitClassifier, load_classifier
from src.training.classifier import evaluation_report, one_cycle_lr, predict_logits


def tiny(width=4):
    torch.manual_seed(0)
    return DigitClassifier(ClassifierConfig(hidden_channels=width, dropout=0.0))


def test_forward_shapes_and_gradcam_layer():
    model = tiny().eval()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, 16, 7, 7)  # gradcam layer keeps a 7x7 grid
    probs = model.calibrated_probs(x)
    assert torch.allclose(probs.sum(1), torch.ones(5))
    assert model.gradcam_layer is model.stage3
    assert not any(getattr(m, "inplace", False) for m in model.modules())


def test_one_training_step_lowers_loss_on_fixed_batch():
    model = tiny()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    assert F.cross_entropy(model(x), y).item() < losses[0]


def test_temperature_fitting_lowers_nll():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 10, generator=g) * 2
    # Labels drawn from softmax(logits): those logits are calibrated by construction,
    # so logits * 4 (far too sure) needs exactly T = 4.
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)
    overconfident = logits * 4
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(4.0, rel=0.15)
    before = F.cross_entropy(overconfident, labels)
    after = F.cross_entropy(overconfident / t, labels)
    assert after < before
    ece_before = expected_calibration_error(torch.softmax(overconfident, 1), labels)
    ece_after = expected_calibration_error(torch.softmax(overconfident / t, 1), labels)
    assert ece_after < ece_before


def test_evaluation_report_counts():
    logits = torch.eye(10).repeat(3, 1) * 5
    labels = torch.arange(10).repeat(3)
    labels[0] = 1  # one mistake: true 1 predicted 0
    report = evaluation_report(logits, labels, temperature=1.0)
    assert report["n"] == 30 and report["errors"] == 1
    assert report["accuracy"] == pytest.approx(29 / 30)
    assert report["per_class_accuracy"]["1"] == pytest.approx(3 / 4)
    assert report["confusion_matrix"][1][0] == 1


def test_one_cycle_schedule_shape():
    lrs = [one_cycle_lr(s, 100, 1.0, 0.25) for s in range(100)]
    assert lrs[0] < lrs[24] == pytest.approx(1.0)
    assert lrs[-1] < 0.01 and max(lrs) <= 1.0


def test_load_classifier_round_trip(tmp_path):
    model = tiny()
    model.temperature.fill_(1.3)
    path = tmp_path / "c.pth"
    save_checkpoint(path, "classifier", model, config_to_dict(model.config))
    loaded = load_classifier(path, device="cpu")
    assert not loaded.training and loaded.temperature.item() == pytest.approx(1.3)
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(predict_logits(model, x), loaded(x), atol=1e-6)


def test_load_classifier_rejects_bad_model_config(tmp_path):
    path = tmp_path / "c.pth"
    save_checkpoint(path, "classifier", tiny(), {"hidden_channels": 4, "depth": 9})
    with pytest.raises(CheckpointError, match="unknown key 'depth'"):
        load_classifier(path)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_training_shows_the_configured_share_of_studio_views(monkeypatch, share):
    import src.training.classifier as training
    from src.data import MNISTSplits
    from src.training.classifier import ClassifierRunConfig, TrainingData, fit_classifier

    raw = torch.full((64, 28, 28), 10, dtype=torch.uint8)
    views = torch.full((64, 28, 28), 200, dtype=torch.uint8)
    labels = torch.arange(64) % 10
    splits = MNISTSplits(raw, labels, raw[:8], labels[:8], raw[:8], labels[:8])
    config = ClassifierRunConfig()
    config.model = ClassifierConfig(hidden_channels=4)
    config.training.epochs = 1
    config.data.batch_size = 32
    config.data.studio_view = share
    shown = []
    real_batches = training.batches

    def spy(images, *args, **kwargs):
        shown.append(images)
        return real_batches(images, *args, **kwargs)

    monkeypatch.setattr(training, "batches", spy)
    none = torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    data = TrainingData(splits, views, *none, *none, [])
    fit_classifier(config, data, torch.device("cpu"), progress=False)
    assert torch.equal(shown[0], views if share == 1.0 else raw)
