import logging

import pytest
import torch

from dancegen.core.errors import DanceGenError
from dancegen.model.nets.discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from dancegen.model.nets.generator import GlobalGenerator, GlobalKnobs, LocalEnhancer, halve
from dancegen.model.nets.vgg import TORCHVISION_FILE, Vgg19Features, load_vgg19

POSE_CH, TANGRAM_CH = 45, 30   # (10 + 5) * K=3 pose maps, 3 x 10 transformed body parts
IN_CH = POSE_CH + TANGRAM_CH


@pytest.fixture(scope="module")
def g() -> GlobalGenerator:
    torch.manual_seed(0)
    return GlobalGenerator(IN_CH, 3, GlobalKnobs(ngf=8, n_downsample=3, n_blocks=2))


def test_halve_averages_3x3_windows_without_counting_padding():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = halve(x)
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)      # corner window: 4 real pixels
    assert out[0, 0, 1, 1] == pytest.approx(x[0, 0, 1:4, 1:4].mean().item())


def test_global_generator_shapes_and_range(g):
    x = torch.randn(2, IN_CH, 64, 64)
    out = g(x)
    assert out.shape == (2, 3, 64, 64)
    assert out.abs().max() <= 1.0
    assert g.features(x).shape == (2, 8, 64, 64)
    assert torch.allclose(g.head(g.features(x)), out)


def test_global_generator_widths_double_per_downsample(g):
    convs = [m for m in g.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64]
    assert all(abs(c.weight.std().item() - 0.02) < 0.005 for c in convs[1:])   # pix2pixHD init


def test_local_enhancer_from_global_copies_g(g):
    G = LocalEnhancer.from_global(g, n_local_blocks=1)
    x = torch.randn(2, IN_CH, 128, 128)
    with torch.no_grad():
        out = G(x)
        assert out.shape == (2, 3, 128, 128)
        assert out.abs().max() <= 1.0
        low = halve(x)
        assert torch.equal(G.global_trunk(low), g.features(low))
    assert G.local_down[1].out_channels == 4 and G.local_down[-3].out_channels == 8
    with torch.no_grad():   # a copy: training G later must leave the low-resolution g as it was
        G.global_trunk[1].weight.add_(1.0)
    assert not torch.equal(G.global_trunk[1].weight, g.trunk[1].weight)


def test_local_enhancer_trains_both_parts(g):
    G = LocalEnhancer.from_global(g, n_local_blocks=1)
    G(torch.randn(1, IN_CH, 32, 32)).square().mean().backward()
    assert G.global_trunk[1].weight.grad.abs().sum() > 0
    assert G.local_down[1].weight.grad.abs().sum() > 0


def test_local_enhancer_needs_even_global_width():
    with pytest.raises(ValueError, match="even"):
        LocalEnhancer.from_global(GlobalGenerator(4, 3, GlobalKnobs(ngf=5, n_downsample=1, n_blocks=1)), 1)


def _stem_macs(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the convolutions that read the net's input (the 1×1 projection and/or 7×7 stems)."""
    macs = []
    hooks = [m.register_forward_hook(lambda m, i, o: macs.append(o.numel() * m.weight[0].numel()))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels in (IN_CH, 16)
             and m.kernel_size[0] in (1, 7)]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    return sum(macs)


def test_projected_stem_reads_the_inputs_through_a_1x1_convolution():
    torch.manual_seed(0)
    knobs = GlobalKnobs(ngf=8, n_downsample=2, n_blocks=1, stem=16)
    g = GlobalGenerator(IN_CH, 3, knobs)
    project, conv7 = g.trunk[0], g.trunk[2]
    assert (project.in_channels, project.out_channels, project.kernel_size, project.bias) == (IN_CH, 16, (1, 1), None)
    assert (conv7.in_channels, conv7.kernel_size) == (16, (7, 7))
    x = torch.randn(1, IN_CH, 32, 32)
    assert g(x).shape == (1, 3, 32, 32)
    G = LocalEnhancer.from_global(g, n_local_blocks=1)   # g's projection comes along, g̃ gets its own
    assert torch.equal(G.global_trunk[0].weight, project.weight) and G.local_down[0].out_channels == 16
    plain = LocalEnhancer(IN_CH, 3, GlobalKnobs(ngf=8, n_downsample=2, n_blocks=1, head="zero"), 1)
    projected = LocalEnhancer(IN_CH, 3, GlobalKnobs(ngf=8, n_downsample=2, n_blocks=1, head="zero", stem=16), 1)
    x = torch.randn(1, IN_CH, 64, 64)
    assert _stem_macs(projected, x) * 2.5 < _stem_macs(plain, x)


def test_nlayer_discriminator_returns_every_layer():
    d = NLayerDiscriminator(3 + POSE_CH, ndf=8, n_layers=3)
    outs = d(torch.randn(2, 3 + POSE_CH, 64, 64))
    # 4x4 convs with padding 2: stride 2 gives H/2 + 1, stride 1 gives H + 1
    assert [tuple(o.shape) for o in outs] == [(2, 8, 33, 33), (2, 16, 17, 17), (2, 32, 9, 9),
                                              (2, 64, 10, 10), (2, 1, 11, 11)]


def test_nlayer_discriminator_caps_width_at_512():
    d = NLayerDiscriminator(3, ndf=256, n_layers=3)
    assert [layer[0].out_channels for layer in d.layers[:-1]] == [256, 512, 512, 512]


@pytest.mark.parametrize("num_d,res", [(2, 64), (3, 128)])
def test_multiscale_discriminator_scales(num_d, res):
    torch.manual_seed(0)
    D = MultiscaleDiscriminator(3 + POSE_CH, ndf=8, n_layers=3, num_D=num_d)
    x = torch.randn(2, 3 + POSE_CH, res, res)
    outs = D(x)
    assert len(outs) == num_d and all(len(scale) == 5 for scale in outs)
    assert [scale[0].shape[-1] for scale in outs] == [res // 2 ** k // 2 + 1 for k in range(num_d)]
    assert all(scale[-1].shape[1] == 1 for scale in outs)
    assert torch.equal(outs[1][-1], D.scales[1](halve(x))[-1])


# --- VGG19 -----------------------------------------------------------------------------------

TV_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
            14: (256, 256), 16: (256, 256), 19: (512, 256), 21: (512, 512), 23: (512, 512),
            25: (512, 512), 28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512)}


