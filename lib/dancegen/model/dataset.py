"""Training pairs (I_in, I_ref) of one personal video as network-ready tensors.

A :class:`PairDataset` item, at resolution R (square), is :meth:`dancegen.model.inputs.InputBuilder.sample`
for (t_in, the pose history of t_ref) — the very inputs inference builds — plus the ground truth:
  ``I_ref``                (3, R, R) float32 RGB in [-1, 1] — the reference frame
  ``H_ref``                (1, R, R) float32 in {0, 1} — the reference person
                           (:func:`dancegen.model.inputs.person_region` at R)
  ``in_frame, ref_frame``  () int64 frame indices

The personal video (:class:`dancegen.model.personal.PersonalVideo`) is opened on first access in
each process (DataLoader workers included) and read one frame at a time.
"""

from __future__ import annotations

import os
import numpy as np
import torch
from torch.utils.data import Dataset

from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.images import resize_area, to_image_tensor
from dancegen.core.layout import VideoPaths
from dancegen.model.inputs import InputBuilder
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import read_pairs


class PairDataset(Dataset):
    """The ``split`` pairs of a personal video's pairs file at ``resolution``² (item layout in the
    module docstring)."""

    def __init__(self, paths: VideoPaths, split: str, resolution: int, spec: InputSpec):
        self.paths, self.resolution, self.spec = paths, resolution, spec
        table = read_pairs(paths.pairs)
        rows = table[table["split"] == split]
        if rows.empty:
            raise DanceGenError(paths.pairs, f"has no '{split}' pairs")
        self.pairs = rows[["in_frame", "ref_frame"]].to_numpy(np.int64)   # (N, 2) in, ref
        with PersonalVideo(paths) as video:
            valid = video.pose.valid
            video.background    # read now: a missing or mis-sized plate fails here, not in a worker
            video.builder(resolution, spec)
        used = self.pairs.ravel()
        if used.min() < 0 or used.max() >= len(valid) or not valid[used].all():
            raise DanceGenError(paths.pairs, "names frames that are outside the video or have no valid pose")
        self._open: tuple[PersonalVideo, InputBuilder] | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        # Open HDF5 handles cannot cross into a spawned worker; each process reopens its own.
        return {**self.__dict__, "_open": None, "_pid": -1}

    def _video(self) -> tuple[PersonalVideo, InputBuilder]:
        if self._pid != os.getpid():
            video = PersonalVideo(self.paths)
            self._open = (video, video.builder(self.resolution, self.spec))
            self._pid = os.getpid()
        return self._open

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        video, builder = self._video()
        t_in, t_ref = (int(t) for t in self.pairs[i])
        return {
            **builder.sample(t_in, video.history(t_ref, self.spec.posemap.K), t_ref),
            "I_ref": to_image_tensor(resize_area(video.frames[t_ref], self.resolution)),
            "H_ref": builder.person_at_resolution(t_ref),
            "in_frame": torch.tensor(t_in),
            "ref_frame": torch.tensor(t_ref),
        }
