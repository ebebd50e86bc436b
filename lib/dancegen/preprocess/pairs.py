"""Train/test split of a personal video and (I_in, I_ref) pair sampling (paper section 4.2).

The first ``train_fraction`` of the frames train the model and the rest test it. The split is in
time, not by random frames, so that no test frame has a near-duplicate neighbour in training and
so that evaluation can measure temporal coherence on consecutive test frames.

Split file ``data/pairs/<video>.split.json``: ``{"frames": T, "train": [0, n], "test": [n, T],
"train_fraction": f}`` — the split the pairs were drawn from, recorded once (:func:`read_split`), so
that every later stage reads it instead of recomputing it from ``pairs.train_fraction``.

Pairs file ``data/pairs/<video>.csv``: columns ``split`` (train | test), ``in_frame``, ``ref_frame``
(frame indices into the video's frames/pose files); both frames of a pair lie in the same split,
are valid detections and differ.

Training pairs are random, as in the paper, or partly *near* (``pairs.near_fraction``): for that
share, I_ref is random and I_in is one of the ``near_k`` training frames whose pose is nearest to
it, the way motion transfer picks I_in for a reference frame (:func:`dancegen.transfer.transfer.transfer`).
Random pairs alone teach the nets large pose changes only; a model used on nearest-pose inputs
must also learn to leave a tangram that is already right alone. Test pairs stay random.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dancegen.core.config import PairsParams
from dancegen.preprocess.crowd import refuse_crowded
from dancegen.core.errors import DanceGenError
from dancegen.body.distances import pose_distances
from dancegen.core.store import PoseStore, atomic_path

COLUMNS = ("split", "in_frame", "ref_frame")
SPLITS = ("train", "test")
MIN_VALID = 2   # a pair needs two different frames


def split_frames(n_frames: int, train_fraction: float) -> tuple[range, range]:
    """Contiguous, non-overlapping ``(train, test)`` frame ranges: the first ``train_fraction`` trains.

    Both ranges hold at least one frame (``n_frames >= 2``); every train index is below every test index.
    """
    if n_frames < 2:
        raise ValueError(f"cannot split {n_frames} frame(s) into train and test")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    n_train = min(max(round(n_frames * train_fraction), 1), n_frames - 1)
    return range(0, n_train), range(n_train, n_frames)


def valid_in(valid: np.ndarray, frames: range) -> np.ndarray:
    """Indices of the frames of ``frames`` whose detection is valid; ``valid: (T,) bool``."""
    idx = np.arange(frames.start, frames.stop)
    return idx[np.asarray(valid[frames.start:frames.stop], dtype=bool)]


def sample_pairs(valid: np.ndarray, frames: range, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` random ordered pairs of distinct valid frames of ``frames``, drawn with replacement.

    ``valid: (T,) bool``. Returns columns ``in_frame``, ``ref_frame`` (int64). Every ordered pair of
    distinct valid frames is equally likely. Needs at least two valid frames in ``frames``.
    """
    idx = valid_in(valid, frames)
    if len(idx) < MIN_VALID:
        raise ValueError(f"frames {frames.start}..{frames.stop - 1} hold {len(idx)} valid frame(s); need {MIN_VALID}")
    pos_in = rng.integers(0, len(idx), n)
    # An offset in 1..k-1 around the circle of valid frames picks any other frame uniformly.
    pos_ref = (pos_in + rng.integers(1, len(idx), n)) % len(idx)
    return pd.DataFrame({"in_frame": idx[pos_in], "ref_frame": idx[pos_ref]})


def near_pairs(keypoints: np.ndarray, valid: np.ndarray, frames: range, n: int, k: int, min_conf: float,
               rng: np.random.Generator) -> pd.DataFrame:
    """``n`` pairs whose I_ref is a random valid frame of ``frames`` and whose I_in is drawn from the
    ``k`` other valid frames of ``frames`` with the nearest pose (:func:`dancegen.body.distances.pose_distances`).

    ``keypoints: (T, 133, 3)`` x, y, confidence; ``valid: (T,) bool``. Needs two valid frames.
    """
    idx = valid_in(valid, frames)
    if len(idx) < MIN_VALID:
        raise ValueError(f"frames {frames.start}..{frames.stop - 1} hold {len(idx)} valid frame(s); need {MIN_VALID}")
    ref = idx[rng.integers(0, len(idx), n)]
    refs, which = np.unique(ref, return_inverse=True)
    distance = pose_distances(keypoints[refs], keypoints[idx], min_conf)     # (U, N)
    distance[refs[:, None] == idx[None]] = np.inf                            # never the frame itself
    k = min(k, len(idx) - 1)
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]                # (U, k), unordered
    pick = nearest[which, rng.integers(0, k, n)]
    return pd.DataFrame({"in_frame": idx[pick], "ref_frame": ref})


