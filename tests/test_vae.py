import pytest
import torch

from src.checkpoint import CheckpointError, save_checkpoint
from src.config import config_to_dict
from src.models.vae import ConvVAE, VAEConfig, elbo_terms, importance_log_likelihood, load_vae


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return ConvVAE(VAEConfig(latent_dim=4, hidden_channels=4, hidden_dim=32))


def two_digits():
    """A vertical bar ("1") and a ring ("0"), as (2, 1, 28, 28) in [0, 1]."""
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 4:24, 12:16] = 1.0
    yy, xx = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    r = ((yy - 14) ** 2 + (xx - 14) ** 2).float().sqrt()
    x[1, 0] = ((r > 6) & (r < 9)).float()
    return x


@pytest.fixture(scope="module")
def fitted():
    """A tiny VAE overfitted on the two digits: reconstructions close to the inputs."""
    model = tiny_vae()
    x = two_digits()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        _, _, loss = elbo_terms(model, x, beta=0.01)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), x


def test_shapes():
    model = tiny_vae()
    x = torch.rand(3, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 4)
    assert model.decode(mu).min() >= 0 and model.decode(mu).max() <= 1
    assert model.sample(5).shape == (5, 1, 28, 28)


def test_loss_finite_and_decreasing_on_fixed_batch():
    model = tiny_vae()
    x = two_digits()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    first = None
    for _ in range(30):
        recon, kl, loss = elbo_terms(model, x)
        assert torch.isfinite(loss) and kl >= 0 and recon > 0
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first


def test_variations_shape_range_and_seed():
    model = tiny_vae().eval()
    x = two_digits()
    a = model.variations(x, 6, 1.0, torch.Generator().manual_seed(7))
    b = model.variations(x, 6, 1.0, torch.Generator().manual_seed(7))
    c = model.variations(x, 6, 1.0, torch.Generator().manual_seed(8))
    assert a.shape == (2, 6, 1, 28, 28)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    # temperature 0: every variation is the reconstruction from the posterior mean
    cold = model.variations(x, 3, 0.0)
    expected = model.decode(model.encode(x)[0])
    assert torch.allclose(cold, expected.unsqueeze(1).expand_as(cold), atol=1e-6)


def test_variations_match_per_digit_calls():
    """The batched call equals doing each digit alone (no cross-talk between digits)."""
    model = tiny_vae().eval()
    x = two_digits()
    together = model.variations(x, 1, 0.0)
    alone = torch.cat([model.variations(x[i : i + 1], 1, 0.0) for i in range(2)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_variations_stay_close_to_source(fitted):
    model, x = fitted
    variations = model.variations(x, 4, 0.5, torch.Generator().manual_seed(0))
    own = (variations - x.unsqueeze(1)).abs().mean(dim=(2, 3, 4))
    other = (variations - x.flip(0).unsqueeze(1)).abs().mean(dim=(2, 3, 4))
    assert (own < other).all()


def test_interpolation_end_points_decode_near_inputs(fitted):
    model, x = fitted
    path = model.interpolate(x[0], x[1], steps=7)
    assert path.shape == (7, 1, 28, 28)
    assert (path[0] - x[0]).abs().mean() < 0.1
    assert (path[-1] - x[1]).abs().mean() < 0.1
    middle = path[3]
    assert (middle - x[0]).abs().mean() > 0.05 and (middle - x[1]).abs().mean() > 0.05


def test_importance_bound_tighter_than_elbo(fitted):
    model, x = fitted
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    log_px = importance_log_likelihood(model, x, k=200, generator=g)
    recon, kl, _ = elbo_terms(model, x)
    assert torch.isfinite(log_px).all()
    assert -log_px.mean() <= (recon + kl).item() + 1.0  # IWAE bound >= ELBO (up to noise)


def test_load_vae_round_trip_and_wrong_kind(tmp_path):
    model = tiny_vae().eval()
    path = tmp_path / "vae.pth"
    save_checkpoint(path, "vae", model, config_to_dict(model.config))
    loaded = load_vae(path, device="cpu")
    x = two_digits()
    assert torch.allclose(loaded.encode(x)[0], model.encode(x)[0])
    with pytest.raises(CheckpointError, match="expected 'classifier'"):
        from src.models.classifier import load_classifier

        load_classifier(path)
