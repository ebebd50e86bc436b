"""Evaluate every trained variant of every personal video on its test set (paper 4.4).

python stages/evaluate.py

Reads  data/infer/VIDEO/VARIANT.h5, data/frames/VIDEO.h5, data/pose/VIDEO.h5 for every personal
       VIDEO and every VARIANT of train.variants
Writes reports/metrics.json, reports/novelty.csv, reports/eval/pairs.csv, reports/eval/run.csv
       (layouts: dancegen.evaluate)
"""

import argparse
from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.evaluate import evaluate, finite_json
from dancegen.layout import VideoPaths
from dancegen.store import atomic_dir, atomic_path


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    params = load_params()
    inputs = {v: VideoPaths.of(v) for v in params.personal}
    result = evaluate(inputs, params.train.variants, "data/infer", params.pairs.train_fraction,
                      params.inputs, params.evaluate.novelty_k)
    with atomic_path("reports/metrics.json") as tmp:
        tmp.write_text(finite_json(result.metrics))
    with atomic_path("reports/novelty.csv") as tmp:
        result.novelty.to_csv(tmp, index=False)
    with atomic_dir("reports/eval") as tmp:
        result.pairs.to_csv(tmp / "pairs.csv", index=False)
        result.run.to_csv(tmp / "run.csv", index=False)


if __name__ == "__main__":
    run_stage("evaluate", main)
