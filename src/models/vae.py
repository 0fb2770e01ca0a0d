"""A convolutional VAE on 28x28 digits, and the ways the studio uses it.

Encoder: two strided convs (28 -> 14 -> 7) and a dense layer to the posterior's mean and
log-variance. Decoder: the mirror image with transposed convs. Pixels are modelled as
Bernoulli on [0, 1] intensities, so the reconstruction term is summed binary
cross-entropy over the 784 pixels: the metric the PyTorch VAE example prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from src.checkpoint import load_model
from src.config import bounded


@dataclass
class VAEConfig:
    latent_dim: int = bounded(16, 1, 256)
    hidden_channels: int = bounded(32, 4, 256)  # encoder widths c, 2c; decoder mirrors
    hidden_dim: int = bounded(128, 16, 4096)  # dense layer between convs and latents


def conv_features(c: int) -> list[nn.Module]:
    """28x28 -> 14x14 -> 7x7 strided convs, flattened to 2c * 49 features."""
    return [
        nn.Conv2d(1, c, 4, stride=2, padding=1),  # 14x14
        nn.GELU(),
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # 7x7
        nn.GELU(),
        nn.Flatten(),
    ]


def conv_decoder(c: int, h: int, inputs: int) -> list[nn.Module]:
    """The mirror of `conv_features` after a dense layer: `inputs` -> 28x28 logits."""
    return [
        nn.Linear(inputs, h),
        nn.GELU(),
        nn.Linear(h, 2 * c * 49),
        nn.GELU(),
        nn.Unflatten(1, (2 * c, 7, 7)),
        nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),  # 14x14
        nn.GELU(),
        nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),  # 28x28 logits
    ]


class ConvVAE(nn.Module):
    """Input (N, 1, 28, 28) in [0, 1]; `forward` returns (logits, mu, logvar)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c, h, z = config.hidden_channels, config.hidden_dim, config.latent_dim
        self.encoder = nn.Sequential(
            *conv_features(c), nn.Linear(2 * c * 49, h), nn.GELU(), nn.Linear(h, 2 * z)
        )
        self.decoder = nn.Sequential(*conv_decoder(c, h, z))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)  # keeps exp() finite on odd inputs

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, z) -> images (N, 1, 28, 28): Bernoulli means in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode_logits(z), mu, logvar

    # ------------------------------------------------------------ what the studio uses

    @torch.no_grad()
    def variations(
        self,
        digits: torch.Tensor,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """n decoded samples around each digit's posterior: (N, 1, 28, 28) -> (N, n, 1, 28, 28).

        One batched encode and one batched decode for all N*n samples. `temperature`
        scales the posterior's spread: 0 gives the reconstruction n times.
        """
        mu, logvar = self.encode(digits)
        std = (0.5 * logvar).exp() * temperature
        noise = torch.randn(
            (len(digits), n, mu.shape[1]), generator=generator, device=mu.device, dtype=mu.dtype
        )
        z = mu.unsqueeze(1) + std.unsqueeze(1) * noise
        images = self.decode(z.flatten(0, 1))
        return images.view(len(digits), n, *digits.shape[1:])

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        """Decode `steps` points on the line between the posterior means of digits a and b.

        a, b: (1, 28, 28) or (1, 1, 28, 28); returns (steps, 1, 28, 28), a first, b last.
        """
        mu, _ = self.encode(torch.stack([a.reshape(1, 28, 28), b.reshape(1, 28, 28)]))
        weights = torch.linspace(0, 1, steps, device=mu.device).unsqueeze(1)
        return self.decode((1 - weights) * mu[0] + weights * mu[1])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n digits from the prior N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.config.latent_dim), generator=generator).to(device)
        return self.decode(z)


# ---------------------------------------------------------------------------- objectives


def elbo_terms(
    model: nn.Module, x: torch.Tensor, beta: float = 1.0, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-batch means of (reconstruction, KL, loss) in nats per image; `labels` for a
    conditional model (`StyleVAE`)."""
    logits, mu, logvar = model(x) if labels is None else model(x, labels)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    return recon, kl, recon + beta * kl


@torch.no_grad()
def importance_log_likelihood(
    model: ConvVAE, x: torch.Tensor, k: int = 100, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) per image (IWAE bound with k samples).

    log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x); tighter than the ELBO as k grows.
    """
    mu, logvar = model.encode(x)
    std = (0.5 * logvar).exp()
    eps = torch.randn((k, *mu.shape), generator=generator).to(mu)
    z = mu + std * eps  # (k, N, z)
    logits = model.decode_logits(z.flatten(0, 1)).view(k, *x.shape)
    log_px_z = -F.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none"
    ).sum(dim=(2, 3, 4))
    log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(-1)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)


def load_vae(path: str | Path, device: str | torch.device = "auto") -> ConvVAE:
    """Rebuild a VAE from a checkpoint, in eval mode."""
    return load_model(path, "vae", VAEConfig, ConvVAE, device)
