"""Transfer the motion of a reference video onto a personal video's person with one trained variant.

python stages/transfer.py VIDEO VARIANT REFERENCE

Reads  data/models/VIDEO/VARIANT/model.pt, data/frames/VIDEO.h5, data/pose/VIDEO.h5,
       data/pairs/VIDEO.split.json, data/background/VIDEO/, data/frames/REFERENCE.h5, data/pose/REFERENCE.h5, infer.background_image
Writes data/transfer/VIDEO/VARIANT/REFERENCE/ (result.mp4, side_by_side.mp4, composite.mp4,
       full.mp4, skeleton.mp4, stills.png, stats.json; layout: dancegen.transfer.transfer)
"""

import argparse
import logging
from pathlib import Path

from dancegen.core.cli import run_stage
from dancegen.core.config import VARIANTS, load_params
from dancegen.core.layout import VideoPaths, frames_file, model_path, pose_file, transfer_dir
from dancegen.model.personal import PersonalVideo
from dancegen.transfer.transfer import TransferPaths, transfer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("reference", help="name of a video listed in params.yaml whose motion drives VIDEO")
    args = parser.parse_args()
    params = load_params()
    params.personal_video(args.video)
    params.video_path(args.reference)
    paths = TransferPaths(model=model_path(args.video, args.variant), ref_frames=frames_file(args.reference),
                          ref_pose=pose_file(args.reference), scene=Path(params.infer.background_image))
    with PersonalVideo(VideoPaths.of(args.video)) as video:
        stats = transfer(transfer_dir(args.video, args.variant, args.reference), video, paths, params.inputs,
                         params.infer)
    logging.info("%d frames at %g fps (%d reused the last good pose, %d interpolated), retarget scale %s, "
                 "jitter %s -> %s px/frame², mean nearest-pose distance %s", stats["frames"], stats["fps"],
                 stats["reused_pose_frames"], stats["interpolated_pose_frames"], stats["retarget_scale"],
                 stats["jitter_raw"], stats["jitter_smoothed"], stats["mean_nearest_pose_distance"])


if __name__ == "__main__":
    run_stage("transfer", main)
