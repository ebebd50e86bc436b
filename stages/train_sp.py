"""Train the joint parsing + pose network whose encoder features give L_SP (paper eq. 7).

python stages/train_sp.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5, writes the
                                  directory data/sp/VIDEO/ (sp.pt, metrics.json)
"""

import argparse
from pathlib import Path

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.train_sp import train_sp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    train_sp(Path("data/frames") / f"{video}.h5", Path("data/pose") / f"{video}.h5",
             params.pairs.train_fraction, params.train_sp, Path("data/sp") / video)


if __name__ == "__main__":
    run_stage("train_sp", main)
