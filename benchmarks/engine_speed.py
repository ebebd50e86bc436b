"""ms per frame of a trained model's generator nets under torch and under CPU inference engines
(ONNX Runtime, OpenVINO), interleaved, and how far each engine's outputs are from torch fp32's.

    PYTHONPATH=<a folder with onnxruntime and openvino> .venv/bin/python benchmarks/engine_speed.py \\
        --model data/models/<video>/ours/model.pt --sizes 128 256 --batches 1 8

Each net of the model file (Ours: the synthesis and the fusion net) runs on random inputs of its
channels at each size and batch (a net's cost does not depend on the pixels). Engines:
  ``torch``      fp32, channels-last, ``torch.inference_mode`` (the path of a CPU without bf16)
  ``torch-bf16`` as shipped where the CPU computes bf16 (:func:`dancegen.core.images.inference_autocast`)
  ``onnxruntime``  the net exported to ONNX (``torch.onnx.export``, TorchScript exporter, opset 17,
                   dynamic batch and size), CPU execution provider, all graph optimisations
  ``openvino``   the same ONNX file compiled for the CPU, ``INFERENCE_PRECISION_HINT`` f32
  ``openvino-auto``  OpenVINO's own default precision (bf16 on a CPU with AMX / AVX-512 BF16): what
                 :mod:`dancegen.transfer.engine` runs (both with its threads and no CPU pinning)
The cases are interleaved over ``--rounds``; medians are printed, with the CPU and its flags.
Engines that are not installed are left out with a line saying so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hd import cpu_name  # noqa: E402  (the CPU and its AVX-512 / bf16 flags)

from dancegen.core.images import cpu_has_bf16  # noqa: E402
from dancegen.transfer.infer import load_model  # noqa: E402


def export(net: torch.nn.Module, channels: int, folder: Path, name: str) -> Path:
    """``net`` as an ONNX file with dynamic batch and size."""
    path = folder / f"{name}.onnx"
    example = torch.zeros(1, channels, 128, 128)
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(net, (example,), str(path), input_names=["x"], output_names=["y"], opset_version=17,
                      dynamic_axes={"x": axes, "y": axes}, dynamo=False)
    return path


def engines(nets: dict, channels: dict, folder: Path) -> dict:
    """name → {net name → callable(np.ndarray float32 NCHW) → np.ndarray}."""
    def torch_run(net, dtype):
        def run(x):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
                return net(torch.from_numpy(x).contiguous(memory_format=torch.channels_last)).float().numpy()
        return run

    found = {"torch": {n: torch_run(g, None) for n, g in nets.items()}}
    if cpu_has_bf16():
        found["torch-bf16"] = {n: torch_run(g, torch.bfloat16) for n, g in nets.items()}
    files = {n: export(g, channels[n], folder, n) for n, g in nets.items()}
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions = {n: ort.InferenceSession(str(f), options, providers=["CPUExecutionProvider"]) for n, f in files.items()}
        found["onnxruntime"] = {n: (lambda s: lambda x: s.run(None, {"x": x})[0])(s) for n, s in sessions.items()}
        print(f"onnxruntime {ort.__version__}")
    except (ImportError, RuntimeError) as error:
        print(f"onnxruntime left out: {str(error).strip().splitlines()[-1]}")
    try:
        import openvino as ov

        core = ov.Core()
        shipped = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "ENABLE_CPU_PINNING": False}   # engine.py's
        for label, hint in (("openvino", {"INFERENCE_PRECISION_HINT": "f32"}), ("openvino-auto", {})):
            compiled = {n: core.compile_model(core.read_model(str(f)), "CPU", {**shipped, **hint}) for n, f in files.items()}
            found[label] = {n: (lambda c: lambda x: c(x)[0])(c) for n, c in compiled.items()}
        print(f"openvino {ov.__version__}")
    except (ImportError, RuntimeError) as error:
        print(f"openvino left out: {str(error).strip().splitlines()[-1]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    generators, resolution, _ = load_model(args.model, torch.device("cpu"))
    nets = {n: g.eval() for n, g in generators.nets.items()}
    channels = {n: next(m for m in g.modules() if isinstance(m, torch.nn.Conv2d)).in_channels for n, g in nets.items()}
    rng = np.random.default_rng(0)
    inputs = {(n, s, b): rng.uniform(-1, 1, (b, channels[n], s, s)).astype(np.float32)
              for n in nets for s in args.sizes for b in args.batches}
    with tempfile.TemporaryDirectory() as folder:
        runners = engines(nets, channels, Path(folder))
        reference = {key: runners["torch"][key[0]](x) for key, x in inputs.items()}
        seconds, error = {}, {}
        for engine, run in runners.items():
            for key, x in inputs.items():
                error[(engine, *key)] = float(np.abs(run[key[0]](x) - reference[key]).max())   # also the warm-up
        for _ in range(args.rounds):
            for engine, run in runners.items():
                for (net, s, b), x in inputs.items():
                    began = time.perf_counter()
                    run[net](x)
                    seconds.setdefault((engine, s, b), {}).setdefault(net, []).append(time.perf_counter() - began)
    print(f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; model R = {resolution}; "
          f"medians of {args.rounds} interleaved rounds; both nets summed")
    print("| engine | size | batch | ms per frame | max abs difference from torch fp32 |")
    print("|---|---|---|---|---|")
    for (engine, s, b), per_net in seconds.items():
        ms = sum(statistics.median(v) for v in per_net.values()) * 1000 / b
        diff = max(error[(engine, n, s, b)] for n in nets)
        print(f"| {engine} | {s}² | {b} | {ms:.1f} | {diff:.2e} |")


if __name__ == "__main__":
    main()
