"""Sample the (I_in, I_ref) training and testing pairs of a personal video.

python stages/pairs.py VIDEO   reads data/pose/VIDEO.h5 (valid, keypoints), writes data/pairs/VIDEO.csv
"""

import argparse
from pathlib import Path

from dancegen import pairs
from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.store import PoseStore, atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    p = params.pairs
    pose_path = Path("data/pose") / f"{video}.h5"
    with PoseStore(pose_path) as pose:
        valid, keypoints = pose.valid, pose.keypoints
    table = pairs.make_pairs(valid, p.train_fraction, p.n_train, p.n_test, p.seed, source=pose_path,
                             keypoints=keypoints, near_fraction=p.near_fraction, near_k=p.near_k,
                             min_conf=params.posemap.min_conf)
    with atomic_path(Path("data/pairs") / f"{video}.csv") as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    run_stage("pairs", main)
