"""Step 6, fusion: which cut of each region, with which labels.

The classifier reads well what was cut well; the line reader (CRNN + CTC) counts well
where strokes touch, since it never cuts. Every candidate cut of a region comes with one
or more labellings (`Option`): the classifier's own; and, where the line reader read as
many digits in the region as the cut has pieces, the line reader's labels and the
per-piece product of both models' probabilities. Each option is scored by both models:

    score = mean over pieces of log(P(one digit) * P(its label))       [classifier]
          + line_weight * log P_CTC(its labels | the region's columns) [line reader]

and the best option of each region is read. The classifier's crops, boxes and
probabilities stay with every digit, so confidences, Grad-CAM and the VAE work per
digit as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from src.models.line_reader import BLANK, DecodedDigit
from src.reading.cuts import Candidate
from src.reading.line_view import LineView, digit_probabilities, region_steps
from src.reading.regions import Region

IMPOSSIBLE = -1e4  # CTC log-likelihood of a reading the region's columns cannot hold


@dataclass
class Option:
    """One candidate cut with one labelling: its pieces' ten digit probabilities, and
    whose they are: "classifier", "line reader", or "both" (their product, renormalised)."""

    candidate: int
    probabilities: torch.Tensor  # (pieces, 10)
    source: str

    @property
    def labels(self) -> list[int]:
        return self.probabilities.argmax(dim=1).tolist()

    @property
    def text(self) -> str:
        return "".join(map(str, self.labels))


def label_options(
    candidates: list[Candidate],
    offsets: np.ndarray,
    probs: torch.Tensor,
    regions: list[Region],
    views: dict[int, LineView],
    held: list[list[DecodedDigit]],
) -> list[Option]:
    """Each candidate with the classifier's labels; where the line reader read as many
    digits in its region as it has pieces, also with the line reader's labels and with
    the product of both (each only when it reads differently)."""
    options = []
    for index, candidate in enumerate(candidates):
        piece_probs = probs[offsets[index] : offsets[index + 1]]
        options.append(Option(index, piece_probs, "classifier"))
        line_digits = held[candidate.region] if held else []
        if len(line_digits) != len(candidate.pieces):
            continue
        view = views[regions[candidate.region].line]
        line_probs = torch.stack([digit_probabilities(view, d) for d in line_digits])
        joint = piece_probs * line_probs
        joint = joint / joint.sum(dim=1, keepdim=True).clamp_min(1e-12)
        seen = {options[-1].text}
        for p, source in ((joint, "both"), (line_probs, "line reader")):
            option = Option(index, p, source)
            if option.text not in seen:
                options.append(option)
                seen.add(option.text)
    return options


def classifier_scores(
    options: list[Option], offsets: np.ndarray, probs: torch.Tensor, single: torch.Tensor
) -> torch.Tensor:
    """Per option, how surely its pieces are digits, each one digit with its label: the
    mean log of P(one digit) x P(that label | one digit), by the classifier. Half a digit
    or two digits in one piece score low on the first factor."""
    scores = []
    for option in options:
        start = offsets[option.candidate]
        pieces = torch.arange(start, start + len(option.labels))
        p = probs[pieces, torch.tensor(option.labels)] * single[pieces]
        scores.append(p.clamp_min(1e-6).log().mean())
    return torch.stack(scores)


def line_scores(
    options: list[Option],
    candidates: list[Candidate],
    regions: list[Region],
    views: dict[int, LineView],
) -> torch.Tensor:
    """Per option, log P(its labels) under the line reader's CTC over the time steps its
    region owns: how well its count and labels fit what the line reader saw."""
    spans: dict[int, tuple[int, int]] = {}
    for line, view in views.items():
        in_line = [i for i, r in enumerate(regions) if r.line == line]
        steps = region_steps(view, [regions[i] for i in in_line])
        spans.update(zip(in_line, steps, strict=True))
    columns = []
    for option in options:
        region = candidates[option.candidate].region
        start, stop = spans[region]
        columns.append(views[regions[region].line].log_probs[start:stop])
    return ctc_log_likelihoods(columns, [o.labels for o in options])


def best_per_region(
    options: list[Option], candidates: list[Candidate], scores: torch.Tensor
) -> dict[int, int]:
    """Region index -> index of its best-scoring option."""
    best: dict[int, int] = {}
    for index, option in enumerate(options):
        region = candidates[option.candidate].region
        if region not in best or scores[index] > scores[best[region]]:
            best[region] = index
    return best


def ctc_log_likelihoods(log_probs: list[torch.Tensor], texts: list[list[int]]) -> torch.Tensor:
    """log P(text | columns) under CTC for each (columns, text) pair, in one call;
    `IMPOSSIBLE` where the columns are too few to hold the text."""
    if not texts:
        return torch.zeros(0)
    steps = max(len(lp) for lp in log_probs)
    batch = torch.full((steps, len(texts), BLANK + 1), -1e9)
    batch[..., BLANK] = 0.0  # padding reads as blank (unused beyond each input length)
    for i, lp in enumerate(log_probs):
        batch[: len(lp), i] = lp
    loss = F.ctc_loss(
        batch,
        torch.tensor([t for text in texts for t in text]),
        torch.tensor([len(lp) for lp in log_probs]),
        torch.tensor([len(text) for text in texts]),
        blank=BLANK,
        reduction="none",
        zero_infinity=False,
    )
    return torch.where(torch.isfinite(loss), -loss, torch.tensor(IMPOSSIBLE)).clamp_min(IMPOSSIBLE)
