"""Stage ``extract``: one video → square frames at a fixed rate, cropped around the person; its sound
and the scene around the crop.

python stages/extract.py VIDEO   reads the file params.yaml lists for VIDEO, writes data/frames/VIDEO.h5
                                 (layout in dancegen.core.store)
"""

import argparse
import logging

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.core.layout import frames_file
from dancegen.preprocess.extract import extract_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    out = frames_file(video)
    done = extract_video(params.video_path(video), out, params.extract)
    logging.info("%s", done.line(out, params.extract))


if __name__ == "__main__":
    run_stage("extract", main)
