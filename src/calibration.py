"""Confidence calibration: temperature scaling, expected calibration error, NLL."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) on held-out data.

    Optimised over log T so T stays positive; one scalar, so LBFGS converges in a few steps.
    """
    logits, labels = logits.detach().float(), labels.detach()
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> list[dict[str, float]]:
    """Per confidence bin: its range, count, mean confidence and accuracy."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
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


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> float:
    """ECE: the count-weighted gap between confidence and accuracy over confidence bins."""
    total = len(labels)
    return sum(
        b["count"] / total * abs(b["confidence"] - b["accuracy"])
        for b in reliability_bins(probs, labels, n_bins)
    )


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor, t: float = 1.0) -> float:
    return F.cross_entropy(logits / t, labels).item()
