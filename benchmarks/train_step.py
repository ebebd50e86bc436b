"""Seconds per training step of one variant in one phase: generators + discriminators, one Adam update each.

.venv/bin/python benchmarks/train_step.py --config demo --phase high --variant ours --steps 5

``--config demo`` is params.yaml's demo setting, ``paper`` Sec. 4.2's (see params.yaml comments).
The batch is random tensors of the right shapes and ranges: a step's cost does not depend on the
pixels. ``--vgg`` adds the perceptual term with randomly initialised VGG19 weights (same cost as
ImageNet's). L_SP is left out (its encoder is small next to the generators).
"""

import argparse
import time

import torch

from dancegen.core.config import LossParams, ModelParams, TrainParams
from dancegen.train.losses import VGGLoss
from dancegen.model.generators import GeneratorConfig, Generators
from dancegen.model.variants import NAMES, get_variant
from dancegen.model.nets.vgg import Vgg19Features
from dancegen.train.objective import GeneratorObjective
from dancegen.train.loop import Phase, Ranks, RunParams, Runtime, Trainer, select_device
from step_switches import random_batch   # the inputs' shapes, built once for the benchmarks

CONFIGS = {
    "demo": (ModelParams(ngf=16, n_downsample=3, n_blocks=4, n_local_blocks=2, ndf=16), 64, 128, 1),
    "paper": (ModelParams(ngf=32, n_downsample=4, n_blocks=9, n_local_blocks=3, ndf=32), 256, 512, 4),
}
K = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS, default="demo")
    parser.add_argument("--phase", choices=("low", "high"), default="high")
    parser.add_argument("--variant", choices=NAMES, default="ours")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--vgg", action="store_true")
    args = parser.parse_args()
    model, low, high, batch_size = CONFIGS[args.config]
    high_phase = args.phase == "high"
    res = high if high_phase else low
    torch.manual_seed(0)
    device, amp = select_device("auto", 0)
    loss = LossParams(w_sp=0.0)
    generators = Generators(GeneratorConfig.from_params(args.variant, model, K))
    if high_phase:
        generators.enhance()
    objective = GeneratorObjective(loss, VGGLoss(Vgg19Features()) if args.vgg else None, None)
    phase = Phase(int(high_phase), args.phase, res, args.steps,
                  model.num_d_high if high_phase else model.num_d_low, high_phase, 0)
    branches = get_variant(args.variant).judged(loss)
    trainer = Trainer(generators, branches, phase, RunParams(model, TrainParams(batch_size=batch_size), loss),
                      objective, Runtime(device, amp, Ranks()))
    batch = random_batch(batch_size, res, channels_last=False)
    wall, cpu = [], []
    for _ in range(args.steps):
        began, began_cpu = time.perf_counter(), time.process_time()
        trainer.step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    # CPU seconds (all threads) barely move when other jobs share the cores; wall seconds do.
    print(f"{args.config} {args.phase} {args.variant} {res}² batch {batch_size} vgg={args.vgg} "
          f"{device.type} threads={torch.get_num_threads()}: wall s/step "
          + " ".join(f"{t:.2f}" for t in wall) + " | cpu s/step " + " ".join(f"{t:.2f}" for t in cpu))


if __name__ == "__main__":
    main()
