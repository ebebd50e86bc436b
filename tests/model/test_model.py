"""The variants' generators, discriminators and losses on real demo batches (tiny networks)."""

import dataclasses

import pytest
import torch
from conftest import batch_of, make_video

from dancegen.core.config import SYNTHESIS_TARGETS, LossParams, ModelParams
from dancegen.model.generators import (COMB, FINAL, GREEN, SYNTHESIS, SYNTHESIS_JUDGED, GeneratorConfig, Generators,
                                       chroma_key, load_generators, move_layer, on_green, save_generators)
from dancegen.model.variants import NAMES, get_variant, ordered


def supervised_branches(variant: str, w_synthesis: float, synthesis_target: str) -> tuple[str, ...]:
    return get_variant(variant).judged(LossParams(w_synthesis=w_synthesis, synthesis_target=synthesis_target))
from dancegen.train.objective import Critics, GeneratorObjective, targets
from dancegen.model.nets.generator import LocalEnhancer, halve

TINY = ModelParams(ngf=8, n_downsample=3, n_blocks=1, n_local_blocks=1, ndf=8, n_layers_d=2)
NO_EXTRAS = LossParams(w_vgg=0.0, w_sp=0.0, w_l1=0.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("data"), size=64, n_train=4, n_test=2)


def generators(variant: str, compose: str = "blend") -> Generators:
    torch.manual_seed(0)
    return Generators(GeneratorConfig.from_params(variant, dataclasses.replace(TINY, compose=compose), K=3))


def test_chroma_key_separates_green_from_everything_else():
    pixels = torch.tensor([GREEN, (-0.8, 0.8, -0.8), (-0.5, 0.3, -0.5), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                           (-1.0, -1.0, -1.0)]).T.reshape(1, 3, 6, 1).requires_grad_(True)
    key = chroma_key(pixels)
    assert key.shape == (1, 1, 6, 1)
    assert key[0, 0, :2].max() < 1e-3          # the screen and a roughly green pixel: background
    assert key[0, 0, 2:].min() > 0.99          # a green shirt, grey, white, black: person
    key.sum().backward()
    assert torch.isfinite(pixels.grad).all()   # even on exact green


def test_on_green_keeps_the_person_and_greens_the_rest():
    image = torch.rand(1, 3, 4, 4) * 2 - 1
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    out = on_green(image, mask)
    torch.testing.assert_close(out[..., :2], image[..., :2])
    torch.testing.assert_close(out[..., 2:], torch.tensor(GREEN).view(1, 3, 1, 1).expand(1, 3, 4, 2))


@pytest.mark.parametrize("variant, keys", [
    ("ours", {"T", SYNTHESIS, "key", "comb", FINAL, "heads"}),
    ("ours_baseline", {"T", SYNTHESIS, "key", "comb", FINAL, "heads"}),
    ("pix2pixhd", {FINAL}),
    ("posewarp", {"layers", "W", "foreground", "key", "background", FINAL}),
])
def test_generator_outputs(video, variant, keys):
    batch = batch_of(video, 32)
    out = generators(variant)(batch)
    assert set(out) == keys
    assert out[FINAL].shape == (2, 3, 32, 32)
    assert out[FINAL].abs().max() <= 1
    if "T" in keys:
        assert out["T"].shape == (2, 30, 32, 32)
        assert out["key"].shape == (2, 1, 32, 32)
        # I_comb is Ĩ_out where the matte is 1 and the scene (B_in) where it is 0
        person, scene = (out["key"] == 1).expand_as(out["comb"]), (out["key"] == 0).expand_as(out["comb"])
        assert person.any() and scene.any()
        torch.testing.assert_close(out["comb"][person], out[SYNTHESIS][person])
        torch.testing.assert_close(out["comb"][scene], batch["B_in"][scene])


@pytest.mark.parametrize("variant, compose", [("ours", "blend"), ("ours_baseline", "blend"), ("ours", "flow")])
def test_blending_nets_start_as_exactly_the_composites_they_are_given(video, variant, compose):
    from dancegen.body.parts import tangram, warp_parts_amodal

    batch = batch_of(video, 32)
    gens = generators(variant, compose)
    assert gens.config.blends and gens.config.hidden_parts and gens.variant.net_channels(gens.config.pose_channels, compose)[SYNTHESIS][1] == 4 + 2 * (compose == "flow")
    out = gens(batch)
    # the parts completed behind the parts that hid them, as the tangram baseline builds them
    T, coverage, hidden = warp_parts_amodal(batch["I_in"], batch["parsing_in"], batch["theta"],
                                            batch["part_valid"], batch["hidden_in"])
    green = torch.tensor(GREEN).view(1, 3, 1, 1).expand(2, 3, 32, 32)
    torch.testing.assert_close(out[SYNTHESIS], tangram(T, coverage, green, hidden), rtol=0, atol=1e-6)
    torch.testing.assert_close(out["comb"], tangram(T, coverage, batch["B_in"], hidden), rtol=0, atol=1e-6)
    assert torch.equal(out[FINAL], out["comb"])
    # and the composite is the warped person over the input frame's own room
    assert (out["comb"] - batch["B_in"]).abs().amax(1).gt(0.05).float().mean() < 0.5
    changed = (out["comb"] - batch["B_in"]).abs().amax(1) > 0.05
    assert changed.any()


