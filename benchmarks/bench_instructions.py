"""Machine instructions per `Studio.read`, counted by valgrind: a speed figure that the
machine's load does not move. Prints JSON.

    python benchmarks/bench_instructions.py [--reads 10] [--image assets/examples/314159.png]

The wall-clock figures of `bench_studio.py` swing by 1.5x from one run to the next on
this project's shared 2-core machines, so a change of 10-20% cannot be told from the
noise there. Callgrind counts the instructions a process executes, the same to within
a fraction of a percent run after run. The same script runs twice under it, reading
the drawing 2 times (warm-up), then 2 + `reads` times; the difference over `reads` is
what one read costs, start-up and imports cancelled out. One thread, so the count
does not depend on how the work is split. Needs valgrind (Debian: `apt-get install
valgrind`); takes about 3 minutes per run, both runs side by side on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_VALGRIND = "valgrind is not installed (Debian: apt-get install valgrind)"
READER = """
import sys
import numpy as np
import torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from PIL import Image
from src.studio import Studio
studio = Studio.load()
image = np.asarray(Image.open({image!r}).convert("RGB"))
for _ in range(2 + {reads}):
    studio.read(image)
"""


def callgrind(script: str, out: str) -> subprocess.Popen:
    """valgrind --tool=callgrind on `python -c script`, started (not waited for)."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*command, sys.executable, "-c", script], env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def instructions(process: subprocess.Popen) -> int:
    """The total of callgrind's 'Collected' line, once the process has ended."""
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"valgrind run failed ({process.returncode}):\n{stderr[-2000:]}")
    return int(re.search(r"Collected\s*:\s*(\d+)", stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--image", default=str(ROOT / "assets" / "examples" / "314159.png"))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print(json.dumps({"benchmark": "instructions", "skipped": NO_VALGRIND}))
        return
    with tempfile.TemporaryDirectory() as workdir:
        runs = [
            callgrind(READER.format(root=str(ROOT), image=args.image, reads=n),
                      os.path.join(workdir, f"callgrind.{n}.out"))
            for n in (0, args.reads)
        ]  # fmt: skip
        base, more = (instructions(p) for p in runs)
    per_read = (more - base) / args.reads
    print(
        json.dumps(
            {
                "benchmark": "instructions",
                "image": Path(args.image).name,
                "reads": args.reads,
                "instructions_per_read": round(per_read),
                "millions_per_read": round(per_read / 1e6, 1),
                "startup_and_two_reads": base,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
