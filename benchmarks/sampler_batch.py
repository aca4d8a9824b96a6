"""The sampler networks' scoring time and peak memory against their forward batch, on this CPU.

    PYTHONPATH=src .venv/bin/python benchmarks/sampler_batch.py [--batch 16 --batch 64] [--clips 562] [--repeats 3]
        [--layout channels-last --layout contiguous] [--fold on --fold off]

Each (network, batch) runs in a process of its own: ``LearnedSampler.score_inputs`` (eager, random
weights, ``dedup`` off so that every clip is computed) on ``--clips`` random inputs of the 5-minute
480x360 benchmark video's shapes (I-frame 3x112x112 and motion 2x23x30 for the visual networks, a
40x200 log-MEL for the audio ones), one untimed call on one batch first. Printed: the median and best
seconds for all the clips over ``--repeats`` runs, and the process's peak resident memory (docs/models.md,
"Sampler batch size and memory": why the default stays 64). ``--layout`` picks the eager runner's memory
layout: ``channels-last`` (the library's on a CPU) and/or ``contiguous`` (before it); ``--fold`` whether
batch norm is folded into the convolutions (``on``, the library's for a network in eval mode) or not.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

NETWORKS = {  # name -> build_sampler_net arguments
    "visual resnet18": {"modality": "visual", "backbone": "resnet18", "inputs": ("iframe", "motion")},
    "visual tiny": {"modality": "visual", "backbone": "tiny", "inputs": ("iframe", "motion")},
    "audio vggish": {"modality": "audio", "layout": "vggish"},
    "audio tiny": {"modality": "audio", "layout": "tiny"},
}


def measure(name: str, batch: int, clips: int, repeats: int, layout: str = "channels-last", fold: str = "on") -> dict:
    import torch

    from scsampler.models.sampler_nets import build_sampler_net
    from scsampler.samplers.learned import LearnedSampler

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    net = build_sampler_net(**NETWORKS[name])
    sampler = LearnedSampler(net, loss="sal-rank", batch_size=batch, dedup=False)
    if layout == "contiguous" or fold == "off":  # the eager runner before channels-last, or before folding
        from scsampler.models.sampler_backends import EagerRunner

        sampler._runner = EagerRunner(net, channels_last=layout == "channels-last", fold_batch_norm=fold == "on")
    if net.config["modality"] == "audio":
        inputs = {"audio": torch.randn(clips, 1, 40, 200)}
    else:
        inputs = {"iframe": torch.randint(0, 256, (clips, 3, 112, 112), dtype=torch.uint8),
                  "motion": torch.randn(clips, 2, 23, 30).half()}  # fmt: skip
    sampler.score_inputs({key: value[:batch] for key, value in inputs.items()})  # warm-up
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        sampler.score_inputs(inputs)
        seconds.append(time.perf_counter() - began)
    return {"median_s": statistics.median(seconds), "best_s": min(seconds),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, action="append", help="forward batches (default: 16 and 64)")
    parser.add_argument("--clips", type=int, default=562, help="clips scored (default: 562, the 5-minute video's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layout", action="append", choices=("channels-last", "contiguous"), help="eager memory layout(s) (channels-last)")
    parser.add_argument("--fold", action="append", choices=("on", "off"), help="batch norm folded into the convolutions (on)")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        name, batch, layout, fold = args.measure
        print(json.dumps(measure(name, int(batch), args.clips, args.repeats, layout, fold)))
        return
    print(f"{'network':<16} {'layout':<13} {'fold':<4} {'batch':>5} {'median s':>9} {'best s':>7} {'peak MB':>8}   ({args.clips} clips)")
    for name in NETWORKS:
        for layout in args.layout or ["channels-last"]:
            for fold in args.fold or ["on"]:
                for batch in args.batch or [16, 64]:
                    command = [sys.executable, __file__, "--measure", name, str(batch), layout, fold,
                               "--clips", str(args.clips), "--repeats", str(args.repeats)]  # fmt: skip
                    row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
                    print(f"{name:<16} {layout:<13} {fold:<4} {batch:5d} {row['median_s']:9.2f} {row['best_s']:7.2f} "
                          f"{row['peak_mb']:8.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
