"""The Posewarp variant (Balakrishnan et al. 2018): its part layers, its background branch, and a
model trained for a few steps that infers from its model file alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import batch_of, make_video

from dancegen.core.config import InputSpec, LossParams, ModelParams, SourcesParams, TrainParams
from dancegen.model.generators import FINAL, GeneratorConfig, Generators, load_generators
from dancegen.model.variants import get_variant, ordered
from dancegen.model.variants.posewarp import BACKGROUND, KEY_GUIDE, fill_background, segment, warp_layers
from dancegen.train.loop import train_model
from dancegen.transfer.infer import generate

TINY = ModelParams(ngf=8, n_downsample=2, n_blocks=1, n_local_blocks=1, ndf=8, n_layers_d=2, num_d_low=1, num_d_high=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("data"), size=64, n_train=12, n_test=2)


def posewarp(seed: int = 0) -> Generators:
    torch.manual_seed(seed)
    return Generators(GeneratorConfig.from_params("posewarp", TINY, K=3)).eval()


def test_the_part_layers_warped_onto_the_same_pose_are_the_layers_themselves(video):
    batch = batch_of(video, 32)
    layers = segment(posewarp(), batch)[:, 1:]
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(2, 10, 2, 3)
    warped, moved = warp_layers(batch["I_in"], layers, identity, torch.ones(2, 10, dtype=torch.bool))
    torch.testing.assert_close(warped, batch["I_in"][:, None] * layers[:, :, None], atol=1e-6, rtol=0)
    torch.testing.assert_close(moved, layers, atol=1e-6, rtol=0)
    # a part missing from either pose has an empty layer
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[:, 3] = False
    warped, moved = warp_layers(batch["I_in"], layers, identity, valid)
    assert warped[:, 3].abs().max() == 0 and moved[:, 3].abs().max() == 0


def test_the_segmentation_and_the_mask_start_from_the_parsing_and_the_moved_parts(video):
    batch = batch_of(video, 32)
    gens = posewarp()
    layers = segment(gens, batch)
    torch.testing.assert_close(layers.sum(1), torch.ones(2, 32, 32))
    assert torch.equal(layers.argmax(1), batch["parsing_in"])
    with torch.no_grad():
        out = gens(batch)
    _, moved = warp_layers(batch["I_in"], layers[:, 1:], batch["theta"], batch["part_valid"])
    landed = moved.sum(1).clamp(max=1)
    assert 0.05 < (landed > 0.5).float().mean() < 0.6
    # the person's mask is where the parts land (up to the foreground net's small initial output)
    torch.testing.assert_close(out["key"][:, 0], torch.sigmoid(KEY_GUIDE * (2 * landed - 1)), atol=0.05, rtol=0)


def test_the_background_branch_sees_no_pixel_of_the_persons_region(video):
    gens = posewarp()
    torch.nn.init.normal_(gens.nets[BACKGROUND].head.weight, 0, 0.1)     # a net that uses its input
    batch = batch_of(video, 32)
    hole = batch["hole_in"]
    assert 0.05 < hole.mean() < 0.6
    layer = torch.rand(2, 1, 32, 32)
    changed = torch.where(hole.bool(), torch.rand_like(batch["I_in"]) * 2 - 1, batch["I_in"])
    with torch.no_grad():
        before = fill_background(gens, batch["I_in"], layer, hole)
        after = fill_background(gens, changed, layer, hole)
        elsewhere = fill_background(gens, torch.where(hole.bool(), batch["I_in"], -batch["I_in"]), layer, hole)
    assert torch.equal(before, after)
    assert (before - elsewhere).abs().max() > 1e-3        # while the room outside it is seen


def test_posewarp_is_the_first_row_and_takes_every_part_from_the_input_frame():
    assert ordered(["ours", "pix2pixhd", "posewarp", "ours_baseline"])[0] == "posewarp"
    spec = InputSpec(sources=SourcesParams(mode="per_part"))
    assert get_variant("posewarp").input_spec(spec).sources.mode == "single"
    assert get_variant("ours").input_spec(spec) == spec


def test_trained_for_a_few_steps_it_loads_from_its_model_file_alone_and_infers(video, tmp_path):
    paths = dataclasses.replace(video, model=tmp_path / "model.pt", checkpoints=tmp_path / "ckpt",
                                logs=tmp_path / "logs")
    train = TrainParams(low_res=32, high_res=64, low_iters=3, high_iters=2, batch_size=2, workers=0, lr=1e-3,
                        ema_decay=0.0, checkpoint_every=5, log_every=1, sample_every=5, seed=0)
    loss = LossParams(w_vgg=0.0, w_sp=0.0)
    spec = InputSpec(sources=SourcesParams(mode="per_part"))
    summary = train_model(paths, "posewarp", TINY, train, loss, spec)
    assert summary["sources"] == "single"         # Posewarp warps the one input frame
    gens, resolution, meta = load_generators(paths.model)
    assert resolution == 64 and meta["variant"] == "posewarp"
    assert not any(torch.equal(p, torch.zeros_like(p)) for n, p in gens.named_parameters() if n.endswith("head.weight"))
    batch = batch_of(video, 64)
    samples = [{k: v[i] for k, v in batch.items()} for i in range(2)]
    out = generate(gens, samples, torch.device("cpu"))
    assert out.final.shape == (2, 64, 64, 3) and out.final.dtype == np.uint8
    assert out.matte.shape == (2, 64, 64) and 0 <= out.matte.min() and out.matte.max() <= 1
    untrained = generate(posewarp(), samples, torch.device("cpu"))
    assert np.abs(out.final.astype(int) - untrained.final).mean() > 0.5     # the steps changed the output
    with torch.no_grad():
        torch.testing.assert_close(gens(batch)[FINAL], gens(batch)[FINAL])    # eval mode: deterministic


def test_a_variant_of_train_half_size_trains_and_runs_at_half_the_sizes(video, tmp_path):
    paths = dataclasses.replace(video, model=tmp_path / "model.pt", checkpoints=tmp_path / "ckpt",
                                logs=tmp_path / "logs")
    train = TrainParams(half_size=["posewarp"], low_res=32, high_res=64, low_iters=1, high_iters=1, batch_size=1,
                        ema_decay=0.0, log_every=1)
    train_model(paths, "posewarp", TINY, train, LossParams(w_vgg=0.0, w_sp=0.0), InputSpec())
    assert load_generators(paths.model)[1] == 32
