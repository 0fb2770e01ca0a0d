"""Line reader benchmark: the CRNN alone, against the studio's per-digit reading, on the
same drawings of the 14 pendigits *test* writers. Prints JSON.

    python benchmarks/bench_line_reader.py [--numbers 400] [--seed 0] [--line-reader PATH]

Numbers of 2-8 digits from one writer, drawn as `bench_reading.py` draws them (plain
spacing, and neighbours overlapping slightly), and single digits. For each: exact-string
accuracy of the line reader (whole drawing -> `line_image` -> greedy CTC decoding) and of
`Studio.read`, how often the two disagree and which is right then, what a simple fusion
rule would read (the line reader's count wins; with equal counts the classifier's
labels), and milliseconds per line for the line reader. Targets (issue 12, once fused
into the studio): touching >= 90%, plain >= 98%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.lines import line_image  # noqa: E402
from src.models.line_reader import greedy_decode, load_line_reader  # noqa: E402
from src.strokes import by_writer, load_pendigits, render_number  # noqa: E402
from src.studio import Studio  # noqa: E402

DEFAULT_LINE_READER = Path(__file__).resolve().parent.parent / "checkpoints/line_reader.pth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=400)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--line-reader", default=str(DEFAULT_LINE_READER))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    reader = load_line_reader(args.line_reader, "cpu")
    studio = Studio.load()
    pen = [d for d in load_pendigits() if d.split == "test"]
    writers = by_writer(pen)
    names = sorted(writers)

    def drawings(kind: str):
        for _ in range(args.singles if kind == "single" else args.numbers):
            if kind == "single":
                yield render_number([pen[rng.integers(len(pen))]], rng)
                continue
            digits = writers[names[rng.integers(len(names))]]
            chosen = [digits[i] for i in rng.choice(len(digits), rng.integers(2, 9))]
            gap = (0.15, 0.45) if kind == "plain" else (-0.06, -0.01)
            yield render_number(chosen, rng, gap_frac=gap)

    report: dict = {"benchmark": "line_reader", "seed": args.seed, "writers": len(writers)}
    for kind in ("plain", "touching", "single"):
        line_right = studio_right = disagree = line_right_when_disagree = fused_right = 0
        times, failures, n = [], [], 0
        for drawing in drawings(kind):
            n += 1
            ink = drawing.image[..., 3].astype(np.float32) / 255
            start = time.perf_counter()
            strip = torch.from_numpy(line_image(ink))[None, None]
            with torch.no_grad():
                (decoded,) = greedy_decode(reader(strip))
            times.append((time.perf_counter() - start) * 1000)
            line_text = "".join(str(d.label) for d in decoded)
            studio_text = studio.read(drawing.image).text
            line_right += line_text == drawing.text
            studio_right += studio_text == drawing.text
            # The fusion rule planned for the studio: the line reader decides how many
            # digits there are; when both agree on the count, the classifier's labels.
            fused = line_text if len(line_text) != len(studio_text) else studio_text
            fused_right += fused == drawing.text
            if line_text != studio_text:
                disagree += 1
                line_right_when_disagree += line_text == drawing.text
            if line_text != drawing.text and len(failures) < 10:
                failures.append({"truth": drawing.text, "line_reader": line_text})
        report[kind] = {
            "n": n,
            "line_reader_exact": line_right / n,
            "studio_exact": studio_right / n,
            "fused_rule_exact": fused_right / n,
            "disagree_share": disagree / n,
            "line_reader_right_when_they_disagree": line_right_when_disagree / max(1, disagree),
            "line_reader_ms_p50": float(np.median(times)),
            "failures": failures,
        }
    report["target"] = {"touching_exact": 0.9, "plain_exact": 0.98}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
