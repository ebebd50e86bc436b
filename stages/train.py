"""Train one variant of the motion-transfer model on one personal video.

python stages/train.py VIDEO VARIANT     (VARIANT: ours | ours_baseline | pix2pixhd)
torchrun --nproc_per_node N stages/train.py VIDEO VARIANT     data-parallel on N GPUs (or CPU processes)

Reads  data/frames/VIDEO.h5, data/pose/VIDEO.h5, data/background/VIDEO/, data/pairs/VIDEO.csv,
       data/sp/VIDEO/sp.pt (when loss.w_sp > 0)
Writes data/models/VIDEO/VARIANT/model.pt, data/checkpoints/VIDEO/VARIANT/ (resume state),
       reports/train/VIDEO/VARIANT/ (DVCLive metrics, plots, sample grids)
"""

import argparse
from pathlib import Path

from dancegen.cli import run_stage
from dancegen.config import VARIANTS, load_params
from dancegen.train import TrainPaths, train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="name of a personal video listed in params.yaml")
    parser.add_argument("variant", choices=VARIANTS)
    args = parser.parse_args()
    params = load_params()
    params.personal_video(args.video)
    v, m = args.video, args.variant
    paths = TrainPaths(
        frames=Path("data/frames") / f"{v}.h5",
        pose=Path("data/pose") / f"{v}.h5",
        pairs=Path("data/pairs") / f"{v}.csv",
        background=Path("data/background") / v,
        sp=Path("data/sp") / v / "sp.pt",
        model=Path("data/models") / v / m / "model.pt",
        checkpoints=Path("data/checkpoints") / v / m,
        logs=Path("reports/train") / v / m,
    )
    train_model(paths, m, params.model, params.train, params.loss, params.inputs)


if __name__ == "__main__":
    run_stage("train", main)
