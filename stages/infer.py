"""Synthesize the test set of one personal video with one trained variant.

python stages/infer.py VIDEO VARIANT

Reads  data/models/VIDEO/VARIANT/model.pt, data/frames/VIDEO.h5, data/pose/VIDEO.h5,
       data/pairs/VIDEO.csv, data/pairs/VIDEO.split.json, data/background/VIDEO/
Writes data/infer/VIDEO/VARIANT.h5 (layout: dancegen.transfer.infer)
"""

import argparse
import logging

from dancegen.core.cli import run_stage
from dancegen.core.config import VARIANTS, load_params
from dancegen.core.layout import VideoPaths, infer_file, model_path
from dancegen.model.personal import PersonalVideo
from dancegen.transfer.infer import infer_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    parser.add_argument("variant", choices=VARIANTS)
    args = parser.parse_args()
    params = load_params()
    params.personal_video(args.video)
    with PersonalVideo(VideoPaths.of(args.video)) as video:
        counts = infer_video(infer_file(args.video, args.variant), video, model_path(args.video, args.variant),
                             params.inputs, params.infer)
    logging.info("%d test pairs, %d run frames, rendered at %d²", counts["pairs"], counts["run_frames"],
                 counts["render_size"])


if __name__ == "__main__":
    run_stage("infer", main)
