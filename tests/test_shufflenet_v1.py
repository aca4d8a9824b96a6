"""ShuffleNet v1 (0.5x, 3 groups): its layout, megvii's weights layout, and training as a visual sampler."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.sampler_nets import VISUAL_BACKBONES, VisualSamplerNet, canonical_backbone, parameter_groups
from scsampler.models.shufflenet_v1 import ShuffleNetV1, channel_shuffle
from scsampler.training.losses import sal_cl_loss


def _randomise_batch_norm(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    return model.eval()


def test_the_paper_layout_at_half_width():
    model = ShuffleNetV1().eval()
    shapes = {}
    for name in ("conv1", "maxpool", "stage2", "stage3", "stage4"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.update({name: tuple(o.shape[1:])}))
    with torch.inference_mode():
        logits = model(torch.randn(1, 3, 224, 224))
    assert logits.shape == (1, 1000)
    assert shapes == {
        "conv1": (12, 112, 112), "maxpool": (12, 56, 56),
        "stage2": (120, 28, 28), "stage3": (240, 14, 14), "stage4": (480, 7, 7),
    }  # fmt: skip
    assert [len(model.stage2), len(model.stage3), len(model.stage4)] == [4, 8, 4]
    assert model.stage2[0].reduce[0].groups == 1 and model.stage2[1].reduce[0].groups == 3  # the first 1x1 conv is not grouped
    assert all(unit.expand[0].groups == 3 for stage in (model.stage2, model.stage3, model.stage4) for unit in stage)
    assert 650_000 < sum(p.numel() for p in model.parameters()) < 750_000  # megvii: 0.7M parameters


def test_channel_shuffle_interleaves_the_groups_as_megvii_does():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # megvii views the channels as (C / g, g) and transposes: output channel k is input channel
    # (k % (C / g)) * g + k // (C / g); for C = 6, g = 3: 0 3 1 4 2 5 (torchvision's v2 order would be 0 2 4 1 3 5).
    assert channel_shuffle(x, 3).flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


# Written from megvii's ShuffleNet-Series ShuffleNetV1 (first_conv, features.K.branch_main_1 = [conv, bn,
# relu, dwconv, bn], branch_main_2 = [conv, bn], classifier = [Linear without bias]).
def _megvii_name(key: str) -> str:
    if key.startswith("conv1."):
        return "first_conv." + key.removeprefix("conv1.")
    if key.startswith("fc."):
        return "classifier.0." + key.removeprefix("fc.")
    stage, unit, part, index, rest = key.split(".", 4)
    k = {"stage2": 0, "stage3": 4, "stage4": 12}[stage] + int(unit)
    branch, first = {"reduce": ("branch_main_1", 0), "depthwise": ("branch_main_1", 3), "expand": ("branch_main_2", 0)}[part]
    return f"features.{k}.{branch}.{first + int(index)}.{rest}"


def _megvii_file(tmp_path, *, edit=None):
    torch.manual_seed(0)
    source = _randomise_batch_norm(ShuffleNetV1())
    renamed = {"module." + _megvii_name(k): v for k, v in source.state_dict().items()}  # saved from DataParallel
    assert tuple(renamed["module.first_conv.0.weight"].shape) == (12, 3, 3, 3)
    assert tuple(renamed["module.features.0.branch_main_1.0.weight"].shape) == (30, 12, 1, 1)
    assert tuple(renamed["module.features.0.branch_main_2.0.weight"].shape) == (108, 10, 1, 1)
    assert tuple(renamed["module.features.15.branch_main_1.3.weight"].shape) == (120, 1, 3, 3)
    assert tuple(renamed["module.classifier.0.weight"].shape) == (1000, 480)
    if edit is not None:
        edit(renamed)
    path = tmp_path / "snetv1_group3_0.5x.pth.tar"
    torch.save({"state_dict": renamed}, path)
    return source, path


def test_megvii_weights_load_into_every_branch_with_the_same_features(tmp_path):
    source, path = _megvii_file(tmp_path)
    net = VisualSamplerNet(backbone="shufflenet_v1", inputs=("iframe", "motion"), pretrained=path).eval()
    assert net.config["backbone"] == "shufflenet_v1_x0_5_g3" and net.pretrained_loaded
    features = nn.Sequential(source.conv1, source.maxpool, source.stage2, source.stage3, source.stage4, source.avgpool, nn.Flatten())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(net.branches["iframe"].backbone(x), features(x))
    rgb = source.conv1[0].weight
    assert torch.allclose(net.branches["motion"].backbone.conv1[0].weight, rgb.mean(1, keepdim=True).repeat(1, 2, 1, 1))
    assert torch.equal(net.branches["motion"].backbone.stage4[3].expand[1].running_var, source.stage4[3].expand[1].running_var)
    groups = parameter_groups(net, lr=1e-3, pretrained_lr_scale=0.01)
    assert [g["name"] for g in groups] == ["new", "pretrained"]


def test_weights_in_our_own_names_load_too(tmp_path):
    source = _randomise_batch_norm(ShuffleNetV1())
    torch.save(source.state_dict(), tmp_path / "ours.pth")
    net = VisualSamplerNet(backbone="shufflenet_v1_x0_5_g3", inputs=("iframe",), pretrained=tmp_path / "ours.pth")
    assert torch.equal(net.branches["iframe"].backbone.stage3[5].depthwise[0].weight, source.stage3[5].depthwise[0].weight)


def test_a_wrong_key_or_shape_names_the_file_and_the_key(tmp_path):
    def rename(state):
        state["module.features.3.branch_main_2.7.running_var"] = state.pop("module.features.3.branch_main_2.1.running_var")

    _, path = _megvii_file(tmp_path, edit=rename)
    with pytest.raises(ScsamplerError) as error:
        VisualSamplerNet(backbone="shufflenet_v1", inputs=("iframe",), pretrained=path)
    assert str(error.value) == (
        f"{path}: does not fit a ShuffleNet v1 0.5x (3 groups) backbone in the megvii ShuffleNet-Series layout ("
        "1 missing key: features.3.branch_main_2.1.running_var (ours: stage2.3.expand.1.running_var); "
        "1 unexpected key: features.3.branch_main_2.7.running_var)."
    )

    def reshape(state):
        state["module.features.5.branch_main_1.3.weight"] = torch.zeros(60, 3, 3, 3)

    _, path = _megvii_file(tmp_path, edit=reshape)
    with pytest.raises(ScsamplerError, match=r"snetv1_group3_0\.5x\.pth\.tar: does not fit a ShuffleNet v1 .* \(1 wrong shape key: "
                       r"features\.5\.branch_main_1\.3\.weight is \(60, 3, 3, 3\) in the file, \(60, 1, 3, 3\) in the model\)"):  # fmt: skip
        VisualSamplerNet(backbone="shufflenet_v1", inputs=("iframe",), pretrained=path)


def test_there_is_no_download_for_shufflenet_v1():
    assert "shufflenet_v1_x0_5_g3" in VISUAL_BACKBONES and canonical_backbone("shufflenet_v1") == "shufflenet_v1_x0_5_g3"
    with pytest.raises(UsageError, match=r"shufflenet_v1_x0_5_g3 has no downloadable ImageNet weights .* --pretrained PATH"):
        VisualSamplerNet(backbone="shufflenet_v1", inputs=("iframe",), pretrained="imagenet")


def _salient_frames(count: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey noise frames; the salient half has a bright 16x16 square somewhere."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(60, 140, (count, 3, 48, 48), generator=generator, dtype=torch.uint8)
    salient = torch.arange(count) % 2 == 0
    for index in torch.nonzero(salient).flatten().tolist():
        top, left = torch.randint(0, 32, (2,), generator=generator).tolist()
        frames[index, :, top : top + 16, left : left + 16] = 250
    return frames, salient


def test_shufflenet_v1_trains_as_a_visual_sampler_far_above_chance():
    """SAL-CL on 48x48 I-frames (backbone input 32): salient frames rank first on held-out frames.

    After 20 steps the BatchNorm running averages still lag the weights, so they are re-estimated
    on training frames first (as "precise BN" does); the network's learning is what is tested.
    """
    torch.manual_seed(0)
    net = VisualSamplerNet(backbone="shufflenet_v1", inputs=("iframe",), out_features=1, input_size=32)
    frames, salient = _salient_frames(256, seed=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for step in range(20):
        batch = torch.arange(step * 16, step * 16 + 16) % len(frames)
        loss = sal_cl_loss(net({"iframe": frames[batch]}), salient[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batches below
    with torch.no_grad():
        for start in range(0, len(frames), 64):
            net({"iframe": frames[start : start + 64]})
    test_frames, test_salient = _salient_frames(128, seed=2)
    net.eval()
    with torch.inference_mode():
        scores = net({"iframe": test_frames}).flatten()
    ranked_right = (scores[test_salient][:, None] > scores[~test_salient][None, :]).float().mean().item()
    accuracy = ((scores > 0) == test_salient).float().mean().item()
    assert ranked_right >= 0.9 and accuracy >= 0.8, (ranked_right, accuracy)  # chance: 0.5 and 0.5
