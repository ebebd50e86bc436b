"""Judge every variant's transfer of one reference onto one personal video (the paper's Table 4, automatic).

python stages/judge.py VIDEO REFERENCE

Reads  data/transfer/VIDEO/VARIANT/REFERENCE/ (result.mp4, driving.h5) for every VARIANT of
       train.variants, data/frames/VIDEO.h5, data/pose/VIDEO.h5, data/pairs/VIDEO.split.json,
       data/background/VIDEO/, data/frames/REFERENCE.h5, data/pose/REFERENCE.h5
Writes reports/judge/VIDEO/REFERENCE/metrics.json (layout: dancegen.evaluate.judge)
"""

import argparse
import json
import logging

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import VideoPaths, frames_file, judge_dir, pose_file, transfer_dir
from dancegen.core.store import atomic_path
from dancegen.evaluate.judge import TransferRun, judge_transfer
from dancegen.model.personal import PersonalVideo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    parser.add_argument("reference", help="name of a reference video listed in params.yaml")
    args = parser.parse_args()
    params = load_params()
    params.personal_video(args.video)
    params.video_path(args.reference)
    run = TransferRun({v: transfer_dir(args.video, v, args.reference) for v in params.train.variants},
                      frames_file(args.reference), pose_file(args.reference))
    with PersonalVideo(VideoPaths.of(args.video)) as video:
        judged = judge_transfer(run, video, params.inputs, params.pose, params.evaluate.judge_stride)
    out = judge_dir(args.video, args.reference) / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(judged, indent=2) + "\n")
    for name, rank in judged["ranks"].items():
        fid = judged["outputs"][name]["fidelity"]
        logging.info("%s: PCK@0.1 %s, warping error %s, overall rank %.2f", name, fid["pck@0.1"],
                     judged["outputs"][name]["temporal"]["warp_error"], rank["Q5"])


if __name__ == "__main__":
    run_stage("judge", main)
