"""GPU figures for issue 12 (run by benchmarks/gpu_check.sh on a GPU machine; not part of CI).

    python benchmarks/gpu_check.py --out runs/gpu-check [--sampler motion] [--processes 8] [--videos 100]
    python benchmarks/gpu_check.py --out runs/gpu-check-dry --device cpu --videos 2 --seconds 20 --processes 1  # a dry run

1. CPU against GPU predictions of r2plus1d_18 (seeded random weights with a scaled head, so that
   top-1 is decisive; the device has no published weights) on clips decoded from synthetic
   videos: top-1 agreement and the largest probability difference (the GPU runs bf16 autocast).
2. Throughput of ``scsampler classify --device cuda`` with r2plus1d_18 on ``--videos`` synthetic
   2-minute videos: Dense (every clip) against ``--sampler`` at K=10, the videos sharded over
   ``--processes`` local-engine processes sharing the GPU; videos per hour from the wall time of
   all shards, and each stage's seconds summed from the JSON lines.
Writes ``gpu_check.json`` in ``--out``. ``--device cpu`` runs the same steps on the CPU (a dry run of
the script where no GPU is lent: its figures compare the CPU with itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from scsampler.models import Classifier, get_model, save_checkpoint
from scsampler.video import clip_grid, decode_clips, probe


def _checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    model = get_model("r2plus1d_18", num_classes=8)
    with torch.no_grad():
        model.fc.weight.mul_(20.0)  # decisive logits from random features
    return save_checkpoint(folder / "r2plus1d_18.pt", model_name="r2plus1d_18", model=model, classes=[f"class_{i}" for i in range(8)])


def compare_devices(checkpoint: Path, videos: list[Path], *, device: str, clips_per_video: int = 4) -> dict:
    cpu, gpu = Classifier.from_checkpoint(checkpoint), Classifier.from_checkpoint(checkpoint, device=device)
    batches = []
    for path in videos:
        info = probe(path)
        grid = clip_grid(info, frames_per_clip=cpu.frames_per_clip)
        chosen = grid.index[:: max(1, len(grid) // clips_per_video)][:clips_per_video]
        batches.append(decode_clips(path, grid.subset(chosen), size=cpu.decode_size(height=info.height, width=info.width), info=info))
    clips = torch.cat(batches)
    on_cpu, on_gpu = cpu(clips), gpu(clips)
    probabilities_cpu, probabilities_gpu = torch.softmax(on_cpu, 1), torch.softmax(on_gpu, 1)
    return {
        "clips": len(clips),
        "top1_agreement": float((on_cpu.argmax(1) == on_gpu.argmax(1)).float().mean()),
        "largest_probability_difference": float((probabilities_cpu - probabilities_gpu).abs().max()),
        "largest_logit_difference": float((on_cpu - on_gpu).abs().max()),
    }


def throughput(
    checkpoint: Path, videos: list[Path], *, sampler: str, k: int | None, processes: int, out: Path, name: str, device: str
) -> dict:
    shards = [videos[i::processes] for i in range(processes) if videos[i::processes]]
    began = time.perf_counter()
    running = []
    for index, shard in enumerate(shards):
        command = [sys.executable, "-m", "scsampler", "classify", *map(str, shard), "--weights", str(checkpoint),
                   "--sampler", sampler, "--device", device, "--batch-size", "16", "--json", "--quiet"]  # fmt: skip
        if k is not None:
            command += ["--k", str(k)]
        log = open(out / f"{name}-{index}.jsonl", "w", encoding="utf-8")
        running.append((subprocess.Popen(command, stdout=log, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "2"}), log))
    for process, log in running:
        process.wait()
        log.close()
    wall = time.perf_counter() - began
    results = [json.loads(line) for index in range(len(shards)) for line in (out / f"{name}-{index}.jsonl").read_text().splitlines()]
    seconds = {stage: sum(r["seconds"].get(stage, 0.0) for r in results) for stage in ("probe", "sampler", "decode", "classifier")}
    return {
        "sampler": sampler, "k": k if k is not None else "all", "videos": len(videos), "failed": sum(bool(r["error"]) for r in results),
        "clips": sum(len(r["clips"]) for r in results), "processes": len(shards), "wall_s": round(wall, 2),
        "videos_per_hour": round(len(videos) / wall * 3600, 1), "stage_seconds_summed": {s: round(v, 2) for s, v in seconds.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--sampler", default="motion")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=120, help="length of each synthetic video (120)")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run of the script")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "videos"
    if not (data / "manifest.csv").is_file():
        subprocess.run([sys.executable, "-m", "scsampler", "synth", str(data), "--videos", str(args.videos), "--classes", "8",
                        "--min-seconds", str(args.seconds), "--max-seconds", str(args.seconds), "--workers", str(os.cpu_count() or 1), "--quiet"],
                       check=True)  # fmt: skip
    videos = sorted((data / "videos").glob("*.mp4"))[: args.videos]
    checkpoint = _checkpoint(args.out)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    figures = {"device": name, "torch": torch.__version__}
    figures["cpu_vs_gpu"] = compare_devices(checkpoint, videos[:8], device=args.device)
    print(json.dumps(figures["cpu_vs_gpu"]), flush=True)
    figures["dense"] = throughput(checkpoint, videos, sampler="dense", k=None, processes=args.processes, out=args.out, name="dense", device=args.device)
    print(json.dumps(figures["dense"]), flush=True)
    figures["sampled"] = throughput(checkpoint, videos, sampler=args.sampler, k=10, processes=args.processes, out=args.out, name="sampled", device=args.device)
    print(json.dumps(figures["sampled"]), flush=True)
    figures["speedup"] = round(figures["sampled"]["videos_per_hour"] / figures["dense"]["videos_per_hour"], 2)
    (args.out / "gpu_check.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({"speedup": figures["speedup"]}))


if __name__ == "__main__":
    main()
