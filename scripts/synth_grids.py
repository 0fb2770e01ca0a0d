"""One grid per kind of synthetic training item, for a person to check by eye.

    python scripts/synth_grids.py [--out results/synth] [--n 48]

Writes `<out>/<kind>.png` (the items exactly as the classifier is trained on them, 28x28
studio views, dark ink on white) for every style, the scan looks, the pen renders and
each kind of "not a single digit". Made from the pendigits *train* writers and MNIST
training digits, as training does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.data import load_mnist  # noqa: E402
from src.strokes import load_pendigits  # noqa: E402
from src.synth import NOT_DIGIT_SHARES, STYLES, Job, Sources, run_job  # noqa: E402
from src.utils.visualization import digit_tiles, tile_grid  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/synth")
    parser.add_argument("--n", type=int, default=48)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist()
    pen = [(d.label, d.strokes) for d in load_pendigits() if d.split == "train"]
    sources = Sources(pen, mnist.train_images.numpy(), mnist.train_labels.numpy(), 0.25)
    for kind in ["pen", "mnist_scan", *STYLES, *NOT_DIGIT_SHARES]:
        images, _ = run_job(Job(kind, args.n, seed=1), sources)
        tiles = digit_tiles(torch.from_numpy(images).float() / 255, size=56)
        Image.fromarray(tile_grid(tiles, columns=12, gap=2)).save(out / f"{kind}.png")
        print(out / f"{kind}.png")


if __name__ == "__main__":
    main()
