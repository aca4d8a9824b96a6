"""Cost of the sampler networks, per clip and for a whole 5-minute video, in MC3-18 clip evaluations.

    .venv/bin/python benchmarks/sampler_cost.py [--repeats 3] [--seconds 300] [--threads N] [--quick]
        [--backend eager --backend onnx] [--batch 64] [--batch-sweep] [--no-networks]
        [--motion-step 8 ...] [--end-to-end-only] [--flops]

1. One MC3-18 clip evaluation (torchvision ``mc3_18``, 16 x 112 x 112, batch 8, random weights:
   cost does not depend on their values) is the unit, measured in this run.
2. Per-clip forward cost of each sampler network, per backbone and per input (I-frame, motion,
   residual; VGGish and tiny audio nets, full and frozen), at batch 64 under inference mode.
3. A whole video (a synthetic 5-minute 320x240 25 fps H.264/AAC file made by ``scsampler synth``,
   cached in benchmarks/results/): the seconds to extract its signals (each alone, and I-frames with
   motion in one ``extract_signals`` call, as a visual sampler asks them) plus the seconds to score all
   its L clips, for a few sampler configurations, in MC3-18 clip evaluations. The paper reports
   about 3 MC3-18 clip evaluations per video for its sampler on miniSports. Scoring is measured
   as the library scores (``LearnedSampler.score_inputs``: each distinct I-frame once, fixed-size
   batches of ``--batch``) with each ``--backend``, at the motion input sizes of ``--motion-size``
   (the backbone's own size, 112 or 64 for tiny, and smaller), beside the scoring before issue 17
   (the whole net on every clip, batch 64, eager). ``--batch-sweep`` first prints the per-clip cost
   of ResNet-18 (I-frame) and VGGish per backend at batch 8, 16, 32 and 64.
4. End to end: the demo's and the paper's sampler as a user runs them, a ``CompositeSampler`` of the
   visual and the audio network (random weights) whose ``score`` extracts the signals (no cache) and
   scores every clip, the audio part in a thread beside the visual one; with each ``--motion-step``
   (the motion input from the first P-frame of each run of that many frames) beside every P-frame,
   and at the smaller motion size too; and the visual part alone (a visual sampler on its own: with a
   step, its pass runs in stretches side by side on torch's threads). ``--end-to-end-only`` skips part
   3's table.

``--flops`` prints only the floating-point operations of each network per clip (``torch.utils.flop_counter``:
convolutions and matrix products) and for every clip of a 5-minute 480x360 video (562 clips), in MC3-18
clip evaluations' FLOPs: what no backend or machine changes.

Best of ``--repeats`` runs after one warm-up. CPU timings on a shared machine vary; compare
numbers from the same run only.
"""

from __future__ import annotations

import argparse
import copy
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
    parser.add_argument("--backend", action="append", default=None, help="sampler backend(s) to measure (eager and onnx)")
    parser.add_argument("--batch", type=int, default=64, help="clips per forward pass of the library's scoring (64)")
    parser.add_argument("--motion-size", type=int, action="append", default=None, help="smaller motion input size(s) (32; tiny: 16)")
    parser.add_argument("--batch-sweep", action="store_true", help="per-clip cost at batch 8-64 per backend first")
    parser.add_argument("--no-networks", action="store_true", help="skip the per-network table")
    parser.add_argument("--motion-step", type=int, action="append", default=None, help="motion step(s) to measure besides every P-frame")
    parser.add_argument("--end-to-end-only", action="store_true", help="of the whole video, only the end-to-end samplers")
    parser.add_argument("--flops", action="store_true", help="only the networks' FLOPs, in MC3-18 clips' FLOPs")
    args = parser.parse_args()
    if args.flops:
        flop_table()
        return
    backends = args.backend or ["eager", "onnx"]
    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")

    unit = mc3_clip_seconds(repeats=args.repeats)
    print(f"\nunit: one MC3-18 clip evaluation (16x112x112, batch 8) = {unit * 1000:.1f} ms\n")

    if args.batch_sweep:
        batch_sweep(backends, unit=unit, repeats=args.repeats, quick=args.quick)
    if not args.no_networks:
        network_table(unit=unit, repeats=args.repeats, quick=args.quick)
    whole_video(args, backends, unit=unit)
    end_to_end(args, backends, unit=unit)