@pytest.fixture(scope="module")
def tv_state() -> dict[str, torch.Tensor]:
    """A random VGG19 state dict in torchvision's key layout (classifier kept small)."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for idx, (out_ch, in_ch) in TV_CONVS.items():
        state[f"features.{idx}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=gen) * 0.05
        state[f"features.{idx}.bias"] = torch.randn(out_ch, generator=gen) * 0.05
    state["classifier.0.weight"] = torch.randn(8, 8, generator=gen)
    state["classifier.0.bias"] = torch.randn(8, generator=gen)
    return state


def test_vgg_loads_torchvision_layout(tmp_path, tv_state):
    path = tmp_path / TORCHVISION_FILE
    torch.save(tv_state, path)
    vgg = load_vgg19(str(path))
    assert torch.equal(vgg.features[28].weight, tv_state["features.28.weight"])
    assert torch.equal(vgg.features[0].bias, tv_state["features.0.bias"])
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())
    outs = vgg(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert [tuple(o.shape) for o in outs] == [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8),
                                              (1, 512, 4, 4), (1, 512, 2, 2)]
    assert all((o >= 0).all() for o in outs)   # every tap is after a ReLU


def test_vgg_normalises_minus_one_one_images_for_imagenet():
    torch.manual_seed(0)
    vgg = Vgg19Features()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = torch.relu(vgg.features[0]((x + 1) / 2 / std - mean / std))
    assert torch.allclose(vgg(x)[0], expected, atol=1e-5)


def test_vgg_auto_finds_the_hub_cache(tmp_path, monkeypatch, tv_state):
    (tmp_path / "checkpoints").mkdir()
    torch.save(tv_state, tmp_path / "checkpoints" / TORCHVISION_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert isinstance(load_vgg19("auto"), Vgg19Features)


def test_vgg_auto_without_cache_is_off_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert load_vgg19("auto") is None
    assert "PERCEPTUAL LOSS OFF" in caplog.text and str(tmp_path) in caplog.text


def test_vgg_named_missing_file_is_an_error(tmp_path):
    with pytest.raises(DanceGenError, match="not found"):
        load_vgg19(str(tmp_path / "nope.pth"))


def test_vgg_corrupt_file_is_an_error(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DanceGenError, match="bad.pth.*not a readable"):
        load_vgg19(str(path))


def test_vgg_non_dict_file_is_an_error(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(DanceGenError, match="not a state dict"):
        load_vgg19(str(path))


def test_vgg_wrong_shapes_are_an_error(tmp_path, tv_state):
    path = tmp_path / "vgg16ish.pth"
    torch.save({**tv_state, "features.19.weight": torch.zeros(512, 128, 3, 3)}, path)
    with pytest.raises(DanceGenError, match=r"features\.19\.weight.*\(512, 128, 3, 3\)"):
        load_vgg19(str(path))


def test_vgg_missing_keys_are_an_error(tmp_path, tv_state):
    path = tmp_path / "short.pth"
    torch.save({k: v for k, v in tv_state.items() if k != "features.25.bias"}, path)
    with pytest.raises(DanceGenError, match=r"no tensor 'features\.25\.bias'"):
        load_vgg19(str(path))