@pytest.mark.parametrize("variant", ["ours", "ours_baseline"])
def test_under_bfloat16_autocast_the_composites_stay_at_full_precision(video, variant):
    # Inference runs the nets in bfloat16 on a CPU that has it; the warp and the composites, which
    # copy pixels of I_in and B_in, must not lose their precision with them.
    batch = batch_of(video, 32)
    gens = generators(variant)
    with torch.no_grad():
        full = gens(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = gens(batch)
    for key in ("T", SYNTHESIS, "comb", FINAL):
        assert mixed[key].dtype == torch.float32, key
    # at initialisation the heads are 0 in any precision: the outputs are the fp32 composites
    torch.testing.assert_close(mixed["T"], full["T"], rtol=0, atol=1e-6)
    torch.testing.assert_close(mixed[FINAL], full[FINAL], rtol=0, atol=1e-6)


def test_moving_a_layer_shifts_its_colour_and_alpha_by_the_flow():
    torch.manual_seed(0)
    alpha = torch.zeros(1, 1, 8, 8)
    alpha[..., 2:6, 2:5] = 1.0
    alpha[..., 2:6, 5] = 0.5                              # a soft right edge
    colour = (torch.rand(1, 3, 8, 8) * 2 - 1) * (alpha > 0)
    # flow 0 is the identity, bit for bit
    same = move_layer(colour, alpha, torch.zeros(1, 2, 8, 8))
    assert torch.equal(same[0], colour) and torch.equal(same[1], alpha)
    # one pixel to the right: each pixel samples the one on its left (x units: 2 / width per pixel)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = -2 / 8
    moved, moved_alpha = move_layer(colour, alpha, flow)
    torch.testing.assert_close(moved_alpha[..., 1:], alpha[..., :-1])
    torch.testing.assert_close(moved[..., 1:], colour[..., :-1])
    # half a pixel: the edge is blended in alpha, while the colour stays the part's own (premultiplied)
    flow[:, 0] = -1 / 8
    moved, moved_alpha = move_layer(colour, alpha, flow)
    torch.testing.assert_close(moved_alpha[0, 0, 3, 1:8], torch.tensor([0, 0.5, 1, 1, 0.75, 0.25, 0]))
    torch.testing.assert_close(moved[..., 3, 2], colour[..., 3, 2])
    torch.testing.assert_close(moved[..., 3, 6], colour[..., 3, 5])
    assert moved[..., 3, 7].abs().max() == 0


@pytest.mark.parametrize("judged_on", [SYNTHESIS, COMB])
def test_the_flow_head_learns_to_move_the_parts(video, judged_on):
    batch = batch_of(video, 32)
    gens = generators("ours", "flow")
    assert gens.nets[SYNTHESIS].head[1].out_channels == 6 and gens.nets[FINAL].head[1].out_channels == 4
    out = gens(batch)
    # the synthesis loss's gradient reaches the flow channels of the (zero) head, whichever image it judges
    (out[judged_on] - targets(batch, (judged_on,))[judged_on]).abs().mean().backward()
    grad = gens.nets[SYNTHESIS].head[1].bias.grad
    assert grad[4:6].abs().min() > 0


def test_enhancing_a_blending_net_keeps_its_output(video):
    # G = (g, g̃) starts as the trained g's output upsampled: the low phase's corrections carry over.
    gens = generators("ours")
    for p in gens.parameters():            # as if trained: every weight, the zero heads too, non-zero
        torch.nn.init.normal_(p, 0.0, 0.02)
    x = torch.randn(2, 3 + gens.config.pose_channels, 64, 64)
    g = gens.nets[FINAL]
    expected = torch.nn.functional.interpolate(g(halve(x)), scale_factor=2, mode="bilinear", align_corners=False)
    gens.enhance()
    torch.testing.assert_close(gens.nets[FINAL](x), expected)
    assert gens(batch_of(video, 64))[FINAL].shape == (2, 3, 64, 64)


def test_paper_composition_synthesises_on_the_plate(video):
    torch.manual_seed(0)
    gens = Generators(GeneratorConfig.from_params("ours", dataclasses.replace(TINY, compose="paper"), K=3))
    assert not gens.config.blends
    batch = batch_of(video, 32)
    out = gens(batch)
    expected = out["key"] * out[SYNTHESIS] + (1 - out["key"]) * batch["B"]
    torch.testing.assert_close(out["comb"], expected)
    assert not torch.equal(out[FINAL], out["comb"])


def test_every_variant_is_a_module_found_by_name():
    assert set(NAMES) >= {"ours", "ours_baseline", "pix2pixhd", "posewarp"}
    assert ordered(["ours", "pix2pixhd", "ours_baseline"]) == ["pix2pixhd", "ours_baseline", "ours"]
    for name in NAMES:
        variant = get_variant(name)
        assert variant.name == name and variant.label
        assert FINAL in variant.net_channels(45, "flow") or variant.net_channels(45, "flow")
    with pytest.raises(ValueError, match="unknown variant"):
        get_variant("posewrap")


def test_supervised_branches():
    assert supervised_branches("ours", 1.0, "green") == (SYNTHESIS, FINAL)
    assert supervised_branches("ours", 1.0, "scene") == (COMB, FINAL)
    assert supervised_branches("ours", 1.0, "both") == (SYNTHESIS, COMB, FINAL)
    assert supervised_branches("ours", 0.0, "both") == (FINAL,)          # loss.w_synthesis = 0: the baseline
    for target in SYNTHESIS_TARGETS:
        assert supervised_branches("ours_baseline", 1.0, target) == (FINAL,)
        assert supervised_branches("pix2pixhd", 1.0, target) == (FINAL,)
    assert set(SYNTHESIS_JUDGED) == set(SYNTHESIS_TARGETS)       # params.yaml's choices, one meaning each
    with pytest.raises(ValueError, match="synthesis target"):
        supervised_branches("ours", 1.0, "person")


def test_targets_are_the_reference_person_on_green_for_synthesis_and_the_frame_for_the_rest(video):
    batch = batch_of(video, 32)
    real = targets(batch, (SYNTHESIS, COMB, FINAL))
    person = batch["H_ref"].bool().expand(-1, 3, -1, -1)
    torch.testing.assert_close(real[SYNTHESIS][person], batch["I_ref"][person])
    green = torch.tensor(GREEN).view(1, 3, 1, 1).expand_as(real[SYNTHESIS])
    torch.testing.assert_close(real[SYNTHESIS][~person], green[~person])
    assert real[COMB] is batch["I_ref"] and real[FINAL] is batch["I_ref"]


def losses(variant: str, batch, w_synthesis: float = 1.0, synthesis_target: str = "both"):
    gens = generators(variant)
    branches = supervised_branches(variant, w_synthesis, synthesis_target)
    critics = Critics(branches, gens.config.pose_channels, TINY, num_d=2, w_gp=10.0)
    objective = GeneratorObjective(LossParams(w_vgg=0.0, w_sp=0.0, w_l1=0.0, w_synthesis=w_synthesis), None, None)
    out = gens(batch)
    reals = targets(batch, branches)
    fakes = {n: out[n] for n in branches}
    d_loss, d_terms, real_outputs = critics(reals, {n: f.detach() for n, f in fakes.items()}, batch["P_ref"])
    g_loss, g_terms = objective(critics, reals, fakes, real_outputs, batch["P_ref"])
    return gens, critics, g_loss, d_loss, {**g_terms, **d_terms}


def test_ours_has_both_branches_and_baseline_only_the_final(video):
    batch = batch_of(video, 32)
    per_branch = {"g_rela", "fm", "d_rela", "gp"}
    for target, judged in SYNTHESIS_JUDGED.items():
        _, critics, _, _, terms = losses("ours", batch, synthesis_target=target)
        assert set(terms) == {f"{b}/{t}" for b in (*judged, FINAL) for t in per_branch}
        assert set(critics.nets) == {*judged, FINAL}          # one discriminator per judged image
    _, _, _, _, terms = losses("ours_baseline", batch)
    assert set(terms) == {f"{FINAL}/{t}" for t in per_branch}
    assert all(torch.isfinite(v) for v in terms.values())


def test_a_lazy_gradient_penalty_runs_every_kth_step_with_k_times_the_weight(video):
    batch = batch_of(video, 32)
    gens = generators("pix2pixhd")
    torch.manual_seed(0)
    critics = Critics((FINAL,), gens.config.pose_channels, TINY, num_d=2, w_gp=10.0, gp_every=4)
    fake = {FINAL: gens(batch)[FINAL].detach()}
    real = {FINAL: batch["I_ref"]}
    skipped, skipped_terms, _ = critics(real, fake, batch["P_ref"], penalise=False)
    penalised, terms, _ = critics(real, fake, batch["P_ref"], penalise=True)
    assert set(skipped_terms) == {f"{FINAL}/d_rela"} and terms[f"{FINAL}/gp"] > 0
    torch.testing.assert_close(penalised, skipped + 4 * 10.0 * terms[f"{FINAL}/gp"])


def test_gradients_reach_the_right_networks(video):
    batch = batch_of(video, 32)
    gens, critics, g_loss, d_loss, _ = losses("ours_baseline", batch)
    g_loss.backward()
    # Without its own supervision, G_s still learns: the fusion loss flows back through I_comb.
    assert gens.nets[SYNTHESIS].head[1].weight.grad.abs().sum() > 0
    assert gens.nets[FINAL].head[1].weight.grad.abs().sum() > 0
    # The generator loss scores fakes with frozen discriminators.
    assert all(p.grad is None for p in critics.parameters())
    assert all(p.requires_grad for p in critics.parameters())
    d_loss.backward()
    assert all(p.grad is not None for p in critics.parameters())


def test_enhanced_generators_roundtrip_through_a_file(video, tmp_path):
    gens = generators("ours")
    gens.enhance()
    assert isinstance(gens.nets[SYNTHESIS], LocalEnhancer)
    batch = batch_of(video, 64)
    gens.eval()
    with torch.no_grad():
        expected = gens(batch)[FINAL]
    save_generators(tmp_path / "model.pt", gens, 64, {"variant": "ours"})
    loaded, resolution, meta = load_generators(tmp_path / "model.pt")
    assert (resolution, meta["variant"], loaded.config) == (64, "ours", gens.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch)[FINAL], expected)


