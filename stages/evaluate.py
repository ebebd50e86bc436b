"""Evaluate every trained variant of one personal video on its test set (paper 4.4).

python stages/evaluate.py VIDEO

Reads  data/infer/VIDEO/VARIANT.h5 for every VARIANT of train.variants, data/frames/VIDEO.h5,
       data/pose/VIDEO.h5, data/background/VIDEO/
Writes reports/eval/VIDEO/: metrics.json, pairs.csv, run.csv, novelty.csv (layouts:
       dancegen.evaluate) and test_results.png (Fig. 6, dancegen.figures)
"""

import argparse

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.evaluate import evaluate_video, finite_json
from dancegen.figures import figure_test_results
from dancegen.layout import VideoPaths, evaluation_dir
from dancegen.store import atomic_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    params.personal_video(video)  # an unknown or non-personal name fails here, naming params.yaml
    paths, out = VideoPaths.of(video), evaluation_dir(video)
    result = evaluate_video(video, paths, params.train.variants, "data/infer", params.pairs.train_fraction,
                            params.inputs, params.evaluate.novelty_k)
    with atomic_dir(out) as tmp:
        (tmp / "metrics.json").write_text(finite_json(result.metrics))
        for name, table in (("pairs", result.pairs), ("run", result.run), ("novelty", result.novelty)):
            table.to_csv(tmp / f"{name}.csv", index=False)
        figure_test_results(video, paths, "data/infer", params.train.variants, params.inputs,
                            tmp / "test_results.png")


if __name__ == "__main__":
    run_stage("evaluate", main)
