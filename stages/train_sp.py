"""Train the joint parsing + pose network whose encoder features give L_SP (paper eq. 7).

python stages/train_sp.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5, writes the
                                  directory data/sp/VIDEO/ (sp.pt, metrics.json)
"""

import argparse

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.layout import frames_file, pose_file, sp_dir
from dancegen.train_sp import train_sp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    train_sp(frames_file(video), pose_file(video), params.pairs.train_fraction, params.train_sp, sp_dir(video))


if __name__ == "__main__":
    run_stage("train_sp", main)
