"""The compact CNN that reads one 28x28 digit.

Three conv stages (28 -> 14 -> 7), global average pooling, dropout and a dense head.
Stages pool *before* BatchNorm and ReLU: max-pooling commutes with the ReLU, and doing the
elementwise work on a quarter of the pixels is what makes a CPU epoch take seconds, not
minutes (BatchNorm and ReLU at 28x28 cost more than the convolutions themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from src.checkpoint import load_model
from src.config import bounded

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class ClassifierConfig:
    hidden_channels: int = bounded(32, 1, 512)  # stage 1 width; stages 2, 3 are 2x and 4x
    dropout: float = bounded(0.1, 0.0, 0.9)
    num_classes: int = bounded(10, 2, 1000)
    # An extra output for "not a single digit" (touching pairs, fragments, scribbles):
    # the splitter asks it whether a cut is right. `forward` leaves it out.
    reject_class: bool = False


def conv_bn_relu(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    # No inplace=True anywhere: Grad-CAM hooks need the autograd graph untouched.
    layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers)


class DigitClassifier(nn.Module):
    """Input (N, 1, 28, 28) floats in [0, 1], ink bright on dark; output (N, 10) logits
    (`all_logits` adds the "not a single digit" logit when `reject_class` is set)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c = config.hidden_channels
        self.stage1 = nn.Sequential(conv_bn_relu(1, c, pool=True), conv_bn_relu(c, c))
        self.stage2 = nn.Sequential(conv_bn_relu(c, 2 * c, pool=True), conv_bn_relu(2 * c, 2 * c))
        self.stage3 = conv_bn_relu(2 * c, 4 * c)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(4 * c, config.num_classes + int(config.reject_class)),
        )
        # Calibration temperature fitted on validation data after training; logits / T
        # gives the confidences the studio shows. A buffer, so it travels in state_dict.
        self.register_buffer("temperature", torch.ones(()))

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last conv stage that still has spatial extent (7x7): Grad-CAM's target."""
        return self.stage3

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last: max-pooling in NCHW is ~10x slower on CPU than in NHWC.
        x = ((x - MNIST_MEAN) / MNIST_STD).contiguous(memory_format=torch.channels_last)
        return self.stage3(self.stage2(self.stage1(x)))

    def all_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The digit logits, then the "not a single digit" logit when the model has one."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the digits alone (N, num_classes): what explanations, calibration
        and accuracy use; a softmax over them is P(digit | it is one digit)."""
        return self.all_logits(x)[:, : self.config.num_classes]

    def calibrated_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of temperature-scaled logits: probabilities fit to show a person."""
        return torch.softmax(self(x) / self.temperature, dim=1)

    def reading_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: calibrated digit probabilities (N, num_classes) and the
        probability that each input is one digit at all (N,); 1 without a reject class."""
        logits = self.all_logits(x) / self.temperature
        digits = torch.softmax(logits[:, : self.config.num_classes], dim=1)
        if not self.config.reject_class:
            return digits, torch.ones(len(x))
        return digits, 1 - torch.softmax(logits, dim=1)[:, -1]


def load_classifier(path: str | Path, device: str | torch.device = "auto") -> DigitClassifier:
    """Rebuild a classifier from a checkpoint, in eval mode, with its fitted temperature."""
    model = load_model(path, "classifier", ClassifierConfig, DigitClassifier, device)
    return model.to(memory_format=torch.channels_last)
