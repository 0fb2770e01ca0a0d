"""How long a photo takes to read: the 314159.png example pasted onto an unevenly lit
grey page with sensor noise, at 1200x900, 2400x1800 and 4000x3000. Session 20's probe
for the photo-background change (`raster.enlarged`).

    python docs/patches/s20_photo_read.py   # from a checkout's root: that version's code

Prints, per size, the text read, one read's time and the ink map's share of it. Run it
in turn from each version's checkout: on a shared machine only alternating runs compare.
"""

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path.cwd()))
from src.reading.ink import ink_map  # noqa: E402
from src.studio import Studio  # noqa: E402

studio = Studio.load()
drawing = Image.open(Path.cwd() / "assets" / "examples" / "314159.png").convert("RGB")
rng = np.random.default_rng(0)
for width in (1200, 2400, 4000):
    height = width * 3 // 4
    page = np.full((height, width, 3), 200, np.float32)
    page += np.linspace(-30, 30, width)[None, :, None]  # light falling off across the page
    ink = np.asarray(drawing.resize((width * 2 // 3, width * 2 // 9)), np.float32)
    y0, x0 = height // 3, width // 6
    area = page[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]]
    area[:] = np.minimum(area, ink * 0.8)
    page += rng.normal(0, 4, page.shape)
    photo = np.clip(page, 0, 255).astype(np.uint8)
    studio.read(photo)  # warm-up
    start = time.perf_counter()
    text = studio.read(photo).text
    read_ms = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    ink_map(photo)
    ink_ms = 1000 * (time.perf_counter() - start)
    print(f"{width}x{height}: read {text!r} in {read_ms:.0f} ms, ink map {ink_ms:.0f} ms")
