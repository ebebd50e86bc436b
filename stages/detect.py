"""Detect the person in every extracted frame: whole-body keypoints, person mask, 10-part parsing.

python stages/detect.py VIDEO   reads data/frames/VIDEO.h5, writes data/pose/VIDEO.h5
"""

import argparse
import logging

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import frames_file, pose_file
from dancegen.preprocess.detect import detect_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    params.video_path(video)  # an unknown name fails here, naming params.yaml
    summary = detect_video(frames_file(video), pose_file(video),
                           params.pose, video, params.posemap.min_conf)
    log = logging.getLogger("detect")
    log.info("%s: %s", video, summary.line())
    if summary.warning:
        log.warning("%s: %s", video, summary.warning)


if __name__ == "__main__":
    run_stage("detect", main)
