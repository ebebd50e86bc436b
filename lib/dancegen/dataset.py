"""Training pairs (I_in, I_ref) of one personal video as network-ready tensors.

A :class:`PairDataset` item, at resolution R (square), is :meth:`dancegen.inputs.InputBuilder.sample`
for (t_in, the pose history of t_ref) — the very inputs inference builds — plus the ground truth:
  ``I_ref``                (3, R, R) float32 RGB in [-1, 1] — the reference frame
  ``H_ref``                (1, R, R) float32 in {0, 1} — the reference person
                           (:func:`dancegen.inputs.person_region` at R)
  ``in_frame, ref_frame``  () int64 frame indices

The HDF5 files are opened on first access in each process (DataLoader workers included) and read
one frame at a time; only keypoints, validity flags and the background are held in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dancegen.background import load_background
from dancegen.config import InputSpec
from dancegen.errors import DanceGenError
from dancegen.images import resize_area, to_image_tensor
from dancegen.inputs import InputBuilder, check_consistent
from dancegen.pairs import read_pairs
from dancegen.posemaps import history_indices
from dancegen.store import FrameStore, PoseStore


class PairDataset(Dataset):
    """The ``split`` pairs of ``pairs_csv`` at ``resolution``² (item layout in the module docstring).

    ``background_dir`` is the background stage's directory.
    """

    def __init__(self, frames_path: str | Path, pose_path: str | Path, pairs_csv: str | Path,
                 background_dir: str | Path, split: str, resolution: int, spec: InputSpec):
        self.frames_path, self.pose_path = Path(frames_path), Path(pose_path)
        self.resolution, self.spec = resolution, spec
        table = read_pairs(pairs_csv)
        rows = table[table["split"] == split]
        if rows.empty:
            raise DanceGenError(pairs_csv, f"has no '{split}' pairs")
        self.pairs = rows[["in_frame", "ref_frame"]].to_numpy(np.int64)   # (N, 2) in, ref
        with PoseStore(self.pose_path) as pose, FrameStore(self.frames_path) as frames:
            check_consistent(frames, pose)
            self.keypoints = pose.keypoints     # (T, 133, 3) x, y, confidence in frame pixels
            self.valid = pose.valid             # (T,) bool
            self.frame_size = frames.size
        used = self.pairs.ravel()
        if used.min() < 0 or used.max() >= len(self.valid) or not self.valid[used].all():
            raise DanceGenError(pairs_csv, "names frames that are outside the video or have no valid pose")
        self.background = load_background(background_dir)    # (S, S, 3) uint8 RGB
        if self.background.shape[:2] != (self.frame_size, self.frame_size):
            h, w = self.background.shape[:2]
            raise DanceGenError(Path(background_dir) / "background.png",
                                f"is {w}×{h}, frames are {self.frame_size}²")
        self._open: tuple[FrameStore, InputBuilder] | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        # Open HDF5 handles cannot cross into a spawned worker; each process reopens its own.
        return {**self.__dict__, "_open": None, "_pid": -1}

    def _builder(self) -> tuple[FrameStore, InputBuilder]:
        if self._pid != os.getpid():
            frames, pose = FrameStore(self.frames_path), PoseStore(self.pose_path)
            self._open = (frames, InputBuilder(frames, pose, self.background, self.resolution, self.spec))
            self._pid = os.getpid()
        return self._open

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        frames, builder = self._builder()
        t_in, t_ref = (int(t) for t in self.pairs[i])
        history = history_indices(t_ref, self.valid, self.spec.posemap.K)
        return {
            **builder.sample(t_in, self.keypoints[history]),
            "I_ref": to_image_tensor(resize_area(frames[t_ref], self.resolution)),
            "H_ref": builder.person_at_resolution(t_ref),
            "in_frame": torch.tensor(t_in),
            "ref_frame": torch.tensor(t_ref),
        }
