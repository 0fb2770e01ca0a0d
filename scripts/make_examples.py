"""Render the studio's clickable examples from real pen strokes (UCI pen digits, CC BY 4.0).

    python scripts/make_examples.py [--out assets/examples]

Each example is a number written by one writer of the test split, drawn with a round
brush on white, as a person would on the sketchpad. The strokes themselves go to
strokes.json beside the images: the browser test replays them as mouse drags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.strokes import by_writer, load_pendigits, render_number  # noqa: E402

NUMBERS = {"2025": "test-w01", "314159": "test-w03", "1984": "test-w06", "60823": "test-w09"}
# Written with neighbours running into each other: what the line reader is for.
TOUCHING = {"9175": "test-w10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/examples")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    writers = by_writer(load_pendigits())
    strokes = {}
    for number, writer in {**NUMBERS, **TOUCHING}.items():
        rng = np.random.default_rng(int(number))
        samples = writers[writer]
        digits = [next(d for d in samples if d.label == int(c)) for c in number]
        gap = (-0.1, -0.04) if number in TOUCHING else (0.15, 0.45)
        drawing = render_number(
            digits, rng, height=150, brush_frac=0.08, gap_frac=gap, transparent=False
        )
        Image.fromarray(drawing.image).save(out / f"{number}.png", optimize=True)
        print(out / f"{number}.png", drawing.image.shape)
        strokes[number] = [
            [[list(map(round, p)) for p in stroke] for stroke in d.strokes] for d in digits
        ]
    source = "UCI Pen-Based Recognition of Handwritten Digits (CC BY 4.0), test split"
    payload = {"source": source, "writers": {**NUMBERS, **TOUCHING}, "numbers": strokes}
    (out / "strokes.json").write_text(json.dumps(payload, separators=(",", ":")))


if __name__ == "__main__":
    main()
