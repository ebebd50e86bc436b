"""Helpers the test modules share: a short demo clip in the pipeline's on-disk formats, its pair
dataset and batches (imported as ``from conftest import …``; pytest puts this folder on the path)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dancegen import demo
from dancegen.preprocess.background import save_background
from dancegen.core.config import InputSpec, PairsParams, PosemapParams
from dancegen.model.dataset import PairDataset
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import make_pairs, write_split
from dancegen.core.store import FrameWriter, PoseWriter
from dancegen.core.layout import TrainPaths

FPS = 30
REPO_ROOT = Path(__file__).resolve().parents[1]          # the repository
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"        # the real clips, where present


def make_video(root: Path, size: int = 64, seconds: float = 1.0, n_train: int = 16, n_test: int = 4,
               invalid: tuple[int, ...] = ()) -> TrainPaths:
    """Demo frames, true keypoints / masks / parts as detections, the true background and pairs,
    laid out like the pipeline's data/ (``invalid`` frames are marked as failed detections)."""
    frames = list(demo.render_video("personal", seconds, size, FPS, seed=0))
    name = "clip"
    paths = TrainPaths(frames=root / "frames" / f"{name}.h5", pose=root / "pose" / f"{name}.h5",
                       pairs=root / "pairs" / f"{name}.csv", split=root / "pairs" / f"{name}.split.json",
                       background=root / "background" / name,
                       sp=root / "sp" / name / "sp.pt", model=root / "models" / name / "model.pt",
                       checkpoints=root / "checkpoints" / name, logs=root / "reports" / name)
    valid = np.array([t not in invalid for t in range(len(frames))])
    with FrameWriter(paths.frames, size, FPS) as fw, PoseWriter(paths.pose, size, FPS, "demo", "truth") as pw:
        for t, f in enumerate(frames):
            fw.append(f.frame)
            pw.append(f.keypoints, bool(valid[t]), f.mask, f.parts)
    background = demo.true_background("personal", size, seed=0)
    save_background(paths.background, background, np.ones((size, size)), len(frames), len(frames))
    paths.pairs.parent.mkdir(parents=True)
    random_pairs = PairsParams(0.75, n_train, n_test, seed=0, near_fraction=0.0)
    make_pairs(valid, random_pairs, 0.3, paths.pose).to_csv(paths.pairs, index=False)
    write_split(paths.split, len(frames), 0.75)
    return paths


def dataset(paths: TrainPaths, resolution: int, split: str = "train", K: int = 3) -> PairDataset:
    return PairDataset(PersonalVideo(paths), split, resolution,
                       InputSpec(PosemapParams(K=K)))


def batch_of(video, resolution: int, n: int = 2) -> dict[str, torch.Tensor]:
    ds = dataset(video, resolution)
    items = [ds[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the tests in one process per core (pytest-xdist): torch and OpenMP get one
    # thread each, here and in the stages and commands the tests start, so they do not oversubscribe.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """The end-to-end pipeline test, the longest by far, is handed out first, so the other tests
    fill the other process meanwhile."""
    items.sort(key=lambda item: item.path.name != "test_pipeline.py")


@pytest.fixture(autouse=True, scope="session")
def user_cache(tmp_path_factory):
    """What the package caches (dancegen.core.cache: engine exports, part visibility) goes to a
    folder of the test session, never into the user's cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before
