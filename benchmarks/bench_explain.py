"""Explainability benchmark: faithfulness of each attribution method, and speed. JSON out.

    python benchmarks/bench_explain.py [--digits 1000] [--threads 2]

Faithfulness: delete each digit's ink pixels most-relevant-first (20 steps) and take the
area under the predicted class's probability curve (lower = more faithful), averaged over
MNIST test digits, against a random deletion order. Speed: median milliseconds for
Grad-CAM on a batch of 8 digits, the same with Captum's LayerGradCam (same model, batch,
upsampling and normalisation), and overlay rendering for 8 digits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import time_calls  # noqa: E402

from src.data import load_mnist, to_float  # noqa: E402
from src.models.classifier import load_classifier  # noqa: E402
from src.studio import DEFAULT_CLASSIFIER  # noqa: E402
from src.utils.gradcam import (  # noqa: E402
    METHODS,
    GradCAM,
    deletion_auc,
    deletion_curve,
    normalize_maps,
)
from src.utils.visualization import heatmap_overlays  # noqa: E402


def median_ms(fn, repeats: int = 50, warmup: int = 5) -> float:
    return statistics.median(time_calls(fn, repeats, warmup))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_classifier(DEFAULT_CLASSIFIER, "cpu")
    splits = load_mnist(download=False)
    x = to_float(splits.test_images[: args.digits])

    faithfulness = {}
    generator = torch.Generator().manual_seed(0)
    random_aucs = []
    for start in range(0, len(x), args.chunk):
        batch = x[start : start + args.chunk]
        random_maps = torch.rand(len(batch), 28, 28, generator=generator)
        random_aucs.append(deletion_auc(deletion_curve(model, batch, random_maps)))
    random_auc = torch.cat(random_aucs).mean().item()
    for name, method_cls in METHODS.items():
        aucs, seconds = [], 0.0
        with method_cls(model) as method:
            for start in range(0, len(x), args.chunk):
                batch = x[start : start + args.chunk]
                clock = time.perf_counter()
                maps = method(batch)
                seconds += time.perf_counter() - clock
                aucs.append(deletion_auc(deletion_curve(model, batch, maps)))
        auc = torch.cat(aucs).mean().item()
        faithfulness[name] = {
            "deletion_auc": auc,
            "beats_random": auc < random_auc,
            "ms_per_digit": seconds * 1000 / len(x),
        }

    eight = x[:8]
    with GradCAM(model) as cam:
        ours_ms = median_ms(lambda: cam(eight))
        maps = cam(eight)

    from captum.attr import LayerAttribution, LayerGradCam

    captum_cam = LayerGradCam(model, model.gradcam_layer)

    def captum_maps():
        raw = captum_cam.attribute(eight, target=model(eight).argmax(1), relu_attributions=True)
        up = LayerAttribution.interpolate(raw, (28, 28), interpolate_mode="bilinear")
        return normalize_maps(up[:, 0].detach())

    captum_ms = median_ms(captum_maps)
    overlay_ms = median_ms(lambda: heatmap_overlays(eight, maps, size=112))
    report = {
        "benchmark": "explain",
        "digits": len(x),
        "threads": args.threads,
        "faithfulness": {"random_order_deletion_auc": random_auc, **faithfulness},
        "gradcam_batch8_ms": ours_ms,
        "captum_layergradcam_batch8_ms": captum_ms,
        "speedup_vs_captum": captum_ms / ours_ms,
        "overlays_batch8_112px_ms": overlay_ms,
        "target": {"speedup_vs_captum": 2.0, "every_method_beats_random": True},
        "met": {
            "speedup": captum_ms / ours_ms >= 2.0,
            "faithfulness": all(m["beats_random"] for m in faithfulness.values()),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
