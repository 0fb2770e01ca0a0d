"""Where a read's time goes: each step of `pipeline.read_ink` wrapped with a clock, over
100 reads of 314159.png after 10 warm-up reads. Session 20's probe.

    python docs/patches/s20_stage_times.py   # from a checkout's root: that version's code
"""

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path.cwd()))
import src.reading.pipeline as pipeline  # noqa: E402
from src.studio import Studio  # noqa: E402

STEPS = ["find_digit_regions", "view_regions", "find_candidates", "normalize_digits",
         "label_options", "classifier_scores", "line_scores", "best_per_region"]  # fmt: skip
spent: dict[str, float] = defaultdict(float)


def clocked(name: str):
    step = getattr(pipeline, name)

    def run(*args, **kwargs):
        start = time.perf_counter()
        result = step(*args, **kwargs)
        spent[name] += time.perf_counter() - start
        return result

    return run


for name in STEPS:
    setattr(pipeline, name, clocked(name))
studio = Studio.load()
image = np.asarray(Image.open(Path.cwd() / "assets" / "examples" / "314159.png").convert("RGB"))
for _ in range(10):
    studio.read(image)
spent.clear()
times = []
for _ in range(100):
    start = time.perf_counter()
    studio.read(image)
    times.append(time.perf_counter() - start)
print(f"read p50 {1000 * np.median(times):.1f} ms")
for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
    print(f"  {name:20s} {10 * seconds:5.2f} ms")  # 100 reads: x1000 / 100