@pytest.mark.parametrize("variant, compose", [("ours", "flow"), ("ours", "blend"), ("ours", "paper"), ("pix2pixhd", "flow")])
def test_rendering_at_the_nets_own_size_is_exactly_their_output(video, variant, compose):
    batch = batch_of(video, 32)
    gens = generators(variant, compose)
    for p in gens.parameters():          # trained-looking heads: the fields are not zero
        torch.nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        out = gens(batch)
        rendered = gens.variant.render(gens, out, {k: v for k, v in batch.items() if k != "P_ref"})
    torch.testing.assert_close(rendered[FINAL], out[FINAL], rtol=0, atol=0)
    torch.testing.assert_close(rendered[SYNTHESIS if SYNTHESIS in out else FINAL],
                               out[SYNTHESIS if SYNTHESIS in out else FINAL], rtol=0, atol=0)


@pytest.mark.parametrize("compose", ["flow", "blend"])
def test_untrained_nets_render_the_tangram_composite_at_any_size(video, compose):
    from dancegen.body.parts import tangram, warp_parts_amodal

    gens = generators("ours", compose)
    for side in (64, 48):                # 48: not a multiple of the nets' 32
        low, high = batch_of(video, 32), batch_of(video, side)
        with torch.no_grad():
            outputs, rendered = gens.render(low, high)
        T, coverage, hidden = warp_parts_amodal(high["I_in"], high["parsing_in"], high["theta"], high["part_valid"],
                                                high["hidden_in"])
        expected = tangram(T, coverage, high["B_in"], hidden)
        assert rendered[FINAL].shape == (2, 3, side, side) and outputs[FINAL].shape == (2, 3, 32, 32)
        torch.testing.assert_close(rendered[FINAL], expected, rtol=0, atol=1e-6)
        assert gens.matte(outputs, low, rendered).shape == (2, 1, side, side)


