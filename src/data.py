"""MNIST: find or download the IDX files, verify them, and serve in-memory tensors.

The whole data set is 55 MB of uint8, so it lives in memory as tensors and batches are
sliced from them: no DataLoader workers, no per-sample Python. Augmentation is batched
on tensors too (`augment_digits`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import struct
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from src.config import bounded
from src.reading.config import SegmentConfig
from src.reading.normalize import studio_view
from src.runtime import write_atomically

ENV_VAR = "DIGIT_STUDIO_DATA"
DEFAULT_ROOT = "data"

# The standard public mirrors serve the official gzipped files.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


@dataclass(frozen=True)
class IDXFile:
    name: str  # file name without .gz
    md5: str  # digest of the *uncompressed* bytes: the same for every faithful copy
    magic: int
    shape: tuple[int, ...]


MNIST_FILES = {
    "train_images": IDXFile(
        "train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 0x803, (60000, 28, 28)
    ),
    "train_labels": IDXFile(
        "train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 0x801, (60000,)
    ),
    "test_images": IDXFile(
        "t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 0x803, (10000, 28, 28)
    ),
    "test_labels": IDXFile(
        "t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 0x801, (10000,)
    ),
}


class MNISTError(RuntimeError):
    """MNIST files are missing, corrupt or could not be downloaded."""


# ---------------------------------------------------------------------------- IDX files


def parse_idx(raw: bytes, expected: IDXFile | None = None, source: str = "<bytes>") -> torch.Tensor:
    """Parse IDX bytes (big-endian header: magic, one uint32 per dim, then uint8 data)."""
    if len(raw) < 4:
        raise MNISTError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic >> 8 != 0x08:  # type byte 0x08 = unsigned byte; the only type MNIST uses
        raise MNISTError(f"{source}: bad IDX magic 0x{magic:08x} (expected 0x0000080N)")
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_len:
        raise MNISTError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    if len(raw) != header_len + math.prod(shape):
        raise MNISTError(
            f"{source}: IDX header says shape {tuple(shape)} "
            f"but the file holds {len(raw) - header_len} data bytes"
        )
    if expected is not None and (magic != expected.magic or tuple(shape) != expected.shape):
        raise MNISTError(
            f"{source}: expected magic 0x{expected.magic:08x} and shape {expected.shape}, "
            f"found 0x{magic:08x} and {tuple(shape)}"
        )
    data = torch.frombuffer(bytearray(raw[header_len:]), dtype=torch.uint8)
    return data.reshape(shape)


def read_idx_bytes(path: Path) -> bytes:
    """The uncompressed bytes of an IDX file, gzipped or raw."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise MNISTError(f"{path}: corrupt gzip data ({e})") from e
    return raw


def md5_hex(raw: bytes) -> str:
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def check_digest(raw: bytes, expected: IDXFile, source: str) -> None:
    digest = md5_hex(raw)
    if digest != expected.md5:
        raise MNISTError(
            f"{source}: content digest {digest} does not match MNIST's {expected.md5} "
            "(corrupt or not MNIST); delete it to download again"
        )


# ---------------------------------------------------------------------- finding the files


def resolve_data_root(configured: str | os.PathLike | None = None) -> Path:
    """Where MNIST lives: $DIGIT_STUDIO_DATA if set, else the configured root, else data/."""
    from_env = os.environ.get(ENV_VAR, "").strip()
    return Path(from_env or configured or DEFAULT_ROOT).expanduser()


def find_idx_file(root: Path, spec: IDXFile) -> Path | None:
    for candidate in (root / f"{spec.name}.gz", root / spec.name):
        if candidate.is_file():
            return candidate
    return None


