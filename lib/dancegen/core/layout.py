"""Where the pipeline's artifacts live: the one spelling of the data layout besides ``dvc.yaml``
(``tests/core/test_layout.py`` holds the two equal). Every function takes the ``data`` / ``reports``
roots, relative to the repository by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA, REPORTS = Path("data"), Path("reports")


def frames_file(video: str, data: str | Path = DATA) -> Path:
    """data/frames/<video>.h5: the extract stage's frames (every video)."""
    return Path(data) / "frames" / f"{video}.h5"


def pose_file(video: str, data: str | Path = DATA) -> Path:
    """data/pose/<video>.h5: the detect stage's keypoints, masks and parsing (every video)."""
    return Path(data) / "pose" / f"{video}.h5"


def pairs_file(video: str, data: str | Path = DATA) -> Path:
    """data/pairs/<video>.csv: a personal video's train and test pairs."""
    return Path(data) / "pairs" / f"{video}.csv"


def split_file(video: str, data: str | Path = DATA) -> Path:
    """data/pairs/<video>.split.json: a personal video's train/test split (the pairs stage's record)."""
    return Path(data) / "pairs" / f"{video}.split.json"


def background_dir(video: str, data: str | Path = DATA) -> Path:
    """data/background/<video>/: a personal video's background plate (background.png) and its stats."""
    return Path(data) / "background" / video


def sp_dir(video: str, data: str | Path = DATA) -> Path:
    """data/sp/<video>/: the L_SP network (sp.pt) of a personal video and its metrics.json."""
    return Path(data) / "sp" / video


def model_dir(video: str, variant: str, data: str | Path = DATA) -> Path:
    """data/models/<video>/<variant>/: a trained variant (model.pt)."""
    return Path(data) / "models" / video / variant


def model_path(video: str, variant: str, data: str | Path = DATA) -> Path:
    """data/models/<video>/<variant>/model.pt: a trained variant's generators."""
    return model_dir(video, variant, data) / "model.pt"


def checkpoints_dir(video: str, variant: str, data: str | Path = DATA) -> Path:
    """data/checkpoints/<video>/<variant>/: a training run's resume state."""
    return Path(data) / "checkpoints" / video / variant


def train_logs_dir(video: str, variant: str, reports: str | Path = REPORTS) -> Path:
    """reports/train/<video>/<variant>/: a training run's DVCLive logs."""
    return Path(reports) / "train" / video / variant


def infer_file(video: str, variant: str, data: str | Path = DATA) -> Path:
    """data/infer/<video>/<variant>.h5: the test-set synthesis of a trained variant."""
    return Path(data) / "infer" / video / f"{variant}.h5"


def transfer_dir(video: str, variant: str, reference: str, data: str | Path = DATA) -> Path:
    """data/transfer/<video>/<variant>/<reference>/: a motion transfer's videos, stills and stats."""
    return Path(data) / "transfer" / video / variant / reference


def evaluation_dir(video: str, reports: str | Path = REPORTS) -> Path:
    """reports/eval/<video>/: the evaluate stage's scores, per-frame tables and Fig. 6 of one video."""
    return Path(reports) / "eval" / video


def judge_dir(video: str, reference: str, reports: str | Path = REPORTS) -> Path:
    """reports/judge/<video>/<reference>/: the transfer's proxies of the paper's Table 4 (stage judge)."""
    return Path(reports) / "judge" / video / reference


@dataclass(frozen=True)
class VideoPaths:
    """The per-video files of a personal video that training, inference and evaluation read."""

    frames: Path        # data/frames/<video>.h5
    pose: Path          # data/pose/<video>.h5
    pairs: Path         # data/pairs/<video>.csv
    split: Path         # data/pairs/<video>.split.json
    background: Path    # data/background/<video>/ (holds background.png)

    @classmethod
    def of(cls, video: str, data: str | Path = DATA) -> VideoPaths:
        return cls(frames_file(video, data), pose_file(video, data), pairs_file(video, data),
                   split_file(video, data), background_dir(video, data))


@dataclass(frozen=True)
class TrainPaths(VideoPaths):
    """A personal video's files and what one training run of a variant reads and writes besides."""

    sp: Path            # data/sp/<video>/sp.pt, read when loss.w_sp > 0
    model: Path         # data/models/<video>/<variant>/model.pt
    checkpoints: Path   # data/checkpoints/<video>/<variant>/
    logs: Path          # reports/train/<video>/<variant>/

    @classmethod
    def of_run(cls, video: str, variant: str, data: str | Path = DATA, reports: str | Path = REPORTS) -> TrainPaths:
        return cls(**vars(VideoPaths.of(video, data)), sp=sp_dir(video, data) / "sp.pt",
                   model=model_path(video, variant, data), checkpoints=checkpoints_dir(video, variant, data),
                   logs=train_logs_dir(video, variant, reports))