@pytest.mark.parametrize("variant", ["ours", "pix2pixhd"])
def test_composing_frame_by_frame_gives_the_batch_composed_at_once(video, variant, monkeypatch):
    import dancegen.model.generators as module

    gens = generators(variant)
    for p in gens.parameters():          # trained-looking heads: the fields are not zero
        torch.nn.init.normal_(p, std=0.05)
    low, high = batch_of(video, 32), batch_of(video, 64)
    with torch.no_grad():
        monkeypatch.setattr(module, "RENDER_PIXELS", 10**9)
        _, at_once = gens.render(low, high)
        monkeypatch.setattr(module, "RENDER_PIXELS", 64 * 64)       # one frame per run
        _, by_frame = gens.render(low, high)
    assert at_once.keys() == by_frame.keys() and len(at_once[FINAL]) == 2
    for key in at_once:
        torch.testing.assert_close(by_frame[key], at_once[key], rtol=0, atol=0)


def test_a_painting_variant_is_upsampled_to_the_render_size(video):
    gens = generators("pix2pixhd")
    low, high = batch_of(video, 32), batch_of(video, 64)
    with torch.no_grad():
        outputs, rendered = gens.render(low, high)
    expected = torch.nn.functional.interpolate(outputs[FINAL], size=(64, 64), mode="bicubic").clamp(-1, 1)
    torch.testing.assert_close(rendered[FINAL], expected)
    assert gens.matte(outputs, low, rendered).shape == (2, 1, 64, 64)
