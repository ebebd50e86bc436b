"""Stage ``extract``: one video → square frames at a fixed rate, cropped around the person; its sound
and the scene around the crop.

python stages/extract.py VIDEO   reads the file params.yaml lists for VIDEO, writes data/frames/VIDEO.h5
                                 (layout in dancegen.store)
"""

import argparse
import logging
from pathlib import Path

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.extract import extract_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a video listed in params.yaml")
    video = parser.parse_args().video
    params = load_params()
    out = Path("data/frames") / f"{video}.h5"
    done = extract_video(params.video_path(video), out, params.extract)
    logging.info("%s", done.line(out, params.extract))


if __name__ == "__main__":
    run_stage("extract", main)
