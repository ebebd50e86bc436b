"""Estimate the fixed background image B of a personal video.

python stages/background.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5,
                                     writes the directory data/background/VIDEO/
"""

import argparse

from dancegen.preprocess.background import make_background
from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import background_dir, frames_file, pose_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    make_background(frames_file(video), pose_file(video), background_dir(video), params.background.dilate_px,
                    params.pose.mask_threshold)


if __name__ == "__main__":
    run_stage("background", main)
