"""The HD refiner: untrained it is the identity, it is applied only at the render size it learnt,
it survives the model file, and trained on a tiny video's pairs it brings the render closer to the truth."""

import dataclasses

import pytest
import torch
from conftest import batch_of, make_video

from dancegen.core.config import InputSpec, ModelParams, PosemapParams, RefineParams
from dancegen.model.generators import FINAL, GeneratorConfig, Generators, load_generators, save_generators
from dancegen.model.nets.refiner import Refiner, RefinerConfig
from dancegen.model.personal import PersonalVideo
from dancegen.train.refine import attach_refiner, render_examples

TINY = ModelParams(ngf=8, n_downsample=3, n_blocks=1, n_local_blocks=1)
SPEC = InputSpec(PosemapParams(K=3))
REFINE = RefineParams(iters=60, pairs=8, width=8, layers=2, crop=32, batch_size=4, lr=3e-3, w_detail=1.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("data"), size=64, n_train=12, n_test=2)


def generators(variant: str = "ours") -> Generators:
    torch.manual_seed(0)
    gens = Generators(GeneratorConfig.from_params(variant, dataclasses.replace(TINY, compose="flow"), K=3))
    for p in gens.parameters():          # trained-looking heads: the fields are not zero
        torch.nn.init.normal_(p, std=0.05)
    return gens.eval()


def test_an_untrained_refiner_returns_the_render_exactly():
    render, low = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    refiner = Refiner(RefinerConfig(width=8, layers=2, size=16))
    torch.nn.init.normal_(refiner.body[0].weight)       # only the zero head keeps it the identity
    torch.testing.assert_close(refiner(render, low), render, rtol=0, atol=0)


def test_the_refiner_changes_only_i_out_and_only_at_its_own_size(video):
    gens, low, high = generators(), batch_of(video, 32), batch_of(video, 64)
    with torch.no_grad():
        _, plain = gens.render(low, high)
        gens.refiner = Refiner(RefinerConfig(width=8, layers=2, size=48))
        torch.nn.init.normal_(gens.refiner.head.weight, std=0.1)
        _, elsewhere = gens.render(low, high)
        gens.refiner = Refiner(dataclasses.replace(gens.refiner.config, size=64)).eval()
        torch.nn.init.normal_(gens.refiner.head.weight, std=0.1)
        _, refined = gens.render(low, high)
        at_r, same = gens.render(low, low)
    for key in plain:
        torch.testing.assert_close(elsewhere[key], plain[key], rtol=0, atol=0)
        if key != FINAL:
            torch.testing.assert_close(refined[key], plain[key], rtol=0, atol=0)
    assert (refined[FINAL] - plain[FINAL]).abs().max() > 0.01
    assert same is at_r                 # at H = R the nets' own outputs, no refiner


def test_a_refiner_survives_the_model_file(video, tmp_path):
    gens, low, high = generators(), batch_of(video, 32), batch_of(video, 64)
    gens.refiner = Refiner(RefinerConfig(width=8, layers=2, size=64))
    torch.nn.init.normal_(gens.refiner.head.weight, std=0.1)
    save_generators(tmp_path / "model.pt", gens, 32, {})
    loaded, _, _ = load_generators(tmp_path / "model.pt")
    assert loaded.refiner is not None and loaded.refiner.config == gens.refiner.config
    with torch.no_grad():
        torch.testing.assert_close(loaded.render(low, high)[1][FINAL], gens.render(low, high)[1][FINAL])
    save_generators(tmp_path / "plain.pt", generators(), 32, {})
    assert load_generators(tmp_path / "plain.pt")[0].refiner is None


def test_a_trained_refiner_brings_the_training_renders_closer_to_the_truth(video):
    gens = generators()
    with PersonalVideo(video) as pv:
        renders, _, truths, people = render_examples(gens, pv, SPEC, 32, REFINE)
        summary = attach_refiner(gens, pv, SPEC, 32, REFINE)
        refined, _, _, _ = render_examples(gens, pv, SPEC, 32, REFINE)
    assert summary["refined"] and summary["size"] == 64 and summary["pairs"] == 8
    assert renders.shape == truths.shape == (8, 3, 64, 64) and all(len(p) for p in people)
    error = lambda images: (images.float() - truths.float()).abs().mean().item()
    assert error(refined) < 0.9 * error(renders)


@pytest.mark.parametrize("variant, resolution, iters, why", [
    ("ours", 32, 0, "refine.iters is 0"), ("pix2pixhd", 32, 60, "paints every pixel"),
    ("ours", 64, 60, "no larger than R")])
def test_no_refiner_where_there_is_nothing_to_refine(video, variant, resolution, iters, why):
    gens = generators(variant)
    with PersonalVideo(video) as pv:
        summary = attach_refiner(gens, pv, SPEC, resolution, dataclasses.replace(REFINE, iters=iters))
    assert not summary["refined"] and why in summary["why_not"] and gens.refiner is None
