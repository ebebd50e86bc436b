"""What ``model.stem`` (a 1×1 projection of the inputs before the generators' 7×7 stems) saves:
ms per frame of Ours' two nets at inference (torch f32 and the shipped OpenVINO engine, 128²,
batch 1 and 8) and seconds per training step of both phases, ``--stems`` interleaved, medians.

    .venv/bin/python benchmarks/stem_speed.py --what infer --stems 0 16 --rounds 7
    .venv/bin/python benchmarks/stem_speed.py --what train --stems 0 16 --rounds 7

The demo's architecture (params.yaml's ``model``) with random weights: a net's cost does not
depend on its weights or pixels. Prints the CPU and its flags first. Inference and training are
timed in separate processes: OpenVINO's idle threads in the process slowed torch's training steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hd import cpu_name  # noqa: E402  (the CPU and its AVX-512 / bf16 flags)
from step_switches import random_batch  # noqa: E402  (the training inputs' shapes)

from dancegen.core.config import LossParams, ModelParams, TrainParams  # noqa: E402
from dancegen.model.generators import GeneratorConfig, Generators, load_generators, save_generators  # noqa: E402
from dancegen.model.variants import get_variant  # noqa: E402
from dancegen.train.loop import Phase, Ranks, RunParams, Runtime, Trainer, select_device  # noqa: E402
from dancegen.train.objective import GeneratorObjective  # noqa: E402
from dancegen.transfer.engine import use_engine  # noqa: E402

K, LOW, HIGH = 3, 64, 128


def inference_cases(stem: int, folder: Path) -> dict:
    """(stem, engine) → {net name: (net, input channels)} of an enhanced Ours, torch and OpenVINO."""
    model = dataclasses.replace(ModelParams(), stem=stem)
    generators = Generators(GeneratorConfig.from_params("ours", model, K))
    generators.enhance()
    path = folder / f"stem{stem}.pt"
    save_generators(path, generators, HIGH, {})
    channels = generators.variant.net_channels(generators.config.pose_channels, generators.config.compose)
    cases = {}
    for engine in ("torch", "openvino"):
        loaded = load_generators(path)[0]
        got = use_engine(loaded, path, HIGH, engine, torch.device("cpu"))
        cases[(stem, got)] = {name: (net, channels[name][0]) for name, net in loaded.nets.items()}
    return cases


def time_nets(nets: dict, batch: int) -> float:
    """ms per frame of all the nets on one random batch."""
    inputs = {name: torch.randn(batch, c, HIGH, HIGH) for name, (_, c) in nets.items()}
    began = time.perf_counter()
    with torch.inference_mode():
        for name, (net, _) in nets.items():
            net(inputs[name])
    return (time.perf_counter() - began) * 1000 / batch


def trainer(stem: int, high: bool) -> tuple[Trainer, dict]:
    """A demo-setting Ours trainer of one phase, and a random batch of its size."""
    model = dataclasses.replace(ModelParams(), stem=stem)
    torch.manual_seed(0)
    generators = Generators(GeneratorConfig.from_params("ours", model, K))
    if high:
        generators.enhance()
    loss = LossParams(w_sp=0.0)
    res = HIGH if high else LOW
    phase = Phase(int(high), "high" if high else "low", res, 10, model.num_d_high if high else model.num_d_low, high, 0)
    device, amp = select_device("auto", 0)
    run = Trainer(generators, get_variant("ours").judged(loss), phase, RunParams(model, TrainParams(), loss),
                  GeneratorObjective(loss, None, None), Runtime(device, amp, Ranks()))
    return run, random_batch(1, res, channels_last=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=("infer", "train"), default="infer")
    parser.add_argument("--stems", nargs="+", type=int, default=[0, 16])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(cpu_name(), f"torch threads {torch.get_num_threads()}")
    (time_inference if args.what == "infer" else time_training)(args.stems, args.rounds)


def time_inference(stems: list[int], rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp      # the OpenVINO exports stay out of the user's cache
        cases = {k: v for stem in stems for k, v in inference_cases(stem, Path(tmp)).items()}
        times: dict = {}
        for _ in range(rounds):
            for key, nets in cases.items():
                for batch in (1, 8):
                    times.setdefault((*key, batch), []).append(time_nets(nets, batch))
    for (stem, engine, batch), ms in times.items():
        print(f"inference stem {stem} {engine} 128² batch {batch}: {statistics.median(ms[1:]):.1f} ms/frame")


def time_training(stems: list[int], rounds: int) -> None:
    trainers = {(stem, high): trainer(stem, high) for stem in stems for high in (False, True)}
    steps: dict = {}
    for _ in range(rounds):
        for key, (run, batch) in trainers.items():
            began = time.perf_counter()
            run.step(batch)
            steps.setdefault(key, []).append(time.perf_counter() - began)
    for (stem, high), s in steps.items():
        print(f"training stem {stem} {'128² (G)' if high else '64² (g)'}: {statistics.median(s[1:]):.3f} s/step")

if __name__ == "__main__":
    main()
