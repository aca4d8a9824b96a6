"""On a CUDA GPU: the classifier (bf16 autocast, channels-last, pinned copies) agrees with the CPU, through the pipeline too.

Marked ``gpu``: they skip, saying why, where torch sees no GPU (``benchmarks/gpu_check.sh`` runs them on one).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scsampler.models import Classifier
from scsampler.pipeline import Pipeline, PipelineConfig

from tests.checkpoints import decisive_checkpoint
from tests.signals_media import moving_block_video

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def checkpoint_and_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu")
    checkpoint = decisive_checkpoint(folder / "tiny.pt", ["a", "b", "c", "d"], model_name="r2plus1d_tiny", head_std=2.0)
    videos = [str(moving_block_video(folder / f"v{i}.mp4", frames=96, dx=i + 1, dy=i % 3, move_from=8 * i)) for i in range(4)]
    return str(checkpoint), videos


def test_gpu_logits_agree_with_the_cpu(checkpoint_and_videos):
    checkpoint, _ = checkpoint_and_videos
    cpu, gpu = Classifier.from_checkpoint(checkpoint), Classifier.from_checkpoint(checkpoint, device="cuda")
    clips = torch.randint(0, 256, (12, 3, 16, 112, 112), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    on_cpu, on_gpu = cpu(clips), gpu(clips)
    assert on_gpu.dtype == torch.float32 and on_gpu.device.type == "cpu"
    agreement = float((on_cpu.argmax(1) == on_gpu.argmax(1)).float().mean())
    largest = float((torch.softmax(on_cpu, 1) - torch.softmax(on_gpu, 1)).abs().max())
    assert agreement >= 0.9 and largest < 0.05, (agreement, largest)  # bf16 autocast: close, not equal


def test_the_pipeline_on_a_gpu_chooses_the_same_clips_and_labels(checkpoint_and_videos):
    checkpoint, videos = checkpoint_and_videos
    config = dict(weights=checkpoint, sampler="uniform", k=4, batch_size=4)
    cpu = list(Pipeline(PipelineConfig(**config)).run(videos))
    gpu = list(Pipeline(PipelineConfig(**config, device="cuda")).run(videos))
    for a, b in zip(cpu, gpu):
        assert a.error is None and b.error is None
        assert np.array_equal(a.plan.selection.index, b.plan.selection.index)
        video_a = torch.softmax(torch.from_numpy(a.logits), 1).mean(0)
        video_b = torch.softmax(torch.from_numpy(b.logits), 1).mean(0)
        assert int(video_a.argmax()) == int(video_b.argmax())
