"""Turned pages against the same ink turned on white: read right, and paper ink left as stroke."""

import sys

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_reading  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402
from writers import pen_digits  # noqa: E402

from src.reading.config import SegmentConfig  # noqa: E402
from src.reading.ink import ink_map, stroke_ink  # noqa: E402
from src.reading.regions import to_working_scale, without_paper_lines  # noqa: E402
from src.strokes import by_writer, render_number  # noqa: E402
from src.studio import Studio  # noqa: E402


class Fixed:
    def __init__(self, rng, angle):
        self.rng, self.angle = rng, angle

    def uniform(self, a, b=None):
        if (a, b) == (2, 6):
            return self.angle
        return self.rng.uniform(a, b)

    def choice(self, x):
        return 1

    def random(self):
        return self.rng.random()


cfg = SegmentConfig()
studio = Studio.load(
    "checkpoints/classifier.pth", segment=cfg, line_reader_path="checkpoints/line_reader.pth"
)
writers = by_writer(pen_digits("val"))
names = sorted(writers)
rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
angles = [float(a) for a in sys.argv[2].split(",")] if len(sys.argv) > 2 else [3, 5]
n = 50


def strokes(image):
    ink, _ = to_working_scale(ink_map(image), cfg.max_side, cfg.min_side)
    return stroke_ink(without_paper_lines(ink, cfg.faint), cfg.threshold, cfg.faint) > 0


for sq in (False, True):
    for angle in angles:
        ok_page = ok_white = 0
        left_px = []
        saved = 0
        for _k in range(n):
            digits = writers[names[rng.integers(len(names))]]
            chosen = [digits[i] for i in rng.choice(len(digits), rng.integers(2, 9))]
            d = render_number(chosen, rng, gap_frac=(0.15, 0.45), transparent=False)
            page = bench_reading.on_turned_page(d, Fixed(rng, angle), sq)
            white = np.asarray(
                Image.fromarray(d.image[..., :3]).rotate(
                    angle, resample=Image.BILINEAR, expand=True, fillcolor=(255, 255, 255)
                )
            )
            a, b = studio.read(page.image).text == d.text, studio.read(white).text == d.text
            ok_page += a
            ok_white += b
            sp, sw = strokes(page.image), strokes(white)
            extra = sp & ~ndimage.binary_dilation(sw, iterations=2)
            left_px.append(extra.sum())
            if b and not a and saved < 4 and len(sys.argv) > 3:
                Image.fromarray(np.where(extra, 0, np.where(sw, 160, 255)).astype(np.uint8)).save(
                    f"/tmp/exp/s17/extra_{int(sq)}_{angle:g}_{saved}.png"
                )
                saved += 1
        print(
            "squared" if sq else "ruled",
            angle,
            f"page {ok_page / n:.2f} white {ok_white / n:.2f}",
            "paper px left as stroke: median",
            np.median(left_px),
            "mean",
            np.mean(left_px),
        )
