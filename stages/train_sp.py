"""Train the joint parsing + pose network whose encoder features give L_SP (paper eq. 7).

python stages/train_sp.py VIDEO   reads data/frames/VIDEO.h5 and data/pose/VIDEO.h5, writes the
                                  directory data/sp/VIDEO/ (sp.pt, metrics.json) and the copy of
                                  its metrics reports/train_sp/VIDEO.json that DVC tracks
"""

import argparse
import json
import shutil
from pathlib import Path

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.store import atomic_path
from dancegen.train_sp import train_sp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    out_dir = Path("data/sp") / video
    # A directory cannot be renamed onto a non-empty one; DVC removes it anyway before a run.
    shutil.rmtree(out_dir, ignore_errors=True)
    with atomic_path(out_dir) as tmp:
        metrics = train_sp(Path("data/frames") / f"{video}.h5", Path("data/pose") / f"{video}.h5",
                           params.pairs.train_fraction, params.train_sp, tmp)
    with atomic_path(Path("reports/train_sp") / f"{video}.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    run_stage("train_sp", main)
