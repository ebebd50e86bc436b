"""Estimate the fixed background image B of a personal video.

python stages/background.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5,
                                     writes the directory data/background/VIDEO/
"""

import argparse
from pathlib import Path

import numpy as np

from dancegen import background
from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.store import FrameStore, PoseStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    with FrameStore(Path("data/frames") / f"{video}.h5") as frames, \
            PoseStore(Path("data/pose") / f"{video}.h5") as pose:
        image, coverage = background.estimate_background(
            frames, pose, params.background.dilate_px, params.pose.mask_threshold)
        n_frames, n_used = len(pose), int(np.count_nonzero(pose.valid))
    background.save_background(Path("data/background") / video, image, coverage, n_frames, n_used)


if __name__ == "__main__":
    run_stage("background", main)
