"""The CPU floor under the demo sampler's wall time: each of its stages' CPU seconds on one thread (issue 17).

    .venv/bin/python benchmarks/sampler_floor.py [--video PATH] [--repeats 3]

The demo's sampler (``benchmarks/speedup_vs_length.py``'s: runs/demo's trained visual and audio samplers
when ``make demo`` has run, else tiny networks of the same architecture with random weights) scores every
clip of a video (default: that benchmark's 5-minute 480x360 30 fps H.264/AAC video, 562 clips of 16 frames)
in five stages. Each is timed here alone on one torch thread, in CPU seconds of this process
(``time.process_time``), best of ``--repeats`` after a warm-up:

- visual signals: one decoding pass for the I-frames and the motion of the first P-frame of each run of
  the network's motion step (on H.264 the decoder is handed those packets only); and FFmpeg's part of
  it, the decoder alone handed the same packets (recorded from one pass) with nothing done with the frames;
- visual network: scoring those signals (each distinct I-frame once);
- audio signals: the sound track decoded, downmixed and resampled to 16 kHz, and each clip's 40x200
  log-MEL; and the log-MEL alone (the same windows, samples of noise: its cost does not depend on them),
  so that decoding is the difference;
- audio network: scoring the log-MELs.

Their sum over this machine's cores is the least wall time the pair can take here however its work is
shared, unless a stage itself gets cheaper; printed in MC3-18 clip evaluations (torchvision ``mc3_18``,
16 x 112 x 112, batch 8, random weights, on all of torch's threads: the unit of ``sampler_cost.py``,
measured in this run), beside the pair's own wall time as ``CompositeSampler.score`` runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def _benchmark_module(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_cpu_and_wall(fn, *, repeats: int) -> tuple[float, float]:
    """The least CPU seconds and the least wall seconds of ``repeats`` calls, after one warm-up call."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        began_cpu, began = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - began_cpu)
        wall.append(time.perf_counter() - began)
    return min(cpu), min(wall)


def decoder_alone(video: Path, extract) -> Callable[[], None]:
    """A loop that hands the decoder exactly the packets the visual pass ``extract()`` hands it, with the
    pass's decoder settings, and does nothing with the frames: FFmpeg's own share of the pass."""
    import av

    from scsampler.signals import motion

    handed: set[int] = set()
    real = motion._decoded  # the pass's demux loop, which asks keep(packet) which packets to decode

    def recording(container, stream, *, keep=None):
        def kept(packet) -> bool:
            chosen = keep is None or keep(packet)
            if chosen and packet.pts is not None:
                handed.add(int(packet.pts))
            return chosen

        yield from real(container, stream, keep=kept)

    motion._decoded = recording
    try:
        extract()
    finally:
        motion._decoded = real

    def decode() -> None:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"flags2": "+export_mvs", "skip_loop_filter": "nokey"}
            stream.codec_context.skip_frame = "BIDIR"
            for packet in container.demux(stream):
                if packet.pts in handed:
                    packet.decode()

    return decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None, help="video to score (default: the 5-minute benchmark video)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from scsampler.signals import extract_signals
    from scsampler.signals.audio import audio_windows_samples, log_mel, mel_filterbank
    from scsampler.samplers.learned import signal_options
    from scsampler.video import clip_grid, probe

    speedup = _benchmark_module("speedup_vs_length")
    video = args.video or speedup._video(5)
    info = probe(video)
    grid = clip_grid(info, frames_per_clip=16)
    pair = speedup._sampler("demo")
    visual, audio = pair.visual, pair.audio
    cores = torch.get_num_threads()
    unit = _benchmark_module("sampler_cost").mc3_clip_seconds(repeats=args.repeats)
    pair_wall = best_cpu_and_wall(lambda: pair.score(info, grid), repeats=args.repeats)[1]

    torch.set_num_threads(1)
    options = signal_options(visual.net.config)
    visual_signals = extract_signals(video, grid, signals=visual.signals, info=info, **options)
    audio_options = signal_options(audio.net.config)
    audio_signals = extract_signals(video, grid, signals=("audio",), info=info, **audio_options)
    starts, ends = audio_windows_samples(grid, audio_options["audio_window"])
    noise = np.random.default_rng(0).standard_normal(int((ends - starts).max())).astype(np.float32)
    filterbank = mel_filterbank()

    def log_mels_alone() -> None:
        lengths = ends - starts
        for length in np.unique(lengths):  # extract_audio's batches: equal lengths, 16 windows at a time
            count = int((lengths == length).sum())
            for first in range(0, count, 16):
                windows = torch.from_numpy(np.tile(noise[:length], (min(16, count - first), 1)))
                log_mel(windows, filterbank=filterbank)

    def visual_pass() -> None:
        extract_signals(video, grid, signals=visual.signals, info=info, **options)

    stages = {
        "visual signals (one decoding pass)": visual_pass,
        "visual network": lambda: visual.score_signals(visual_signals),
        "audio signals (decoding + log-MEL)": lambda: extract_signals(video, grid, signals=("audio",), info=info, **audio_options),
        "audio network": lambda: audio.score_signals(audio_signals),
    }
    with torch.inference_mode():
        cpu = {name: best_cpu_and_wall(stage, repeats=args.repeats)[0] for name, stage in stages.items()}
        mel_cpu = best_cpu_and_wall(log_mels_alone, repeats=args.repeats)[0]
        decoder_cpu = best_cpu_and_wall(decoder_alone(video, visual_pass), repeats=args.repeats)[0]
    total = sum(cpu.values())

    print(f"{video}: {len(grid)} clips; {os.cpu_count()} CPUs, {cores} torch threads; one MC3-18 clip {unit:.3f} s")
    print(f"visual: {', '.join(visual.signals)}, motion step {options.get('motion_step', 1)}; audio window {audio_options['audio_window']}")
    print(f"{'stage (one thread)':44s} {'CPU s':>7} {'MC3-18 clips':>13}")
    for name, seconds in cpu.items():
        print(f"{name:44s} {seconds:7.3f} {seconds / unit:13.2f}")
        if name.startswith("visual signals"):
            print(f"{'  of which the decoder alone':44s} {decoder_cpu:7.3f} {decoder_cpu / unit:13.2f}")
        if name.startswith("audio signals"):
            print(f"{'  of which the log-MEL':44s} {mel_cpu:7.3f} {mel_cpu / unit:13.2f}")
            print(f"{'  of which decoding (the rest)':44s} {seconds - mel_cpu:7.3f} {(seconds - mel_cpu) / unit:13.2f}")
    print(f"{'all stages':44s} {total:7.3f} {total / unit:13.2f}")
    codecs_and_networks = decoder_cpu + (cpu["audio signals (decoding + log-MEL)"] - mel_cpu) + mel_cpu + cpu["visual network"] + cpu["audio network"]
    print(f"{'decoders, log-MEL and networks only':44s} {codecs_and_networks:7.3f} {codecs_and_networks / unit:13.2f}")
    print(f"floor on {cores} cores (all stages / {cores}): {total / cores:.3f} s = {total / cores / unit:.2f} MC3-18 clips; "
          f"without the passes' own work: {codecs_and_networks / cores:.3f} s = {codecs_and_networks / cores / unit:.2f}; "
          f"the pair as it runs: {pair_wall:.3f} s = {pair_wall / unit:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
