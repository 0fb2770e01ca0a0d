"""Does a change leave every reading as it was? Session 19's check for speed-only changes.

    python docs/patches/s19_same_readings.py record OUT.json [bench_reading args]
    python docs/patches/s19_same_readings.py compare BEFORE.json AFTER.json

`record` runs `benchmarks/bench_reading.py` (default `--writers val --numbers 60
--singles 400`: 3,060 drawings of every condition, held-out train writers only) with
each `Studio.read` noted: text, as written, boxes, confidences to 4 places, the other
reading, marks left out, message. `compare` counts the drawings read differently.
"""

import contextlib
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_reading  # noqa: E402

from src.studio import Studio  # noqa: E402


def record(out: str, bench_args: list[str]) -> None:
    readings = []
    read = Studio.read

    def noted(self, image):
        r = read(self, image)
        readings.append([
            r.text, r.written, [list(d.box) for d in r.digits],
            [round(d.confidence, 4) for d in r.digits], [d.alternative for d in r.digits],
            r.marks_left_out, r.message,
        ])  # fmt: skip
        return r

    Studio.read = noted
    default = ["--writers", "val", "--numbers", "60", "--singles", "400"]
    sys.argv = ["bench_reading.py", *(bench_args or default)]
    with contextlib.redirect_stdout(io.StringIO()):
        bench_reading.main()
    Path(out).write_text(json.dumps(readings))
    print(f"{len(readings)} readings -> {out}")


def compare(before: str, after: str) -> None:
    a, b = (json.loads(Path(p).read_text()) for p in (before, after))
    if len(a) != len(b):
        raise SystemExit(f"different drawings: {len(a)} against {len(b)} readings")
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    print(f"{len(a)} readings, {len(differ)} differ")
    for i in differ[:10]:
        print(i, a[i], "\n   ", b[i])


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    else:
        compare(sys.argv[2], sys.argv[3])
