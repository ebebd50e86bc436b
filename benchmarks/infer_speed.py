"""Frames per second of each variant's generators at inference (CPU), batch 1 and batched.

.venv/bin/python benchmarks/infer_speed.py --resolutions 128 256 --batches 1 8

Untrained generators of params.yaml's architecture (``model.*``; the cost does not depend on the
weights), in eval mode, channels-last, under torch.inference_mode, as :func:`dancegen.transfer.infer.generate`
runs them, on a random batch of the inputs' shapes; both the two-stage composition and the
matte. Variants and sizes are interleaved over ``--rounds``; the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dancegen.core.config import load_params
from dancegen.model.generators import GeneratorConfig, Generators
from step_switches import random_batch   # the inputs' shapes, built once for the benchmarks

K = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["ours", "ours_baseline", "pix2pixhd"])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_params().model
    nets, seconds = {}, {}
    for variant in args.variants:
        torch.manual_seed(0)
        g = Generators(GeneratorConfig.from_params(variant, model, K))
        g.enhance()
        nets[variant] = g.eval().to(memory_format=torch.channels_last)
    cases = [(v, r, b) for v in args.variants for r in args.resolutions for b in args.batches]
    batches = {(r, b): random_batch(b, r, channels_last=True) for r in args.resolutions for b in args.batches}
    with torch.inference_mode():
        for case in cases:                                   # warm-up
            nets[case[0]](batches[case[1:]])
        for _ in range(args.rounds):
            for case in cases:
                began = time.perf_counter()
                nets[case[0]](batches[case[1:]])
                seconds.setdefault(case, []).append(time.perf_counter() - began)
    print(f"threads {torch.get_num_threads()}, medians of {args.rounds} rounds")
    print("| variant | resolution | batch | ms/batch | frames/s |")
    print("|---|---|---|---|---|")
    for (v, r, b) in cases:
        med = statistics.median(seconds[(v, r, b)])
        print(f"| {v} | {r}² | {b} | {1000 * med:.0f} | {b / med:.1f} |")


if __name__ == "__main__":
    main()
