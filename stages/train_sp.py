"""Train the joint parsing + pose network whose encoder features give L_SP (paper eq. 7).

python stages/train_sp.py VIDEO   reads data/frames/VIDEO.h5, data/pose/VIDEO.h5 and its split,
                                  data/pairs/VIDEO.split.json; writes the directory data/sp/VIDEO/ (sp.pt, metrics.json)
"""

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import VideoPaths, sp_dir
from dancegen.model.personal import PersonalVideo
from dancegen.train.sp import train_sp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    with PersonalVideo(VideoPaths.of(video)) as personal:
        train_sp(personal, params.train_sp, sp_dir(video))


if __name__ == "__main__":
    run_stage("train_sp", main)