def flop_table(clips: int = 562) -> None:
    """FLOPs per clip of each sampler network, and for ``clips`` clips, in MC3-18 clip evaluations' FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from scsampler.models.sampler_nets import build_sampler_net

    def flops(module: torch.nn.Module, x) -> int:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            module.eval()(x)
        return counter.get_total_flops()

    unit = flops(get_model("mc3_18", num_classes=400), torch.zeros(1, 3, 16, 112, 112))
    print(f"one MC3-18 clip (16x112x112): {unit / 1e9:.1f} GFLOPs; 5-minute 480x360 video: {clips} clips (motion grid 23x30)")
    mel = torch.zeros(1, 1, 40, 200)
    frame, motion = torch.zeros(1, 3, 112, 112), torch.zeros(1, 2, 23, 30)
    rows = [
        ("VGGish", dict(modality="audio", layout="vggish"), mel),
        ("tiny audio", dict(modality="audio", layout="tiny"), mel),
        ("ResNet-18, I-frame branch (112)", dict(modality="visual", backbone="resnet18", inputs=("iframe",)), {"iframe": frame}),
        ("ResNet-18, motion branch (112)", dict(modality="visual", backbone="resnet18", inputs=("motion",)), {"motion": motion}),
        ("ResNet-18, motion branch (32)", dict(modality="visual", backbone="resnet18", inputs=("motion",), input_sizes={"motion": 32}),
         {"motion": motion}),
        ("tiny visual, I-frame + motion (64)", dict(modality="visual", backbone="tiny", inputs=("iframe", "motion")),
         {"iframe": frame, "motion": motion}),
    ]  # fmt: skip
    print(f"{'network':<36} {'GFLOPs per clip':>16} {'x ' + str(clips) + ' clips, MC3-18 clips':>26}")
    for label, config, x in rows:
        per_clip = flops(build_sampler_net(**config), x)
        print(f"{label:<36} {per_clip / 1e9:16.3f} {clips * per_clip / unit:26.2f}")


def batch_sweep(backends: list[str], *, unit: float, repeats: int, quick: bool) -> None:
    """Per-clip cost of one part at several batch sizes, per backend (the prepared input, as the library runs it)."""
    from scsampler.models.sampler_backends import build_runner

    nets = [("visual tiny / iframe 64", VisualSamplerNet(backbone="tiny", inputs=("iframe",)), "iframe", (3, 64, 64)),
            ("audio tiny", AudioSamplerNet(layout="tiny"), "audio", (1, 200, 40))]  # fmt: skip
    if not quick:
        nets += [("visual resnet18 / iframe 112", VisualSamplerNet(backbone="resnet18", inputs=("iframe",)), "iframe", (3, 112, 112)),
                 ("audio vggish", AudioSamplerNet(layout="vggish"), "audio", (1, 200, 40))]  # fmt: skip
    print(f"{'network part, ms per clip':<32} {'backend':<8} " + " ".join(f"{'batch ' + str(b):>9}" for b in (8, 16, 32, 64)))
    for label, net, part, shape in nets:
        net.eval()
        for backend in backends:
            runner = build_runner(net, backend)
            cells = []
            for size in (8, 16, 32, 64):
                x = torch.randn(size, *shape)
                with torch.inference_mode():
                    cells.append(best_seconds(lambda: runner.run(part, x), repeats=repeats) / size)
            print(f"{label:<32} {backend:<8} " + " ".join(f"{c * 1000:9.2f}" for c in cells))
    print()


def network_table(*, unit: float, repeats: int, quick: bool) -> None:
    batch = 64
    print(f"{'sampler network':<44} {'ms/clip':>9} {'MC3 clips':>10}")
    visual_backbones = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "tiny"] + ([] if quick else ["resnet18"])
    for backbone in visual_backbones:
        for name in ("iframe", "motion", "residual"):
            net = VisualSamplerNet(backbone=backbone, inputs=(name,))
            seconds = net_clip_seconds(net, {name: visual_input(name, batch)}, batch=batch, repeats=repeats)
            print(f"{'visual ' + backbone + ' / ' + name:<44} {seconds * 1000:9.3f} {seconds / unit:10.4f}")
    audio_layouts = ["tiny"] + ([] if quick else ["vggish"])
    mel = torch.randn(batch, 1, 40, 200)
    for layout in audio_layouts:
        for frozen in (None, "fc1"):
            net = AudioSamplerNet(layout=layout, frozen_at=frozen)
            seconds = net_clip_seconds(net, mel, batch=batch, repeats=repeats)
            label = f"audio {layout}" + (f" (frozen at {frozen})" if frozen else "")
            print(f"{label:<44} {seconds * 1000:9.3f} {seconds / unit:10.4f}")
    print()


def whole_video(args: argparse.Namespace, backends: list[str], *, unit: float) -> None:
    """The whole video: signals + scoring every clip, per sampler configuration, scoring way and backend."""
    from scsampler.samplers.learned import distinct_consecutive_rows, net_inputs_from_signals
    from scsampler.signals import ClipSignals, extract_signals
    from scsampler.video import clip_grid, probe

    video = make_video(args.seconds)
    info = probe(video)
    grid = clip_grid(info, frames_per_clip=16)
    print(f"\nwhole video: {video.name}, {info.duration_s:.0f} s, {info.width}x{info.height}, {len(grid)} clips of 16 frames")
    if args.end_to_end_only:
        return
    signal_seconds = {}
    signals = {}
    # each signal alone, and the visual samplers' pair as extract_signals gives it (one pass where vectors serve)
    for name in ("iframe", "motion", "audio", "iframe+motion"):
        began = time.perf_counter()
        signals[name] = extract_signals(video, grid, signals=tuple(name.split("+")), info=info)
        signal_seconds[name] = time.perf_counter() - began
        print(f"  signal {name:<13} {signal_seconds[name]:7.2f} s = {signal_seconds[name] / unit:7.2f} MC3 clips")
    keyframes = len(distinct_consecutive_rows(signals["iframe+motion"].iframe)[0])
    print(f"  {keyframes} distinct I-frames among the {len(grid)} clips (consecutive clips sharing a keyframe)")
    merged = ClipSignals(
        path=str(video), grid=grid,
        iframe=signals["iframe+motion"].iframe, motion=signals["iframe+motion"].motion,
        motion_source=signals["iframe+motion"].motion_source,
        audio=signals["audio"].audio, audio_absent_reason=signals["audio"].audio_absent_reason,
    )  # fmt: skip
    visual = [("resnet18", 112, args.motion_size or [32])] if not args.quick else []
    visual += [("shufflenet_v2_x0_5", 112, []), ("tiny", 64, args.motion_size or [16])]
    configs: list[tuple[str, dict]] = []
    for backbone, size, smaller in visual:
        for motion in [None] + smaller:
            label = f"visual {backbone} iframe+motion" + (f" (motion {motion})" if motion else "")
            sizes = {"input_sizes": {"motion": motion}} if motion else {}
            configs.append((label, dict(modality="visual", backbone=backbone, inputs=("iframe", "motion"), **sizes)))
    configs += [("audio vggish", dict(modality="audio", layout="vggish"))] if not args.quick else []
    configs += [("audio tiny", dict(modality="audio", layout="tiny"))]
    from scsampler.models.sampler_nets import build_sampler_net
    from scsampler.samplers.learned import LearnedSampler

    print(f"\n{'sampler on the whole video':<44} {'scoring':<26} {'signals s':>9} {'scoring s':>9} {'total s':>8} {'MC3 clips':>10}")
    for label, config in configs:
        net = build_sampler_net(**config).eval()
        inputs = net_inputs_from_signals(net.config, merged)
        extraction = signal_seconds["audio" if config["modality"] == "audio" else "iframe+motion"]
        # a copy: a LearnedSampler puts its own network channels-last, and "before" ran the contiguous layout
        before = copy.deepcopy(net)
        ways = [] if "input_sizes" in config else [("before: batch 64, no dedup", lambda: score_before(before, inputs))]
        for backend in backends:
            sampler = LearnedSampler(net, loss="sal-rank", backend=backend, batch_size=args.batch)
            ways.append((f"{backend}, batch {args.batch}, dedup", lambda sampler=sampler: sampler.score_inputs(inputs)))
        for way, score_all in ways:
            scoring = best_seconds(score_all, repeats=max(1, args.repeats - 1))
            total = extraction + scoring
            print(f"{label:<44} {way:<26} {extraction:9.2f} {scoring:9.2f} {total:8.2f} {total / unit:10.2f}", flush=True)
    print(f"\nDense's classifier cost is {len(grid)} MC3-18 clip evaluations on this video.")


def end_to_end(args: argparse.Namespace, backends: list[str], *, unit: float) -> None:
    """The demo's and the paper's samplers end to end: ``CompositeSampler.score`` (signals, uncached, and scoring)."""
    from scsampler.models.sampler_nets import build_sampler_net
    from scsampler.samplers.composite import CompositeSampler
    from scsampler.samplers.learned import LearnedSampler
    from scsampler.video import clip_grid, probe

    video = make_video(args.seconds)
    info = probe(video)
    grid = clip_grid(info, frames_per_clip=16)
    samplers = [
        ("demo: tiny iframe+motion + tiny audio", dict(backbone="tiny"), "tiny", [None, {"motion": 16}]),
        ("paper: resnet18 iframe+motion + vggish", dict(backbone="resnet18"), "vggish", [None, {"motion": 32}]),
    ]
    if args.quick:
        samplers = samplers[:1]
    print(f"\n{'end to end (CompositeSampler.score)':<40} {'motion':<16} {'backend':<8} {'seconds':>8} {'MC3 clips':>10}")
    for label, visual_options, layout, sizes in samplers:
        for input_sizes in sizes:
            for step in [None] + (args.motion_step or []):
                for backend in backends:
                    torch.manual_seed(0)
                    options = dict(visual_options, **({"input_sizes": input_sizes} if input_sizes else {}))
                    options.update({"motion_step": step} if step else {})
                    visual = build_sampler_net(modality="visual", inputs=("iframe", "motion"), **options).eval()
                    audio = build_sampler_net(modality="audio", layout=layout).eval()
                    sampler = CompositeSampler(
                        LearnedSampler(visual, loss="sal-rank", backend=backend, batch_size=args.batch),
                        LearnedSampler(audio, loss="sal-rank", backend=backend, batch_size=args.batch),
                        combination="union",
                    )
                    seconds = best_seconds(lambda sampler=sampler: sampler.score(info, grid), repeats=args.repeats)
                    motion = ("every P" if step is None else f"step {step}") + (f", {input_sizes['motion']}px" if input_sizes else "")
                    print(f"{label:<40} {motion:<16} {backend:<8} {seconds:8.2f} {seconds / unit:10.2f}", flush=True)
                    if input_sizes is None:  # the visual part alone, its pass split across the threads (where it can be)
                        alone = best_seconds(lambda sampler=sampler: sampler.visual.score(info, grid), repeats=args.repeats)
                        print(f"{'  its visual part alone':<40} {motion:<16} {backend:<8} {alone:8.2f} {alone / unit:10.2f}", flush=True)


def score_before(net: torch.nn.Module, inputs: dict[str, torch.Tensor], batch: int = 64) -> None:
    """Scoring as it was before issue 17: the whole net on every clip, batches of 64, eager."""
    count = len(next(iter(inputs.values())))
    with torch.inference_mode():
        for start in range(0, count, batch):
            part = {k: v[start : start + batch] for k, v in inputs.items()}
            net(part["audio"] if "audio" in part else part)


if __name__ == "__main__":
    main()
