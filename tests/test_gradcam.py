import gc

import pytest
import torch
import torch.nn.functional as F

from src.models.classifier import ClassifierConfig, DigitClassifier
from src.utils.gradcam import (
    METHODS,
    GradCAM,
    deletion_auc,
    deletion_curve,
    normalize_maps,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = DigitClassifier(ClassifierConfig(hidden_channels=4, dropout=0.0))
    # Non-trivial BatchNorm statistics so eval and train mode really differ.
    with torch.no_grad():
        m.train()
        m(torch.rand(64, 1, 28, 28))
    return m.eval()


@pytest.fixture
def digits():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_gradcam_matches_captum(model, digits):
    from captum.attr import LayerAttribution, LayerGradCam

    targets = torch.tensor([0, 1, 2, 3, 4, 5])
    with GradCAM(model) as cam:
        ours = cam(digits, targets)
        assert cam.layer is model.gradcam_layer
    raw = LayerGradCam(model, model.gradcam_layer).attribute(
        digits, target=targets, relu_attributions=True
    )
    theirs = LayerAttribution.interpolate(raw, (28, 28), interpolate_mode="bilinear")
    theirs = normalize_maps(theirs[:, 0].detach())
    assert ours.shape == (6, 28, 28)
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_shape_range_and_no_side_effects(model, digits, name):
    model.train()  # the caller's mode must survive
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with METHODS[name](model) as method:
        maps = method(digits)
    assert maps.shape == (6, 28, 28)
    assert maps.min() >= 0 and maps.max() <= 1 and torch.isfinite(maps).all()
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():  # BatchNorm statistics untouched
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_work_under_no_grad_and_inference_mode(model, digits, name):
    with METHODS[name](model) as method:
        expected = method(digits)
        with torch.no_grad():
            assert torch.allclose(method(digits), expected, atol=1e-6)
        with torch.inference_mode():
            inside = method(digits.clone())
        assert torch.allclose(inside, expected, atol=1e-6)


def test_frozen_model_still_explained(model, digits):
    for p in model.parameters():
        p.requires_grad_(False)
    with GradCAM(model) as cam:
        maps = cam(digits)
    assert maps.flatten(1).amax(1).gt(0).any()
    assert not any(p.requires_grad for p in model.parameters())


def test_batch_equals_one_at_a_time(model, digits):
    with GradCAM(model) as cam:
        together = cam(digits)
        alone = torch.cat([cam(digits[i : i + 1]) for i in range(len(digits))])
    assert torch.allclose(together, alone, atol=1e-5)


def test_hooks_do_not_pile_up(model, digits):
    layer = model.gradcam_layer
    for _ in range(50):
        with GradCAM(model) as cam:
            cam(digits)
    assert len(layer._forward_hooks) == 0
    gc.collect()
    # A released method refuses politely instead of returning stale maps.
    cam = GradCAM(model)
    cam.release()
    cam.release()
    with pytest.raises(RuntimeError, match="released"):
        cam(digits)


def test_all_zero_map_stays_zero():
    maps = torch.zeros(2, 28, 28)
    maps[1, 3, 4] = 2.0
    out = normalize_maps(maps)
    assert out[0].eq(0).all() and out[1].max() == 1.0


def test_deletion_curve_rewards_the_true_evidence():
    """A model that only looks at the top-left quadrant: a map pointing there must
    delete the class faster than one pointing elsewhere."""

    class TopLeft(torch.nn.Module):
        def forward(self, x):
            evidence = x[:, 0, :14, :14].mean(dim=(1, 2)) * 40
            return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)

    x = torch.ones(3, 1, 28, 28)
    right = torch.zeros(3, 28, 28)
    right[:, :14, :14] = 1
    wrong = 1 - right
    auc_right = deletion_auc(deletion_curve(TopLeft(), x, right, steps=10))
    auc_wrong = deletion_auc(deletion_curve(TopLeft(), x, wrong, steps=10))
    assert (auc_right < auc_wrong).all()
    curve = deletion_curve(TopLeft(), x, right, steps=10)
    assert curve.shape == (3, 11) and torch.allclose(curve[:, 0], F.softmax(TopLeft()(x), 1)[:, 0])
