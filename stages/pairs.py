"""Sample the (I_in, I_ref) training and testing pairs of a personal video.

python stages/pairs.py VIDEO   reads data/pose/VIDEO.h5 (valid, keypoints), writes data/pairs/VIDEO.csv
                               and its split, data/pairs/VIDEO.split.json
"""

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import pairs_file, pose_file, split_file
from dancegen.preprocess.pairs import write_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    write_pairs(pose_file(video), pairs_file(video), split_file(video), params.pairs,
                params.posemap.min_conf)


if __name__ == "__main__":
    run_stage("pairs", main)
