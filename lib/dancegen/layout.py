"""Where the pipeline's per-video artifacts live (the names ``dvc.yaml`` spells too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VideoPaths:
    """The per-video files of a personal video that training, inference and evaluation read."""

    frames: Path        # data/frames/<video>.h5
    pose: Path          # data/pose/<video>.h5
    pairs: Path         # data/pairs/<video>.csv
    background: Path    # data/background/<video>/ (holds background.png)

    @classmethod
    def of(cls, video: str, data: str | Path = "data") -> VideoPaths:
        data = Path(data)
        return cls(data / "frames" / f"{video}.h5", data / "pose" / f"{video}.h5",
                   data / "pairs" / f"{video}.csv", data / "background" / video)


def model_path(video: str, variant: str, data: str | Path = "data") -> Path:
    """data/models/<video>/<variant>/model.pt: a trained variant's generators."""
    return Path(data) / "models" / video / variant / "model.pt"


def evaluation_dir(video: str, reports: str | Path = "reports") -> Path:
    """reports/eval/<video>/: the evaluate stage's scores, per-frame tables and Fig. 6 of one video."""
    return Path(reports) / "eval" / video
