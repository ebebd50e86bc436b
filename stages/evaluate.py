"""Evaluate every trained variant of one personal video on its test set (paper 4.4).

python stages/evaluate.py VIDEO

Reads  data/infer/VIDEO/VARIANT.h5 for every VARIANT of train.variants, data/frames/VIDEO.h5,
       data/pose/VIDEO.h5, data/pairs/VIDEO.split.json, data/background/VIDEO/
Writes reports/eval/VIDEO/: metrics.json, pairs.csv, run.csv, novelty.csv (layouts:
       dancegen.evaluate.evaluate) and test_results.png (Fig. 6, dancegen.evaluate.figures)
"""

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import DATA, VideoPaths, evaluation_dir
from dancegen.evaluate.evaluate import write_evaluation
from dancegen.model.personal import PersonalVideo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    params.personal_video(video)  # an unknown or non-personal name fails here, naming params.yaml
    with PersonalVideo(VideoPaths.of(video)) as personal:
        write_evaluation(evaluation_dir(video), personal, params.train.variants, DATA, params.inputs,
                         params.evaluate.novelty_k)


if __name__ == "__main__":
    run_stage("evaluate", main)
