"""The engine a trained model's generator nets run in at inference (``infer.engine``).

``openvino`` (the default): each net of the model file is converted to OpenVINO once
(``openvino.convert_model``: dynamic batch, the model's R), saved in the user's cache under the
model file's SHA-256 and OpenVINO's version (``$XDG_CACHE_HOME/dancegen/openvino/<version>/<digest>/
<net>.xml``, default ``~/.cache``: another model file or another OpenVINO is another folder, so an
export is never stale, and nothing is written into DVC's outputs) and compiled for the CPU at
OpenVINO's default precision — bfloat16 where the CPU computes it natively (AMX, AVX-512 BF16), else
float32: the rule torch's path follows too (:func:`dancegen.core.images.inference_autocast`), and
where torch finds no bf16 (oneDNN's ISA capped, e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``) OpenVINO is asked
for float32 as well. ``torch``: the nets as trained (and always on a GPU). Where OpenVINO is not
installed or a net does not convert, the nets run in torch and one warning on the log (stderr,
never stdout, where ``dancegen live --stdout`` writes its frames) says why. Speeds and the
engines' differences from torch: benchmarks/README.md (``engine_speed.py``).

Only the nets change engine: the warp and the composites stay torch float32 either way.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dancegen.core.cache import cache_root, file_digest
from dancegen.core.config import ENGINES
from dancegen.core.images import cpu_has_bf16

_log = logging.getLogger(__name__)


class CompiledNet(nn.Module):
    """An OpenVINO-compiled net in a generator net's place: ``(B, C, R, R)`` float tensor → its
    output ``(B, C', R, R)`` float32 tensor on the CPU."""

    def __init__(self, compiled):
        super().__init__()
        self.compiled = compiled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        return torch.from_numpy(np.asarray(self.compiled(array)[0], np.float32))


def use_engine(generators, model_file: str | Path, resolution: int, engine: str, device: torch.device,
               log=_log.warning) -> str:
    """Run ``generators``' nets (:class:`dancegen.model.generators.Generators` of ``model_file``,
    trained at ``resolution``) in ``engine`` from now on → the engine they run in: ``torch`` where
    asked, on a GPU, or (with a log line naming why) where OpenVINO cannot take them."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    if engine == "torch" or device.type != "cpu":
        return "torch"
    try:
        compiled = _openvino_nets(generators, Path(model_file), resolution)
    except Exception as error:    # any failure of the optional engine: torch runs the nets, and says so
        why = (str(error).strip().splitlines() or [""])[-1][:200]
        log(f"[engine] {model_file}: OpenVINO not used ({type(error).__name__}: {why}); the generators run in torch")
        return "torch"
    for name, net in compiled.items():
        generators.nets[name] = net
    return "openvino"


def _openvino_nets(generators, model_file: Path, resolution: int) -> dict[str, CompiledNet]:
    """Every net compiled for the CPU, exported first where the cache has no export of this file."""
    import openvino as ov

    folder = cache_root() / "openvino" / ov.__version__.split("-")[0] / file_digest(model_file)
    if not all((folder / f"{name}.xml").is_file() for name in generators.nets):
        _export(generators, resolution, folder)
    core = ov.Core()
    # As many threads as torch was given, and none pinned to a core: pinned, OpenVINO's threads slow
    # every later torch step of the process by ~30 % (the warp, the composites, training in tests).
    config = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "ENABLE_CPU_PINNING": False}
    if not cpu_has_bf16():          # OpenVINO would read bf16 off the CPU's flags, past an ISA cap
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return {name: CompiledNet(core.compile_model(core.read_model(str(folder / f"{name}.xml")), "CPU", config))
            for name in generators.nets}


def _export(generators, resolution: int, folder: Path) -> None:
    """Each net converted (eval mode, dynamic batch) into ``folder``, which appears only complete."""
    import openvino as ov

    channels = generators.variant.net_channels(generators.config.pose_channels, generators.config.compose)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for name, net in generators.nets.items():
            c = channels[name][0]
            # Tracing warns of shape checks it freezes: the export is for the model's own R only.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                model = ov.convert_model(net.eval(), example_input=torch.zeros(1, c, resolution, resolution),
                                         input=[ov.PartialShape([-1, c, resolution, resolution])])
            ov.save_model(model, str(tmp / f"{name}.xml"), compress_to_fp16=False)
        try:
            tmp.rename(folder)
        except OSError:                 # another process exported the same file meanwhile: keep its
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
