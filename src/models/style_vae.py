"""A conditional VAE for restyling: the digit's label is given, so the latent keeps what
the label does not say, the writer's style (slant, proportions, loops, flourishes).

    q(z | x, y): the encoder of `ConvVAE`, its features joined with the one-hot label
    p(x | z, y): the decoder of `ConvVAE`, fed the latent joined with the one-hot label

A person's style is a latent per digit: the mean posterior of all the digits they wrote,
drawn towards the posteriors of their own copies of that digit where they wrote one (a
crossed seven stays crossed). Writing any digit in that style is one decode with its
label and its row of the style.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from src.checkpoint import load_model
from src.config import bounded
from src.models.vae import conv_decoder, conv_features


@dataclass
class StyleVAEConfig:
    latent_dim: int = bounded(8, 1, 256)
    hidden_channels: int = bounded(32, 4, 256)  # encoder widths c, 2c; decoder mirrors
    hidden_dim: int = bounded(256, 16, 4096)


class StyleVAE(nn.Module):
    """Input (N, 1, 28, 28) in [0, 1] and labels (N,); `forward` returns
    (logits, mu, logvar)."""

    def __init__(self, config: StyleVAEConfig) -> None:
        super().__init__()
        self.config = config
        c, h, z = config.hidden_channels, config.hidden_dim, config.latent_dim
        self.features = nn.Sequential(*conv_features(c))
        self.posterior = nn.Sequential(
            nn.Linear(2 * c * 49 + 10, h), nn.GELU(), nn.Linear(h, 2 * z)
        )
        self.decoder = nn.Sequential(*conv_decoder(c, h, z + 10))

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = F.one_hot(labels.long(), 10).to(x.dtype)
        mu, logvar = self.posterior(torch.cat([self.features(x), onehot], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, F.one_hot(labels.long(), 10).to(z.dtype)], 1))

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, labels)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode_logits(z, labels), mu, logvar

    @torch.no_grad()
    def style(
        self, digits: torch.Tensor, labels: torch.Tensor, prior_weight: float = 1.0
    ) -> torch.Tensor:
        """One writer's style from their digits (N, 1, 28, 28): a latent per label (10, z).

        Row d is the mean of the writer's posteriors of digit d with the mean over all
        their digits counted `prior_weight` times more: their own 7s decide how they
        write 7, and a digit they never wrote gets their overall hand."""
        mu = self.encode(digits, labels)[0]
        overall = mu.mean(dim=0)
        onehot = F.one_hot(labels.long(), 10).to(mu.dtype)  # (N, 10)
        sums = onehot.T @ mu + prior_weight * overall  # (10, z)
        return sums / (onehot.sum(0) + prior_weight).unsqueeze(1)

    @torch.no_grad()
    def latents(
        self,
        labels: torch.Tensor,
        style: torch.Tensor,
        spread: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The latent (N, z) that writes each of `labels` (N,) in `style` (one latent
        (z,), or one per label (10, z)). `spread` > 0 adds that much prior noise per
        digit, so repeated digits are not identical."""
        labels = labels.to(style.device)
        z = style[labels] if style.dim() == 2 else style.expand(len(labels), -1)
        if spread > 0:
            noise = torch.randn(z.shape, generator=generator).to(z)
            z = z + spread * noise
        return z

    @torch.no_grad()
    def draw(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Digits `labels` (N,) from latents `z` (N, z): (N, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, labels.to(z.device)))

    @torch.no_grad()
    def write(
        self,
        labels: torch.Tensor,
        style: torch.Tensor,
        spread: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Digits `labels` (N,) in `style` (see `latents`): (N, 1, 28, 28) in [0, 1]."""
        return self.draw(self.latents(labels, style, spread, generator), labels)


def load_style_vae(path: str | Path, device: str | torch.device = "auto") -> StyleVAE:
    """Rebuild the restyling VAE from a checkpoint, in eval mode."""
    return load_model(path, "style_vae", StyleVAEConfig, StyleVAE, device)
