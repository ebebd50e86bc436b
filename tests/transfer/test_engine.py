"""The inference engine of the generator nets (dancegen.transfer.engine): OpenVINO against torch, its
cache of exports and the fall-back to torch."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dancegen.core.cache import file_digest
from dancegen.core.config import InferParams, InputSpec, PosemapParams
from dancegen.core.images import cpu_has_bf16
from dancegen.core.layout import VideoPaths
from dancegen.model.generators import GeneratorConfig, Generators, load_generators, pose_channels, save_generators
from dancegen.model.personal import PersonalVideo
from dancegen.transfer import engine
from dancegen.transfer.infer import open_renderer
from conftest import make_video

pytest.importorskip("openvino")

R = 32
POSEMAP = PosemapParams(K=2)
CPU = torch.device("cpu")
# The nets' raw outputs (colour changes, mattes and flows before their squashing) under OpenVINO
# against torch float32: within 1e-4 where OpenVINO computes float32; a bfloat16 CPU (AMX, AVX-512
# BF16) computes them with 8 mantissa bits, the precision torch's own autocast path has there.
TOLERANCE = 0.05 if cpu_has_bf16() else 1e-4


def trained_looking(path: Path, variant: str) -> Generators:
    """A tiny model with random non-zero weights (a zero head would hide any difference), saved."""
    torch.manual_seed(1)
    g = Generators(GeneratorConfig(variant, pose_channels(POSEMAP.K), ngf=4, n_downsample=2, n_blocks=1,
                                   n_local_blocks=1, upsample="resize", compose="flow"))
    g.enhance()
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_generators(path, g, R, {"variant": variant, "steps": 1})
    return g.eval()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "dancegen" / "openvino"


@pytest.mark.parametrize("variant", ["ours", "pix2pixhd", "posewarp"])
def test_openvino_nets_match_torch(tmp_path, cache, variant):
    model = tmp_path / "model.pt"
    reference = trained_looking(model, variant)
    generators, resolution, _ = load_generators(model)
    assert engine.use_engine(generators, model, resolution, "openvino", CPU) == "openvino"
    channels = reference.variant.net_channels(reference.config.pose_channels, reference.config.compose)
    for name, (c, _) in channels.items():
        assert isinstance(generators.nets[name], engine.CompiledNet)
        x = torch.rand(3, c, R, R) * 2 - 1
        with torch.no_grad():
            want, got = reference.nets[name](x), generators.nets[name](x)
        assert got.shape == want.shape and got.dtype == torch.float32
        assert (got - want).abs().max() <= TOLERANCE * max(1.0, want.abs().max().item())


def test_exports_are_cached_by_content(tmp_path, cache, monkeypatch):
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    engine.use_engine(load_generators(model)[0], model, R, "openvino", CPU)
    assert [p.name for p in cache.glob("*/*")] == [file_digest(model)]
    exported = []
    monkeypatch.setattr(engine, "_export", lambda *a: exported.append(a))
    assert engine.use_engine(load_generators(model)[0], model, R, "openvino", CPU) == "openvino"
    assert exported == []                                    # the second use reads the cache
    generators = load_generators(model)[0]
    save_generators(model, generators, R, {"variant": "ours", "steps": 2})     # another file: a new export
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    engine.use_engine(load_generators(model)[0], model, R, "openvino", CPU)
    assert len(list(cache.glob("*/*"))) == 2 and not list(cache.glob("*/*.tmp-*"))


def test_without_openvino_the_nets_run_in_torch_and_a_line_says_why(tmp_path, cache, monkeypatch):
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    monkeypatch.setitem(sys.modules, "openvino", None)          # as if it were not installed
    generators, lines = load_generators(model)[0], []
    nets = dict(generators.nets)
    assert engine.use_engine(generators, model, R, "openvino", CPU, log=lines.append) == "torch"
    assert len(lines) == 1 and "OpenVINO not used" in lines[0] and "ModuleNotFoundError" in lines[0] and str(model) in lines[0]
    assert dict(generators.nets) == nets


def test_torch_engine_keeps_the_nets(tmp_path, cache):
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    generators = load_generators(model)[0]
    nets = dict(generators.nets)
    assert engine.use_engine(generators, model, R, "torch", CPU) == "torch"
    assert dict(generators.nets) == nets and not cache.exists()


def test_renderer_outputs_agree_between_engines(tmp_path, cache):
    """The whole render (inputs, nets, composition) of a personal video's frames under both engines."""
    paths = make_video(tmp_path / "data", size=64, seconds=0.6)
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    spec = InputSpec(POSEMAP)
    with PersonalVideo(VideoPaths.of("clip", tmp_path / "data")) as video:
        jobs = [(0, video.history(t, POSEMAP.K)) for t in (5, 9, 12)]
        out = {}
        for name in ("torch", "openvino"):
            renderer, _ = open_renderer(model, video, spec, 64, name)
            assert renderer.engine == name
            out[name] = renderer(jobs)
    diff = np.abs(out["torch"].final.astype(int) - out["openvino"].final.astype(int))
    assert out["openvino"].final.shape == (3, 64, 64, 3)
    # Random weights amplify bfloat16's rounding (one pixel of this net's flow moves an edge): on
    # average within 2 of 255 and 0.02 of the matte (a trained 128² Ours of the shared woman clip: 0.005 mean; its matte within 0.011).
    assert diff.mean() < 2.0 and np.abs(out["torch"].matte - out["openvino"].matte).mean() < 0.02
    assert InferParams().engine == "openvino"
    assert paths.frames.is_file()


def test_the_fallback_line_goes_to_the_log_never_to_stdout(tmp_path, cache, monkeypatch, capsys, caplog):
    """``dancegen live --stdout`` writes raw frames to stdout: a line there would corrupt the stream."""
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    monkeypatch.setitem(sys.modules, "openvino", None)
    with caplog.at_level("WARNING", logger="dancegen.transfer.engine"):
        assert engine.use_engine(load_generators(model)[0], model, R, "openvino", CPU) == "torch"
    assert capsys.readouterr().out == ""
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "OpenVINO not used" in caplog.text


def test_where_torch_finds_no_bf16_openvino_computes_float32(tmp_path, cache, monkeypatch):
    """One precision rule for both engines: with oneDNN's ISA capped below bf16, torch finds none,
    and OpenVINO (which reads the CPU's flags) is told so rather than compiling bf16 kernels."""
    model = tmp_path / "model.pt"
    trained_looking(model, "ours")
    monkeypatch.setattr(engine, "cpu_has_bf16", lambda: False)
    generators = load_generators(model)[0]
    assert engine.use_engine(generators, model, R, "openvino", CPU) == "openvino"
    hints = {str(net.compiled.get_property("INFERENCE_PRECISION_HINT")) for net in generators.nets.values()}
    assert hints == {"<Type: 'float32'>"}
