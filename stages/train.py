"""Train one variant of the motion-transfer model on one personal video.

python stages/train.py VIDEO VARIANT     (VARIANT: ours | ours_baseline | pix2pixhd | posewarp)
torchrun --nproc_per_node N stages/train.py VIDEO VARIANT     data-parallel on N GPUs (or CPU processes)

Reads  data/frames/VIDEO.h5, data/pose/VIDEO.h5, data/background/VIDEO/, data/pairs/VIDEO.csv,
       data/sp/VIDEO/sp.pt (when loss.w_sp > 0)
Writes data/models/VIDEO/VARIANT/model.pt (with its HD refiner: refine), data/checkpoints/VIDEO/VARIANT/ (resume state),
       reports/train/VIDEO/VARIANT/ (DVCLive metrics, plots, sample grids)
"""

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import VARIANTS, load_params
from dancegen.core.layout import TrainPaths
from dancegen.train.loop import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    parser.add_argument("variant", choices=VARIANTS)
    args = parser.parse_args()
    params = load_params()
    params.personal_video(args.video)
    train_model(TrainPaths.of_run(args.video, args.variant), args.variant, params.model, params.train,
                params.loss, params.inputs, params.refine)


if __name__ == "__main__":
    run_stage("train", main)