def download_idx_file(
    spec: IDXFile, root: Path, mirrors: Sequence[str] = MIRRORS, timeout: float = 30.0
) -> Path:
    """Fetch `<spec.name>.gz` from the first mirror that serves a verified copy.

    The file is written to a temporary name and renamed only once its digest checks out,
    so an interrupted download never leaves a half file that looks complete.
    """
    from tqdm import tqdm

    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{spec.name}.gz"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{spec.name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                chunks = []
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while chunk := response.read(1 << 16):
                        chunks.append(chunk)
                        bar.update(len(chunk))
            payload = b"".join(chunks)
            check_digest(gzip.decompress(payload), spec, url)
        except (urllib.error.URLError, OSError, EOFError, MNISTError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        write_atomically(dest, lambda f, payload=payload: f.write(payload))
        return dest
    raise MNISTError(f"could not download {spec.name}.gz:\n  " + "\n  ".join(failures))


def ensure_mnist(
    root: str | os.PathLike | None = None, download: bool = True, mirrors: Sequence[str] = MIRRORS
) -> Path:
    """Make sure the four MNIST files are in `root`, downloading any that are missing."""
    root = resolve_data_root(root)
    missing = [spec for spec in MNIST_FILES.values() if find_idx_file(root, spec) is None]
    if not missing:
        return root
    names = ", ".join(f"{spec.name}.gz" for spec in missing)
    advice = (
        f"Put the MNIST files ({names}) in {root.resolve()}, or set {ENV_VAR} "
        "to a folder that holds all four."
    )
    if not download:
        raise MNISTError(f"MNIST not found. {advice}")
    try:
        for spec in missing:
            download_idx_file(spec, root, mirrors)
    except MNISTError as e:
        raise MNISTError(f"MNIST not found and the download failed. {advice}\n{e}") from e
    return root


def load_idx(root: Path, key: str) -> torch.Tensor:
    spec = MNIST_FILES[key]
    path = find_idx_file(root, spec)
    if path is None:
        raise MNISTError(f"{root / spec.name}.gz is missing")
    raw = read_idx_bytes(path)
    check_digest(raw, spec, str(path))
    return parse_idx(raw, spec, str(path))


# --------------------------------------------------------------------------- the splits


@dataclass
class MNISTSplits:
    """uint8 images (N, 28, 28) and int64 labels for train, validation and test."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_mnist(
    root: str | os.PathLike | None = None,
    val_size: int = 5000,
    split_seed: int = 0,
    download: bool = True,
) -> MNISTSplits:
    """Load MNIST with a fixed validation split carved out of the 60k training images.

    The split depends only on `split_seed`, never on the training seed, so every model
    is selected on the same held-out digits; the 10k test set is kept for final numbers.
    """
    root = ensure_mnist(root, download=download)
    images, labels = load_idx(root, "train_images"), load_idx(root, "train_labels").long()
    if labels.max() > 9:
        raise MNISTError(f"{root}: label {int(labels.max())} is outside 0..9")
    if not 0 <= val_size < len(images):
        raise MNISTError(f"val_size must be in [0, {len(images)}), got {val_size}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    test_labels = load_idx(root, "test_labels").long()
    if test_labels.max() > 9:
        raise MNISTError(f"{root}: test label {int(test_labels.max())} is outside 0..9")
    return MNISTSplits(
        images[train_idx], labels[train_idx],
        images[val_idx], labels[val_idx],
        load_idx(root, "test_images"), test_labels,
    )  # fmt: skip


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1]: the input every model takes."""
    return images.unsqueeze(1).float().div_(255.0)


def batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (float images, labels) batches sliced from in-memory uint8 tensors."""
    n = len(images)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield to_float(images[idx]), labels[idx]


# ------------------------------------------------------------------------- studio views

STUDIO_VIEW_VERSION = 1  # bump when `studio_view` changes, so stale caches are not reused


def _studio_view_chunk(images: np.ndarray, config: SegmentConfig) -> np.ndarray:
    return np.stack([studio_view(image, config) for image in images])


def cached(
    cache_dir: str | os.PathLike | None,
    name: str,
    key: bytes,
    build: Callable[[], tuple[torch.Tensor, ...]],
) -> tuple[torch.Tensor, ...]:
    """`build()`'s tensors, kept in `cache_dir` under a file named by `name` and the md5 of
    `key` (everything they depend on), so a changed input or setting never reuses them."""
    cache = None
    if cache_dir:
        cache = Path(cache_dir) / f"{name}_{hashlib.md5(key).hexdigest()[:16]}.pt"
    if cache is not None and cache.exists():
        try:
            stored = torch.load(cache, weights_only=True)
            if isinstance(stored, tuple | list) and all(torch.is_tensor(t) for t in stored):
                return tuple(stored)
        except Exception:  # noqa: BLE001 - a cache is disposable: whatever is wrong, rebuild
            pass
    tensors = build()
    if cache is not None:
        # A read-only folder only costs the time to rebuild next run.
        with contextlib.suppress(OSError):
            write_atomically(cache, lambda f: torch.save(tuple(tensors), f))
    return tensors


def studio_views(
    images: torch.Tensor,
    config: SegmentConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Each uint8 digit (N, 28, 28) as the studio sees it once drawn (`studio_view`).

    The studio reads every drawing through its own normalisation (ink binarised, box
    refitted, strokes redrawn where the pen is far from MNIST's); a classifier that
    only ever saw raw MNIST read 99.5% of the test digits but only 97.9% of the same
    digits passed through it (when every pen was redrawn). Views take
    ~35 s for 55k digits on 2 cores, so they are cached in `cache_dir`, keyed by the
    images and the settings.
    """
    config = config or SegmentConfig()
    if len(images) == 0:
        return images.clone()
    key = images.numpy().tobytes() + f"{STUDIO_VIEW_VERSION}{sorted(vars(config).items())}".encode()

    def build() -> tuple[torch.Tensor]:
        chunks = np.array_split(images.numpy(), max(1, math.ceil(len(images) / 1000)))
        n_workers = workers or min(len(chunks), os.cpu_count() or 1)
        if n_workers > 1:
            from concurrent.futures import ProcessPoolExecutor
            from functools import partial

            with ProcessPoolExecutor(n_workers) as pool:
                parts = list(pool.map(partial(_studio_view_chunk, config=config), chunks))
        else:
            parts = [_studio_view_chunk(chunk, config) for chunk in chunks]
        return (torch.from_numpy(np.concatenate(parts)),)

    (views,) = cached(cache_dir, "studio_views", key, build)
    if views.shape != images.shape or views.dtype != torch.uint8:
        (views,) = build()
    return views


# ------------------------------------------------------------------------- augmentation


@dataclass
class AugmentParams:
    rotate_deg: float = bounded(8.0, 0.0, 90.0)
    translate_px: float = bounded(2.0, 0.0, 14.0)
    scale_min: float = bounded(0.9, 0.1, 4.0)
    scale_max: float = bounded(1.1, 0.1, 4.0)
    shear_deg: float = bounded(5.0, 0.0, 60.0)
    thickness_prob: float = bounded(0.2, 0.0, 1.0)  # share of digits made thinner or bolder
    # Elastic distortion (Simard et al. 2003): a smooth random displacement of up to about
    # `elastic_px` pixels, different across the digit, so loops grow or shrink and strokes
    # bend the way one writer's hand differs from another's. 0 turns it off.
    elastic_px: float = bounded(0.0, 0.0, 8.0)
    elastic_prob: float = bounded(0.5, 0.0, 1.0)  # share of digits distorted
    # Random erasing (Zhong et al. 2017): a blank rectangle up to `erase_px` a side laid
    # over a share of the digits, as a skipping pen, a scan's dropout or an unclosed loop
    # leaves a stroke broken, so no single stroke piece decides the reading. 0 turns it off.
    erase_px: float = bounded(0.0, 0.0, 28.0)
    erase_prob: float = bounded(0.3, 0.0, 1.0)


def elastic_displacement(
    n: int, h: int, w: int, params: AugmentParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n, h, w, 2) offsets in grid_sample's [-1, 1] units: random vectors on a coarse
    lattice (4 points per height, as many per width as keep the cells square: 4x4 for a
    digit, 4x48 for a line of 12), upsampled bicubically, so the displacement is smooth
    over a stroke's length (a fine-grained field would only add jitter). Images not
    drawn for distortion get 0."""
    lattice = (4, max(4, round(4 * w / h)))
    coarse = torch.randn(n, 2, *lattice, generator=generator) * (params.elastic_px / 2)
    chosen = torch.rand(n, generator=generator) < params.elastic_prob
    # Upsampled for the chosen images alone: the rest get zeros, and the upsampling is
    # most of the cost (a quarter of a training batch's augmentation for the line reader).
    field = coarse.new_zeros(n, 2, h, w)
    field[chosen] = F.interpolate(coarse[chosen], size=(h, w), mode="bicubic", align_corners=True)
    scale = torch.tensor([2 / w, 2 / h]).view(1, 2, 1, 1)
    return (field * scale).permute(0, 2, 3, 1)


def augment_digits(
    x: torch.Tensor, params: AugmentParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random affine (rotation, scale, shear, translation), optional elastic distortion
    and stroke-thickness change for a whole batch of digits or lines (N, 1, H, W) in
    [0, 1] at once: one `affine_grid` + `grid_sample`."""
    n, _, h, w = x.shape
    if n == 0:
        return x

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = torch.deg2rad(uniform(-params.rotate_deg, params.rotate_deg))
    shear = torch.deg2rad(uniform(-params.shear_deg, params.shear_deg))
    scale = uniform(params.scale_min, params.scale_max)
    tx = uniform(-params.translate_px, params.translate_px) * 2 / w
    ty = uniform(-params.translate_px, params.translate_px) * 2 / h
    # affine_grid maps output coordinates to input coordinates, so this is the inverse
    # of the transform the digit undergoes; for random symmetric ranges that is harmless.
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    theta = torch.stack(
        [
            torch.stack([cos / scale, (cos * tan - sin) / scale, tx], dim=1),
            torch.stack([sin / scale, (sin * tan + cos) / scale, ty], dim=1),
        ],
        dim=1,
    )
    # grid units are half the width across and half the height down: for a wide line
    # the off-diagonal terms are rescaled so that a degree of shear is a degree of
    # shear in pixels, whatever the aspect (no change for square digits).
    theta[:, 0, 1] *= h / w
    theta[:, 1, 0] *= w / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if params.elastic_px > 0:
        grid = grid + elastic_displacement(n, h, w, params, generator)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    if params.thickness_prob > 0:
        # Bolder: 3x3 max filter (dilation); thinner: min filter (erosion) blended halfway
        # so thin strokes do not vanish. Real pens and brushes vary exactly this way.
        # Filtered for the chosen images alone (a fifth): a 3x3 max filter over a whole
        # batch cost more than the rest of the augmentation together.
        choice = torch.rand(n, generator=generator)
        bold = choice < params.thickness_prob / 2
        thin = (choice >= params.thickness_prob / 2) & (choice < params.thickness_prob)
        out[bold] = F.max_pool2d(out[bold], 3, stride=1, padding=1)
        out[thin] = 0.5 * (out[thin] - F.max_pool2d(-out[thin], 3, stride=1, padding=1))
    if params.erase_px > 0:
        out = out * (1 - erase_mask(n, h, w, params, generator))
    return out.clamp_(0.0, 1.0)


def erase_mask(
    n: int, h: int, w: int, params: AugmentParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n, 1, h, w) masks, 1 inside one random rectangle per chosen image (sides from half
    of `erase_px` to all of it, anywhere in the image), 0 elsewhere and for the rest."""
    side = torch.rand(n, 2, generator=generator) * (params.erase_px / 2) + params.erase_px / 2
    corner = torch.rand(n, 2, generator=generator) * (torch.tensor([h, w]) - side).clamp(min=0)
    start, stop = corner.view(n, 2, 1), (corner + side).view(n, 2, 1)
    rows, cols = torch.arange(h).view(1, h), torch.arange(w).view(1, w)
    inside_rows = (rows >= start[:, 0]) & (rows < stop[:, 0])  # (n, h)
    inside_cols = (cols >= start[:, 1]) & (cols < stop[:, 1])  # (n, w)
    chosen = (torch.rand(n, generator=generator) < params.erase_prob).view(n, 1, 1)
    inside = inside_rows.unsqueeze(2) & inside_cols.unsqueeze(1) & chosen
    return inside.unsqueeze(1).float()
