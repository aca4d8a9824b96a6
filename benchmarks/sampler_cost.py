"""Cost of the sampler networks, per clip and for a whole 5-minute video, in MC3-18 clip evaluations.

    .venv/bin/python benchmarks/sampler_cost.py [--repeats 3] [--seconds 300] [--threads N] [--quick]

1. One MC3-18 clip evaluation (torchvision ``mc3_18``, 16 x 112 x 112, batch 8, random weights:
   cost does not depend on their values) is the unit, measured in this run.
2. Per-clip forward cost of each sampler network, per backbone and per input (I-frame, motion,
   residual; VGGish and tiny audio nets, full and frozen), at batch 64 under inference mode.
3. A whole video (a synthetic 5-minute 320x240 25 fps H.264/AAC file made by ``scsampler synth``,
   cached in benchmarks/results/): the seconds to extract its signals (each alone, and I-frames with
   motion in one ``extract_signals`` call, as a visual sampler asks them) plus the seconds to score all
   its L clips, for a few sampler configurations, in MC3-18 clip evaluations. The paper reports
   about 3 MC3-18 clip evaluations per video for its sampler on miniSports.

Best of ``--repeats`` runs after one warm-up. CPU timings on a shared machine vary; compare
numbers from the same run only.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import torch

from scsampler.models import get_model
from scsampler.models.sampler_nets import AudioSamplerNet, VisualSamplerNet

RESULTS = Path(__file__).resolve().parent / "results"


def best_seconds(fn, *, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def mc3_clip_seconds(*, repeats: int, batch: int = 8) -> float:
    model = get_model("mc3_18", num_classes=400).eval()
    x = torch.randn(batch, 3, 16, 112, 112)
    with torch.inference_mode():
        return best_seconds(lambda: model(x), repeats=repeats) / batch


def visual_input(name: str, batch: int) -> dict[str, torch.Tensor]:
    # The shapes the signals give for a 320x240 video: 112x112 I-frames, 15x20 macroblocks, 30x40 residual.
    return {
        "iframe": torch.randint(0, 256, (batch, 3, 112, 112), dtype=torch.uint8),
        "motion": torch.randn(batch, 2, 15, 20).half(),
        "residual": torch.rand(batch, 1, 30, 40).half(),
    }[name]


def net_clip_seconds(net: torch.nn.Module, inputs, *, batch: int, repeats: int) -> float:
    net.eval()
    with torch.inference_mode():
        return best_seconds(lambda: net(inputs), repeats=repeats) / batch


def make_video(seconds: int) -> Path:
    """A synthetic video with sound (the first seed whose video has an audio track)."""
    from scsampler.cli import main
    from scsampler.video import probe

    for seed in range(10):
        folder = RESULTS / f"sampler_cost_{seconds}s_seed{seed}"
        videos = sorted((folder / "videos").glob("*.mp4"))
        if not videos:
            argv = ["synth", str(folder), "--videos", "1", "--classes", "2", "--seed", str(seed), "--min-seconds",
                    str(seconds), "--max-seconds", str(seconds), "--size", "320x240", "--fps", "25", "--quiet"]  # fmt: skip
            if main(argv) != 0:
                raise SystemExit("could not make the benchmark video")
            videos = sorted((folder / "videos").glob("*.mp4"))
        if probe(videos[0]).audio is not None:
            return videos[0]
    raise SystemExit("no synthetic video with sound in 10 seeds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=300, help="length of the whole video (300)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    parser.add_argument("--quick", action="store_true", help="skip the large backbones (resnet18, vggish)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")

    unit = mc3_clip_seconds(repeats=args.repeats)
    print(f"\nunit: one MC3-18 clip evaluation (16x112x112, batch 8) = {unit * 1000:.1f} ms\n")

    batch = 64
    print(f"{'sampler network':<44} {'ms/clip':>9} {'MC3 clips':>10}")
    visual_backbones = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "tiny"] + ([] if args.quick else ["resnet18"])
    for backbone in visual_backbones:
        for name in ("iframe", "motion", "residual"):
            net = VisualSamplerNet(backbone=backbone, inputs=(name,))
            seconds = net_clip_seconds(net, {name: visual_input(name, batch)}, batch=batch, repeats=args.repeats)
            print(f"{'visual ' + backbone + ' / ' + name:<44} {seconds * 1000:9.3f} {seconds / unit:10.4f}")
    audio_layouts = ["tiny"] + ([] if args.quick else ["vggish"])
    mel = torch.randn(batch, 1, 40, 200)
    for layout in audio_layouts:
        for frozen in (None, "fc1"):
            net = AudioSamplerNet(layout=layout, frozen_at=frozen)
            seconds = net_clip_seconds(net, mel, batch=batch, repeats=args.repeats)
            label = f"audio {layout}" + (f" (frozen at {frozen})" if frozen else "")
            print(f"{label:<44} {seconds * 1000:9.3f} {seconds / unit:10.4f}")

    # The whole video: signals + scoring every clip.
    from scsampler.samplers.learned import net_inputs_from_signals
    from scsampler.signals import extract_signals
    from scsampler.video import clip_grid, probe

    video = make_video(args.seconds)
    info = probe(video)
    grid = clip_grid(info, frames_per_clip=16)
    print(f"\nwhole video: {video.name}, {info.duration_s:.0f} s, {info.width}x{info.height}, {len(grid)} clips of 16 frames")
    signal_seconds = {}
    signals = {}
    # each signal alone, and the visual samplers' pair as extract_signals gives it (one pass where vectors serve)
    for name in ("iframe", "motion", "audio", "iframe+motion"):
        began = time.perf_counter()
        signals[name] = extract_signals(video, grid, signals=tuple(name.split("+")), info=info)
        signal_seconds[name] = time.perf_counter() - began
        print(f"  signal {name:<13} {signal_seconds[name]:7.2f} s = {signal_seconds[name] / unit:7.2f} MC3 clips")
    configs = [
        ("visual shufflenet_v2_x0_5 iframe+motion", dict(modality="visual", backbone="shufflenet_v2_x0_5", inputs=("iframe", "motion")), ("iframe", "motion")),
        ("visual tiny iframe+motion", dict(modality="visual", backbone="tiny", inputs=("iframe", "motion")), ("iframe", "motion")),
        ("audio tiny", dict(modality="audio", layout="tiny"), ("audio",)),
    ]
    if not args.quick:
        configs.insert(0, ("visual resnet18 iframe+motion", dict(modality="visual", backbone="resnet18", inputs=("iframe", "motion")), ("iframe", "motion")))
        configs.append(("audio vggish", dict(modality="audio", layout="vggish"), ("audio",)))
    print(f"\n{'sampler on the whole video':<42} {'signals s':>9} {'scoring s':>9} {'total s':>8} {'MC3 clips':>10} {'/ dense':>8}")
    from scsampler.models.sampler_nets import build_sampler_net
    from scsampler.signals import ClipSignals

    for label, config, needed in configs:
        net = build_sampler_net(**config).eval()
        merged = ClipSignals(
            path=str(video), grid=grid,
            iframe=signals["iframe"].iframe, motion=signals["motion"].motion, motion_source=signals["motion"].motion_source,
            audio=signals["audio"].audio, audio_absent_reason=signals["audio"].audio_absent_reason,
        )  # fmt: skip
        inputs = net_inputs_from_signals(net.config, merged)

        def score_all():
            with torch.inference_mode():
                for start in range(0, len(grid), batch):
                    part = {k: v[start : start + batch] for k, v in inputs.items()}
                    net(part["audio"] if "audio" in part else part)

        scoring = best_seconds(score_all, repeats=max(1, args.repeats - 1))
        extraction = signal_seconds["+".join(needed)]
        total = extraction + scoring
        print(
            f"{label:<42} {extraction:9.2f} {scoring:9.2f} {total:8.2f} {total / unit:10.2f} "
            f"{total / (unit * len(grid)):8.4f}"
        )
    print(f"\n'/ dense' is the sampler's cost over Dense's classifier cost ({len(grid)} MC3-18 clip evaluations).")


if __name__ == "__main__":
    main()
