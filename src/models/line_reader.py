"""A segmentation-free line reader: a compact CRNN trained with CTC.

Input: a line of digits, height-normalised to `LINE_HEIGHT` px, ink bright on dark, any
width. Convolutions turn it into one feature column per 4 px of width; a bidirectional
GRU reads the columns in context; a linear layer gives, per column, log-probabilities of
the ten digits and of the CTC blank. Greedy decoding keeps the best class per column,
merges repeats and drops blanks, and remembers which columns each digit came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from src.checkpoint import load_model
from src.config import bounded

LINE_HEIGHT = 32
BLANK = 10  # CTC blank: digits keep their own indices 0-9
STRIDE = 4  # input columns per output time step


@dataclass
class LineReaderConfig:
    channels: int = bounded(16, 4, 256)  # stage widths c, 2c, 4c, 4c
    hidden: int = bounded(96, 8, 1024)  # GRU units per direction
    dropout: float = bounded(0.1, 0.0, 0.9)


def conv_block(c_in: int, c_out: int, pool: tuple[int, int] | None) -> nn.Sequential:
    # Pool *before* BatchNorm and ReLU, as in the classifier: the elementwise work then
    # runs on a quarter of the pixels (training steps take about 15% less time).
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool is not None:
        layers.append(nn.MaxPool2d(pool))
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out), nn.ReLU())


class LineReader(nn.Module):
    """(N, 1, 32, W) floats in [0, 1] -> (T = W // 4, N, 11) CTC log-probabilities."""

    def __init__(self, config: LineReaderConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        # Height 32 -> 16 -> 8 -> 4 -> 1; width only halves twice, so each time step
        # sees 4 px of the line (a digit is ~20 px wide at this height).
        self.features = nn.Sequential(
            conv_block(1, c, (2, 2)),
            conv_block(c, 2 * c, (2, 2)),
            conv_block(2 * c, 4 * c, (2, 1)),
            conv_block(4 * c, 4 * c, (2, 1)),
            nn.Conv2d(4 * c, 4 * c, (2, 1), bias=False),  # height 2 -> 1 after the pools
        )
        self.rnn = nn.GRU(4 * c, config.hidden, batch_first=False, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden, 11)
        self.register_buffer("temperature", torch.ones(()))

    def feature_columns(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 32, W) -> conv features (N, C, 1, W // 4), the Grad-CAM target."""
        # Channels-last, as in training and in the classifier: with the weights in that
        # layout too (see `load_line_reader`), a 6-digit line's features take 1.1 ms
        # instead of 1.8, a batch of three lines 1.9 instead of 4.4 (2 cores).
        return self.features(x.contiguous(memory_format=torch.channels_last))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        columns = self.feature_columns(x).squeeze(2).permute(2, 0, 1)  # (T, N, C)
        context, _ = self.rnn(columns)
        return self.head(self.dropout(context))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The temperature is 1 while training, fitted on held-out lines afterwards.
        return torch.log_softmax(self.logits(x) / self.temperature, dim=-1)


@dataclass
class DecodedDigit:
    label: int
    confidence: float  # calibrated: the digit's best per-column probability
    columns: tuple[int, int]  # first and last time step it was read from (inclusive)


def greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None
) -> list[list[DecodedDigit]]:
    """Best path decoding of (T, N, 11) log-probabilities: per line, the digits read,
    each with its confidence and the time steps it spans (repeats merged, blanks gone)."""
    probs, best = log_probs.exp().max(dim=-1)  # (T, N)
    T, N = best.shape
    lengths = lengths if lengths is not None else torch.full((N,), T)
    lines = []
    for n in range(N):
        path, conf = best[: lengths[n], n].tolist(), probs[: lengths[n], n].tolist()
        digits: list[DecodedDigit] = []
        previous = BLANK
        for t, (label, p) in enumerate(zip(path, conf, strict=True)):
            if label != BLANK and label == previous:  # the same digit, one more column
                last = digits[-1]
                last.columns = (last.columns[0], t)
                last.confidence = max(last.confidence, p)
            elif label != BLANK:
                digits.append(DecodedDigit(label, p, (t, t)))
            previous = label
        lines.append(digits)
    return lines


def load_line_reader(path: str | Path, device: str | torch.device = "auto") -> LineReader:
    """Rebuild a line reader from a checkpoint, in eval mode, with its temperature."""
    model = load_model(path, "line_reader", LineReaderConfig, LineReader, device)
    return model.to(memory_format=torch.channels_last)
