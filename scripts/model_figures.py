"""The shipped models' training curves, redrawn from the history each checkpoint carries.

    python scripts/model_figures.py [--out docs/figures]

Writes `<out>/<model>_curves.png` for every checkpoint in `checkpoints/` (the same
panels the training scripts draw), so the figures of the weights that ship can be seen
without retraining. The classifier's test figures (confusion matrix, reliability, sample
grid) come from `evaluate_classifier.py --set output.results_dir=<out>`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from src.training import classifier, line_reader, style_vae, vae  # noqa: E402
from src.utils.visualization import plot_curves  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# checkpoint kind -> the training module that knows its curves
MODELS = {"classifier": classifier, "vae": vae, "line_reader": line_reader, "style_vae": style_vae}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    args = parser.parse_args()
    for kind, module in MODELS.items():
        path = Path(args.checkpoints) / f"{kind}.pth"
        try:
            history = load_checkpoint(path, kind)["metrics"]["history"]
        except (CheckpointError, KeyError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            return 2
        out = plot_curves(history, module.CURVES, Path(args.out) / f"{kind}_curves.png",
                          title=f"{module.CURVES_TITLE} (shipped weights)")  # fmt: skip
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
