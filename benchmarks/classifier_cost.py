"""Cost of the clip classifiers, and of Dense against Uniform K=10 on a 5-minute video (CPU).

    .venv/bin/python benchmarks/classifier_cost.py [--repeats 3] [--skip-large] [--only NAME] [--batch B]
                                                   [--no-video] [--no-channels-last] [--model r2plus1d_tiny]
    .venv/bin/python benchmarks/classifier_cost.py --only ir_csn_152 --only r2plus1d_50 --batch 1 --no-video

1. Per-clip forward cost of every registered classifier at batch 1 and 8 (``--batch``), on
   random input of the model's own clip shape (T x crop: 32x224x224 for ir-CSN, 16x224x224 for
   R(2+1)D-50), under ``torch.inference_mode()``; the best of ``--repeats`` runs after one
   warm-up; at batch 8 also channels-last, as ``Classifier`` runs on a CPU. Beside each, the
   cost in MC3-18 clip evaluations (torchvision ``mc3_18``, 16x112x112, measured in the same run
   at the same batch): the unit in which the paper gives its sampler's overhead (about 3 MC3-18
   clips per video, or 0.972 of R(2+1)D-50).
2. Time per video for ``classify_video`` with the Dense and the Uniform (K=10)
   samplers on a 5-minute 320x240 H.264 video made with PyAV (cached in
   benchmarks/results/, git-ignored), split into probe, sampler, decode and
   classifier seconds. For the large models, whose dense pass would take many
   minutes here, the classifier part of Dense is estimated as clips x per-clip cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from scsampler.inference import classify_video
from scsampler.models import Classifier, get_model, get_model_spec, list_models
from scsampler.video import clip_grid, probe

RESULTS = Path(__file__).resolve().parent / "results"


def per_clip_ms(name: str, *, batch: int, repeats: int, channels_last: bool = False) -> float:
    """Best per-clip forward milliseconds; ``channels_last`` as ``Classifier`` runs on a CPU."""
    spec = get_model_spec(name)
    model = get_model(name).eval()
    x = torch.randn(batch, 3, spec.frames_per_clip, *spec.crop_size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(repeats):
            began = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - began)
    return min(times) * 1000 / batch


def make_long_video(path: Path, *, seconds: int = 300, fps: int = 25, width: int = 320, height: int = 240) -> Path:
    """A 5-minute H.264 video: a moving gradient with a bright square that wanders (some motion everywhere)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "50", "preset": "veryfast", "crf": "28"}
        stream.time_base = Fraction(1, fps)
        for number in range(seconds * fps):
            image = np.empty((height, width, 3), dtype=np.uint8)
            image[..., 0] = (xx + number * 2) % 256
            image[..., 1] = (yy + number) % 256
            image[..., 2] = 96
            cx = int((np.sin(number / 40) * 0.4 + 0.5) * (width - 40))
            cy = int((np.cos(number / 55) * 0.4 + 0.5) * (height - 40))
            image[cy : cy + 40, cx : cx + 40] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path


def is_large(name: str) -> bool:
    """Models at torchvision's input size or more (112x112 and up): slow on a CPU."""
    return min(get_model_spec(name).crop_size) >= 112


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="leave out the models with 112x112 or larger crops (slow on a CPU)")
    parser.add_argument("--model", action="append", help="classifier(s) for the per-video run (default: the tiny ones)")
    parser.add_argument("--only", action="append", help="measure the per-clip cost of these classifiers only")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes of the per-clip table (default: 1 and 8)")
    parser.add_argument("--no-video", action="store_true", help="skip the per-video Dense/Uniform run")
    parser.add_argument("--no-channels-last", action="store_true", help="skip the channels-last column at batch 8 (halves the time)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

    names = args.only or [n for n in list_models() if not (args.skip_large and is_large(n))]
    batches = sorted(set(args.batch or (1, 8)))
    print("\nper-clip forward cost (ms per clip, best of", args.repeats, "after a warm-up; fewer for the large models)")
    header = "".join(f" {'batch ' + str(b):>10} {'x MC3-18':>9}" for b in batches) + (f" {'8, ch-last':>11}" if 8 in batches and not args.no_channels_last else "")
    print(f"{'model':<16} {'clip shape':<16} {'params':>10}{header}")
    costs: dict[str, dict[int, float]] = {}
    # The unit: one MC3-18 clip evaluation (16x112x112), at the same batch, in this run.
    unit = {b: per_clip_ms("mc3_18", batch=b, repeats=max(1, args.repeats - 1)) for b in batches}
    print("unit: one MC3-18 clip evaluation (16x112x112) =", ", ".join(f"{unit[b]:.1f} ms at batch {b}" for b in batches))
    for name in names:
        spec = get_model_spec(name)
        params = sum(p.numel() for p in get_model(name).parameters())
        repeats = args.repeats if not is_large(name) else max(1, args.repeats - 1)
        costs[name] = unit if name == "mc3_18" else {b: per_clip_ms(name, batch=b, repeats=repeats) for b in batches}
        row = "".join(f" {costs[name][b]:>10.1f} {costs[name][b] / unit[b]:>9.2f}" for b in batches)
        if 8 in batches and not args.no_channels_last:
            row += f" {per_clip_ms(name, batch=8, repeats=repeats, channels_last=True):>11.1f}"
        shape = f"{spec.frames_per_clip}x{spec.crop_size[0]}x{spec.crop_size[1]}"
        print(f"{name:<16} {shape:<16} {params:>10,}{row}", flush=True)
    print(
        "\n'x MC3-18': per-clip cost in MC3-18 clip evaluations at the same batch, each model at its own clip shape. "
        "The paper puts its sampler's overhead at about 3 MC3-18 clip evaluations, or 0.972 of R(2+1)D-50: "
        "R(2+1)D-50 ~ 3.1 MC3-18 clips in its (GPU) setting."
    )

    if args.no_video:
        return 0
    video = make_long_video(RESULTS / "long_5min.mp4")
    info = probe(video)
    print(f"\nper video: {video.name}, {info.duration_s:.0f} s, {info.frames} frames, {info.width}x{info.height} {info.codec}")
    print(f"{'model':<16} {'sampler':<12} {'clips':>6} {'probe s':>8} {'sampler s':>10} {'decode s':>9} {'classif s':>10} {'total s':>8}")
    for name in args.model or [n for n in names if n.endswith("_tiny")]:
        classifier = Classifier(get_model(name), get_model_spec(name), [f"c{i}" for i in range(400)], name=name)
        clips = len(clip_grid(info, frames_per_clip=classifier.frames_per_clip))
        for sampler, k in (("uniform", 10), ("dense", None)):
            if sampler == "dense" and is_large(name):
                batch8 = costs.get(name, {}).get(8) or per_clip_ms(name, batch=8, repeats=1)
                estimate_s = clips * batch8 / 1000
                print(f"{name:<16} {'dense (est.)':<12} {clips:>6} {'':>8} {'':>10} {'':>9} {estimate_s:>10.1f}")
                continue
            prediction = classify_video(video, classifier=classifier, sampler=sampler, k=k, batch_size=8)
            s = prediction.seconds
            total = sum(s.values())
            print(
                f"{name:<16} {sampler + ('' if k is None else f' K={k}'):<12} {len(prediction.selection):>6} "
                f"{s['probe']:>8.2f} {s['sampler']:>10.4f} {s['decode']:>9.2f} {s['classifier']:>10.2f} {total:>8.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
