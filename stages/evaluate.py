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

from dancegen.evaluate import write_evaluation
from dancegen.layout import DATA, VideoPaths, evaluation_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    params.personal_video(video)  # an unknown or non-personal name fails here, naming params.yaml
    write_evaluation(evaluation_dir(video), video, VideoPaths.of(video), params.train.variants, DATA,
                     params.pairs.train_fraction, params.inputs, params.evaluate.novelty_k)


if __name__ == "__main__":
    run_stage("evaluate", main)
