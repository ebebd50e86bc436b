"""Estimate the fixed background image B of a personal video.

python stages/background.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5,
                                     writes the directory data/background/VIDEO/
"""

import argparse
from pathlib import Path

from dancegen.background import make_background
from dancegen.cli import run_stage
from dancegen.config import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    make_background(Path("data/frames") / f"{video}.h5", Path("data/pose") / f"{video}.h5",
                    Path("data/background") / video, params.background.dilate_px, params.pose.mask_threshold)


if __name__ == "__main__":
    run_stage("background", main)
