"""How long writing 8 digits takes across many hands, not just the example's: 40
numbers of 6 digits by the 4 held-out pen train writers, each read for its hand, then 8
random digits written in it with the classifier judging, 3 times over. Session 21's
probe for `restyle.SURE_ENOUGH` (only unsure first draws get three more).

    python docs/patches/s21_restyle_hands.py   # from a checkout's root

Prints the p50 and mean of one `write_number` call at each setting of `SURE_ENOUGH`
(above 1: every digit the clearest of four draws, as before session 21).
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path.cwd()))
sys.path.insert(0, str(Path.cwd() / "benchmarks"))
from writers import pen_digits  # noqa: E402

from src import restyle  # noqa: E402
from src.reading.ink import ink_map  # noqa: E402
from src.strokes import by_writer, render_number  # noqa: E402
from src.studio import Studio  # noqa: E402

torch.set_num_threads(2)
studio = Studio.load()
writers = by_writer(pen_digits("val"))
names = sorted(writers)
rng = np.random.default_rng(5)
hands, texts = [], []
for k in range(40):
    mine = writers[names[k % len(names)]]
    drawing = render_number([mine[i] for i in rng.choice(len(mine), 6)], rng)
    ink = ink_map(drawing.image)
    hands.append(restyle.hand_of(studio.style_vae, studio.read_ink(ink), ink))
    texts.append([int(d) for d in rng.integers(0, 10, 8)])
for sure in (1.01, 0.999, 0.998, 0.99):
    restyle.SURE_ENOUGH = sure
    times = []
    for _ in range(3):
        for hand, text in zip(hands, texts, strict=True):
            start = time.perf_counter()
            restyle.write_number(studio.style_vae, text, hand, judge=studio.classify)
            times.append(time.perf_counter() - start)
    print(f"SURE_ENOUGH {sure}: write p50 {np.median(times) * 1e3:.1f} ms, "
          f"mean {np.mean(times) * 1e3:.1f} ms")  # fmt: skip