def make_pairs(valid: np.ndarray, params: PairsParams, min_conf: float, source: str | Path,
               keypoints: np.ndarray | None = None) -> pd.DataFrame:
    """The pairs table of one video (layout in the module docstring).

    ``valid: (T,) bool`` from the pose file ``source``, which is named in the error when a split
    has too few valid frames. Train and test pairs come from independent streams of ``params.seed``,
    so changing ``n_train`` or the near pairs leaves the test pairs as they were. A ``near_fraction``
    share of the training pairs is :func:`near_pairs` on ``keypoints: (T, 133, 3)`` (needed then),
    whose keypoints below ``min_conf`` count as missing.
    """
    if len(valid) < 2:
        raise DanceGenError(source, f"has {len(valid)} frame(s); a train/test split needs at least 2")
    splits = dict(zip(SPLITS, split_frames(len(valid), params.train_fraction)))
    for name, frames in splits.items():
        n_valid = len(valid_in(valid, frames))
        if n_valid < MIN_VALID:
            raise DanceGenError(source, f"the {name} split (frames {frames.start}..{frames.stop - 1}) has "
                                f"{n_valid} valid detection(s); at least {MIN_VALID} are needed to sample pairs")
    rngs = dict(zip(SPLITS, np.random.default_rng(params.seed).spawn(len(SPLITS))))
    n_near = round(params.n_train * params.near_fraction)
    tables = [sample_pairs(valid, splits["train"], params.n_train - n_near, rngs["train"]).assign(split="train")]
    if n_near:
        if keypoints is None or len(keypoints) != len(valid):
            raise ValueError("near training pairs need the keypoints of every frame")
        near_rng = np.random.default_rng([params.seed, 1])
        tables.append(near_pairs(keypoints, valid, splits["train"], n_near, params.near_k, min_conf, near_rng)
                      .assign(split="train"))
    tables.append(sample_pairs(valid, splits["test"], params.n_test, rngs["test"]).assign(split="test"))
    return pd.concat(tables, ignore_index=True)[list(COLUMNS)]


def write_pairs(pose_path: str | Path, out_csv: str | Path, out_split: str | Path, params: PairsParams,
                min_conf: float) -> pd.DataFrame:
    """The pairs stage: :func:`make_pairs` from the pose file ``pose_path``, written to ``out_csv``
    and its split to ``out_split`` (:func:`write_split`), each atomically; returns the table. Refuses a video with a second person in view in too many frames
    (:func:`dancegen.preprocess.crowd.refuse_crowded`): these are the frames the model would learn from."""
    with PoseStore(pose_path) as pose:
        refuse_crowded(pose_path, pose.attrs)
        valid, keypoints = pose.valid, pose.keypoints
    table = make_pairs(valid, params, min_conf, pose_path, keypoints)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    write_split(out_split, len(valid), params.train_fraction)
    return table


def write_split(path: str | Path, n_frames: int, train_fraction: float) -> None:
    """Record :func:`split_frames` of a video of ``n_frames`` in the split file ``path`` (atomically)."""
    train, test = split_frames(n_frames, train_fraction)
    record = {"frames": n_frames, "train": [train.start, train.stop], "test": [test.start, test.stop],
              "train_fraction": train_fraction}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")


def read_split(path: str | Path, n_frames: int) -> tuple[range, range]:
    """The ``(train, test)`` frame ranges of a split file, checked against the video's ``n_frames``."""
    path = Path(path)
    if not path.is_file():
        raise DanceGenError(path, "not found (run the pairs stage first: dvc repro)")
    try:
        record = json.loads(path.read_text())
        train, test = range(*record["train"]), range(*record["test"])
        frames = int(record["frames"])
    except (ValueError, KeyError, TypeError):
        raise DanceGenError(path, "is not a split file (expected frames, train and test)") from None
    if frames != n_frames or train.start != 0 or train.stop != test.start or test.stop != frames:
        raise DanceGenError(path, f"records a split of {frames} frames, but the video has {n_frames} "
                            "(re-run the pairs stage)")
    return train, test


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Load a pairs file, checking its columns and split names."""
    path = Path(path)
    if not path.is_file():
        raise DanceGenError(path, "not found (run the pairs stage first: dvc repro)")
    table = pd.read_csv(path)
    if tuple(table.columns) != COLUMNS:
        raise DanceGenError(path, f"columns are {list(table.columns)}, expected {list(COLUMNS)}")
    unknown = set(table["split"]) - set(SPLITS)
    if unknown:
        raise DanceGenError(path, f"unknown split name(s) {sorted(unknown)}; expected train or test")
    return table
