"""Confidence calibration: temperature scaling, expected calibration error, NLL."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) on held-out data."""
    logits, labels = logits.detach().float(), labels.detach()
    return fit_scale(lambda t: F.cross_entropy(logits / t, labels), max_iter)


def fit_scale(loss_at: Callable[[torch.Tensor], torch.Tensor], max_iter: int = 100) -> float:
    """The T > 0 minimising `loss_at(T)`, a held-out NLL of logits / T.

    Optimised over log T so T stays positive; one scalar, so LBFGS converges in a few steps.
    """
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_at(log_t.exp())
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> list[dict[str, float]]:
    """Per confidence bin: its range, count, mean confidence and accuracy."""
    confidence, predicted = probs.max(dim=1)
    return confidence_bins(confidence, predicted == labels, n_bins)


def confidence_bins(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15
) -> list[dict[str, float]]:
    """Reliability bins of any predictions given as (confidence, was it right)."""
    correct = correct.float()
    edges = torch.linspace(0, 1, n_bins + 1)
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        count = int(in_bin.sum())
        bins.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "count": count,
                "confidence": float(confidence[in_bin].mean()) if count else 0.0,
                "accuracy": float(correct[in_bin].mean()) if count else 0.0,
            }
        )
    return bins


def confidence_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """ECE of predictions given as (confidence, was it right)."""
    total = max(1, len(confidence))
    return sum(
        b["count"] / total * abs(b["confidence"] - b["accuracy"])
        for b in confidence_bins(confidence, correct, n_bins)
    )


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> float:
    """ECE: the count-weighted gap between confidence and accuracy over confidence bins."""
    confidence, predicted = probs.max(dim=1)
    return confidence_error(confidence, predicted == labels, n_bins)


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor, t: float = 1.0) -> float:
    return F.cross_entropy(logits / t, labels).item()
