"""Why the classifier said what it said: attribution maps for a batch of digits.

Every method has one interface and returns (N, H, W) maps in [0, 1]:

    with GradCAM(model) as cam:
        maps = cam(x, targets=None)     # targets default to the predicted classes

Methods run the whole batch in one forward and one backward pass (Integrated Gradients
and occlusion: one batched pass over all their inputs). They leave no trace on the model:
hooks are removed on exit, train/eval mode is restored, no parameter gradient is touched,
and they work when called inside `torch.no_grad()` or `torch.inference_mode()`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from src.runtime import eval_mode


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Divide each map by its maximum; an all-zero map stays zero."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, *([1] * (maps.dim() - 1)))
    return torch.where(peak > 1e-12, maps / peak, torch.zeros_like(maps))


@contextmanager
def _grad_enabled_eval(model: nn.Module):
    """Gradients on and the model in eval mode for the duration; the caller's mode back."""
    with torch.inference_mode(False), torch.enable_grad(), eval_mode(model):
        yield


class AttributionMethod:
    """Base: resolve targets, own the context; subclasses compute the raw maps."""

    name = "attribution"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> AttributionMethod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Free hooks or other resources; safe to call twice."""

    def __call__(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        with _grad_enabled_eval(self.model):
            # A fresh tensor outside inference mode, so autograd can record on it.
            x = x.detach().clone().requires_grad_(True)
            maps = self.attribute(x, targets)
        return normalize_maps(maps.detach())

    def attribute(self, x: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def _select(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        if targets is None:
            targets = logits.argmax(dim=1)
        targets = torch.as_tensor(targets, device=logits.device).view(-1, 1)
        return logits.gather(1, targets).sum()


class GradCAM(AttributionMethod):
    """Grad-CAM (Selvaraju et al. 2017): activations of a conv layer weighted by the mean
    gradient of the target score per channel, ReLU, upsampled to the input size."""

    name = "Grad-CAM"

    def __init__(self, model: nn.Module, layer: nn.Module | None = None) -> None:
        super().__init__(model)
        self.layer = layer if layer is not None else model.gradcam_layer
        self._activations: torch.Tensor | None = None
        self._capturing = False
        self._handle = self.layer.register_forward_hook(self._keep_activations)

    def _keep_activations(
        self, module: nn.Module, inputs: object, output: torch.Tensor
    ) -> torch.Tensor | None:
        if not self._capturing:
            return None
        # The layers below ran without autograd (nothing there needs a gradient): start
        # recording here, from a leaf, so the backward pass covers only the head.
        leaf = output.detach().requires_grad_(True)
        torch.set_grad_enabled(True)
        self._activations = leaf
        return leaf

    def release(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._activations = None

    def channel_weights(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return grads.mean(dim=(2, 3), keepdim=True)

    def attribute(self, x: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        if self._handle is None:
            raise RuntimeError(f"{self.name} was released; create a new one")
        self._capturing = True
        try:
            with torch.no_grad():  # exiting restores grad mode after the hook's switch
                logits = self.model(x)
                score = self._select(logits, targets)
        finally:
            self._capturing = False
        activations = self._activations
        if activations is None:
            raise RuntimeError(f"{self.name}: the model never ran {type(self.layer).__name__}")
        # Gradient w.r.t. the layer output only: parameters' .grad stay untouched.
        (grads,) = torch.autograd.grad(score, activations)
        self._activations = None
        weights = self.channel_weights(activations.detach(), grads)
        cam = F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return cam[:, 0]


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018): pixel-wise weighting of positive gradients,
    better when a class shows up in several places (a digit's separate strokes)."""

    name = "Grad-CAM++"

    def channel_weights(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        # Closed form with an exponential score: higher-order terms are powers of grads.
        g2, g3 = grads.pow(2), grads.pow(3)
        denominator = 2 * g2 + activations.sum(dim=(2, 3), keepdim=True) * g3
        alpha = g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        return (alpha * F.relu(grads)).sum(dim=(2, 3), keepdim=True)


class IntegratedGradients(AttributionMethod):
    """Integrated Gradients (Sundararajan et al. 2017) from a blank (all-background)
    digit: input x gradient averaged along the straight path. All N x steps points go
    through the model as one batch."""

    name = "Integrated Gradients"

    def __init__(self, model: nn.Module, steps: int = 24) -> None:
        super().__init__(model)
        self.steps = steps

    def attribute(self, x: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        n = len(x)
        if targets is None:
            targets = self.model(x).argmax(dim=1)
        # Midpoint rule on [0, 1].
        alphas = (torch.arange(self.steps, device=x.device, dtype=x.dtype) + 0.5) / self.steps
        path = (alphas.view(-1, 1, 1, 1, 1) * x.detach().unsqueeze(0)).flatten(0, 1)
        path.requires_grad_(True)
        score = self._select(self.model(path), targets.repeat(self.steps))
        (grads,) = torch.autograd.grad(score, path)
        mean_grads = grads.view(self.steps, n, *x.shape[1:]).mean(dim=0)
        return F.relu((x.detach() * mean_grads).sum(dim=1))  # evidence for the class


class Occlusion(AttributionMethod):
    """Occlusion (Zeiler & Fergus 2014): how much the target probability drops when a
    patch is blanked, for patches on a grid; every occluded copy runs in one batch."""

    name = "Occlusion"

    def __init__(self, model: nn.Module, patch: int = 6, stride: int = 3) -> None:
        super().__init__(model)
        self.patch, self.stride = patch, stride

    @torch.no_grad()
    def attribute(self, x: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        x = x.detach()
        n, _, h, w = x.shape
        probs = torch.softmax(self.model(x), dim=1)
        if targets is None:
            targets = probs.argmax(dim=1)
        targets = torch.as_tensor(targets, device=x.device)
        base = probs.gather(1, targets.view(-1, 1)).view(n)
        tops = range(0, h - self.patch + 1, self.stride)
        lefts = range(0, w - self.patch + 1, self.stride)
        masks = torch.ones(len(tops) * len(lefts), 1, h, w, device=x.device, dtype=x.dtype)
        for k, (top, left) in enumerate((t, le) for t in tops for le in lefts):
            masks[k, :, top : top + self.patch, left : left + self.patch] = 0
        occluded = (x.unsqueeze(1) * masks.unsqueeze(0)).flatten(0, 1)  # (n * P, 1, h, w)
        p = torch.softmax(self.model(occluded), dim=1).view(n, len(masks), -1)
        drop = F.relu(
            base.view(n, 1) - p.gather(2, targets.view(n, 1, 1).expand(n, len(masks), 1))[..., 0]
        )
        # Spread each patch's drop over the pixels it covered, averaged by coverage.
        blanked = 1 - masks[:, 0]  # (P, h, w)
        heat = torch.einsum("np,phw->nhw", drop, blanked)
        return heat / blanked.sum(dim=0).clamp_min(1)


class _Logits(nn.Module):
    """A line reader seen through its per-step class logits (T, N, 11)."""

    def __init__(self, reader: nn.Module) -> None:
        super().__init__()
        self.reader = reader

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reader.logits(x)


class LineGradCAM(GradCAM):
    """Grad-CAM for the line reader: the score is the logit of one digit summed over the
    time steps it was read from, so the map shows which stretch of the line's
    strokes made that digit. `targets` is (N, 3): label, first step, end step (exclusive);
    maps span the whole line strip (N, 32, W)."""

    name = "Grad-CAM (line reader)"

    def __init__(self, model: nn.Module, layer: nn.Module | None = None) -> None:
        # The score is a class logit, as in Grad-CAM for classifiers: through the
        # log-softmax, a digit's score also falls with the blank's, which at a CTC spike
        # can turn every channel weight negative and leave an empty map.
        super().__init__(_Logits(model), layer if layer is not None else model.features)

    def channel_weights(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        # Per column, not averaged over the line (the HiResCAM form of Grad-CAM, Draelos
        # and Carin 2020): a channel's mean gradient over a whole line also lights up
        # columns far from the digit where that channel fires (blank margins, other
        # digits); gradient times activation column by column stays where the score
        # actually depends on the features.
        return grads

    def _select(self, logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        if targets is None:
            raise ValueError("LineGradCAM needs targets: (label, first step, end step) per line")
        targets = torch.as_tensor(targets, device=logits.device)
        steps = torch.arange(logits.shape[0], device=logits.device)[:, None]  # (T, 1)
        inside = (steps >= targets[:, 1]) & (steps < targets[:, 2])  # (T, N)
        labels = targets[:, 0].view(1, -1, 1).expand(logits.shape[0], -1, 1)
        return (logits.gather(2, labels)[..., 0] * inside).sum()


METHODS: dict[str, type[AttributionMethod]] = {
    m.name: m for m in (GradCAM, GradCAMPlusPlus, IntegratedGradients, Occlusion)
}


# ---------------------------------------------------------------------------- faithfulness


@torch.no_grad()
def deletion_curve(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    steps: int = 20,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Probability of the target class as the most relevant pixels are deleted first.

    Returns (N, steps + 1): column k after deleting k/steps of the image's ink pixels
    (set to background), in the order the maps rank them. A faithful map makes the
    probability fall fast, so a lower area under this curve is better.
    """
    n, _, h, w = x.shape
    flat = x.view(n, -1)
    with eval_mode(model):
        if targets is None:
            targets = model(x).argmax(dim=1)
        ink = flat > 0
        # Rank ink pixels by relevance; background pixels go last (deleting them is a no-op).
        score = torch.where(ink, maps.reshape(n, -1), torch.full_like(flat, -1.0))
        order = score.argsort(dim=1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(h * w, device=x.device).expand(n, -1))
        n_ink = ink.sum(dim=1, keepdim=True)
        fractions = torch.linspace(0, 1, steps + 1, device=x.device)
        keep = rank.unsqueeze(1) >= (fractions.view(1, -1, 1) * n_ink.unsqueeze(1)).round()
        deleted = (flat.unsqueeze(1) * keep).view(n * (steps + 1), 1, h, w)
        probs = torch.softmax(model(deleted), dim=1).view(n, steps + 1, -1)
    return probs.gather(2, targets.view(n, 1, 1).expand(n, steps + 1, 1))[..., 0]


def deletion_auc(curve: torch.Tensor) -> torch.Tensor:
    """Area under each deletion curve on [0, 1] (trapezoid rule)."""
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)
