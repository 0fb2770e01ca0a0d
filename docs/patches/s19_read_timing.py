"""Wall-clock read and analysis times of one version, for alternating with another.

    python docs/patches/s19_read_timing.py example   # 314159.png: 30 reads and analyses
    python docs/patches/s19_read_timing.py numbers   # 60 held-out writers' numbers, twice

Run it from each version's checkout in turn, a few rounds: on a shared machine only
alternating runs compare.
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from PIL import Image  # noqa: E402
from timing import time_interleaved  # noqa: E402

from src.studio import Studio  # noqa: E402

studio = Studio.load()
if sys.argv[1] == "example":
    image = np.asarray(Image.open(ROOT / "assets" / "examples" / "314159.png"))
    times = time_interleaved(
        {"read": lambda: studio.read(image), "analyze": lambda: studio.analyze(image)},
        runs=30, warmup=5,
    )  # fmt: skip
    print(json.dumps({
        "read_p50": np.median(times["read"]), "read_min": min(times["read"]),
        "analyze_p50": np.median(times["analyze"]), "analyze_min": min(times["analyze"]),
    }))  # fmt: skip
else:
    from writers import pen_digits

    from src.strokes import by_writer, render_number

    rng = np.random.default_rng(0)
    writers = by_writer(pen_digits("val"))
    names = sorted(writers)
    drawings = []
    for _ in range(60):
        digits = writers[names[rng.integers(len(names))]]
        chosen = [digits[i] for i in rng.choice(len(digits), rng.integers(2, 9))]
        drawings.append(render_number(chosen, rng, gap_frac=(0.15, 0.45),
                                      transparent=bool(rng.integers(2))))  # fmt: skip
    for d in drawings[:5]:
        studio.read(d.image)
    reads = {i: (lambda d=d: studio.read(d.image)) for i, d in enumerate(drawings)}
    times = [t for ts in time_interleaved(reads, runs=2, warmup=0).values() for t in ts]
    print(json.dumps({"p50": np.median(times), "p95": np.percentile(times, 95)}))
