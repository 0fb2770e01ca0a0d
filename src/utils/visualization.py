"""Pictures: report figures (matplotlib) and the studio's fast overlays (numpy only).

Report figures are made once per run, so matplotlib figures are fine there. The studio's
hot path never builds a figure: overlays use a colormap as a lookup table on arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: scripts and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ------------------------------------------------------------------------ report figures


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curves(
    history: Sequence[dict], panels: dict[str, Sequence[str]], path: str | Path, title: str = ""
) -> Path:
    """One panel per entry of `panels`: {panel title: [metric keys]} against epoch."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    axes = np.atleast_1d(axes)
    epochs = [h["epoch"] for h in history]
    for ax, (panel, keys) in zip(axes, panels.items(), strict=True):
        for key in keys:
            ax.plot(epochs, [h[key] for h in history], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(confusion: np.ndarray, path: str | Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5.4))
    # Log colour scale: the diagonal holds ~1000 per class, errors a handful.
    im = ax.imshow(np.log1p(confusion), cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            colour = "white" if i == j else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test)")
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    return _save(fig, path)


def plot_reliability(
    bins_before: Sequence[dict], bins_after: Sequence[dict], path: str | Path
) -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    for ax, bins, name in zip(axes, (bins_before, bins_after), ("raw", "calibrated"), strict=True):
        centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
        width = bins[0]["hi"] - bins[0]["lo"]
        ax.bar(centres, [b["accuracy"] for b in bins], width=width * 0.9, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        confident = [(c, b["confidence"]) for c, b in zip(centres, bins, strict=True) if b["count"]]
        if confident:
            ax.plot(*zip(*confident, strict=True), "r.", label="mean confidence")
        ax.set_title(f"Reliability ({name})")
        ax.set_xlabel("confidence")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("accuracy")
    return _save(fig, path)


def plot_prediction_grid(
    images: torch.Tensor,
    labels: Sequence[int],
    predictions: Sequence[int],
    confidences: Sequence[float],
    path: str | Path,
    columns: int = 10,
) -> Path:
    """Digits with their predictions; misclassified ones titled in red with the truth."""
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, label, pred, conf in zip(
        np.atleast_1d(axes).ravel(), images, labels, predictions, confidences, strict=False
    ):
        ax.imshow(image.squeeze().numpy(), cmap="gray_r", vmin=0, vmax=1)
        wrong = label != pred
        text = f"{pred} ({conf:.0%})" + (f"\ntrue {label}" if wrong else "")
        ax.set_title(text, fontsize=8, color="red" if wrong else "black")
    return _save(fig, path)


def save_image_grid(
    images: torch.Tensor, path: str | Path, columns: int = 8, size: int = 84
) -> Path:
    """Tile (N, 1, H, W) images in [0, 1] into one PNG, ink dark on white (no figure)."""
    from PIL import Image

    grid = tile_grid(digit_tiles(images.detach().cpu(), size=size), columns, gap=6)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


# -------------------------------------------------------------------- fast studio overlays

_LUTS: dict[str, np.ndarray] = {}


def colormap_lut(name: str = "jet") -> np.ndarray:
    """A matplotlib colormap sampled once into a (256, 3) uint8 lookup table."""
    if name not in _LUTS:
        colours = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
        _LUTS[name] = (colours * 255).round().astype(np.uint8)
    return _LUTS[name]


def upscale(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W) -> (N, size, size), bilinear, one call for the whole batch."""
    return torch.nn.functional.interpolate(
        images.unsqueeze(1).float(), size=(size, size), mode="bilinear", align_corners=False
    )[:, 0]


def heatmap_overlays(
    digits: torch.Tensor,
    maps: torch.Tensor,
    size: int = 112,
    colormap: str = "jet",
    max_alpha: float = 0.65,
) -> np.ndarray:
    """Heat over each digit: (N, 1|-, 28, 28) digits and (N, 28, 28) maps in [0, 1] ->
    (N, size, size, 3) uint8. The digit is drawn dark on white, and the heat is blended
    in proportion to its strength so weak regions leave the strokes readable."""
    digits = digits.reshape(len(digits), *digits.shape[-2:])
    ink = upscale(digits, size).clamp(0, 1).numpy()
    heat = upscale(maps, size).clamp(0, 1).numpy()
    return blend_heat(ink, heat, colormap, max_alpha)


def blend_heat(
    ink: np.ndarray, heat: np.ndarray, colormap: str = "jet", max_alpha: float = 0.65
) -> np.ndarray:
    """Ink and heat maps of one size in [0, 1] -> uint8 RGB: the ink dark on white, the
    heat blended in proportion to its strength so weak regions leave strokes readable."""
    base = (1.0 - 0.85 * ink)[..., None] * 255.0
    colour = colormap_lut(colormap)[(heat * 255).astype(np.uint8)].astype(np.float32)
    alpha = (max_alpha * heat)[..., None]
    return (base * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def line_overlays(
    strips: torch.Tensor, maps: torch.Tensor, height: int = 112, colormap: str = "jet"
) -> list[np.ndarray]:
    """Heat over whole lines: (N, H, W) strips and maps in [0, 1] -> N uint8 RGB images
    `height` px tall, widths scaled alike."""
    size = (height, max(1, round(strips.shape[-1] * height / strips.shape[-2])))
    ink = F.interpolate(strips[:, None], size=size, mode="bilinear", align_corners=False)
    heat = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)
    blended = blend_heat(ink[:, 0].clamp(0, 1).numpy(), heat[:, 0].clamp(0, 1).numpy(), colormap)
    return list(blended)


def digit_tiles(digits: torch.Tensor, size: int = 112) -> np.ndarray:
    """(N, 1|-, 28, 28) in [0, 1] -> (N, size, size, 3) uint8, dark ink on white."""
    digits = digits.reshape(len(digits), *digits.shape[-2:])
    grey = ((1.0 - upscale(digits, size).clamp(0, 1)) * 255).round().to(torch.uint8).numpy()
    return np.repeat(grey[..., None], 3, axis=3)


def tile_grid(tiles: np.ndarray, columns: int | None = None, gap: int = 4) -> np.ndarray:
    """(N, H, W, 3) tiles in a grid of `columns` (default: one row) with white gaps."""
    n, h, w, c = tiles.shape
    if n == 0:
        return np.full((h, 1, c), 255, np.uint8)
    columns = min(columns or n, n)
    rows = -(-n // columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, c), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, k = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = tile
    return grid
