"""How often are a turned page's lines not taken out at all, and how are those read."""

import sys

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import numpy as np  # noqa: E402
from bench_reading import on_turned_page  # noqa: E402
from writers import pen_digits  # noqa: E402

from src.reading.config import SegmentConfig  # noqa: E402
from src.reading.ink import ink_map  # noqa: E402
from src.reading.regions import to_working_scale, without_paper_lines  # noqa: E402
from src.strokes import by_writer, render_number  # noqa: E402
from src.studio import Studio  # noqa: E402

n = int(sys.argv[1])
seed = int(sys.argv[2])
rng = np.random.default_rng(seed)
cfg = SegmentConfig()
studio = Studio.load(
    "checkpoints/classifier.pth", segment=cfg, line_reader_path="checkpoints/line_reader.pth"
)
writers = by_writer(pen_digits("val"))
names = sorted(writers)
rows = []
for _k in range(n):
    digits = writers[names[rng.integers(len(names))]]
    chosen = [digits[i] for i in rng.choice(len(digits), rng.integers(2, 9))]
    d = render_number(chosen, rng, gap_frac=(0.15, 0.45), transparent=False)
    sq = bool(rng.integers(2))
    page = on_turned_page(d, rng, sq)
    ok = studio.read(page.image).text == page.text
    ink, _ = to_working_scale(ink_map(page.image), cfg.max_side, cfg.min_side)
    left = without_paper_lines(ink, cfg.faint or cfg.threshold)
    removed = not np.array_equal(left, ink)
    rows.append((sq, removed, ok))
r = np.array(rows)
for sq in (0, 1):
    for rem in (0, 1):
        m = (r[:, 0] == sq) & (r[:, 1] == rem)
        print(
            "squared" if sq else "ruled",
            "removed" if rem else "kept",
            m.sum(),
            "read right %.3f" % (r[m, 2].mean() if m.any() else np.nan),
        )
