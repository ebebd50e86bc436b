"""Training pairs (I_in, I_ref) of one personal video as network-ready tensors.

A :class:`PairDataset` item, at resolution R (square), is :meth:`dancegen.model.inputs.InputBuilder.sample`
for (t_in, the pose history of t_ref) — the very inputs inference builds — plus the ground truth:
  ``I_ref``                (3, R, R) float32 RGB in [-1, 1] — the reference frame
  ``H_ref``                (1, R, R) float32 in {0, 1} — the reference person
                           (:func:`dancegen.model.inputs.person_region` at R)
  ``in_frame, ref_frame``  () int64 frame indices

The personal video (:class:`dancegen.model.personal.PersonalVideo`) is opened by the caller; each
DataLoader worker reopens its files, and frames are read one at a time.
"""

from __future__ import annotations

import os
import numpy as np
import torch
from torch.utils.data import Dataset

from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.images import resize_area, to_image_tensor
from dancegen.model.inputs import InputBuilder
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import read_pairs


class PairDataset(Dataset):
    """The ``split`` pairs of an open personal video's pairs file at ``resolution``² (item layout in
    the module docstring). The video's part index is built once and shared by every dataset of it
    (both phases of a training run) and by the DataLoader workers."""

    def __init__(self, video: PersonalVideo, split: str, resolution: int, spec: InputSpec):
        self.video, self.resolution, self.spec = video, resolution, spec
        pairs = video.paths.pairs
        table = read_pairs(pairs)
        rows = table[table["split"] == split]
        if rows.empty:
            raise DanceGenError(pairs, f"has no '{split}' pairs")
        self.pairs = rows[["in_frame", "ref_frame"]].to_numpy(np.int64)   # (N, 2) in, ref
        video.background    # read now: a missing or mis-sized plate fails here, not in a worker
        self._builder, self._pid = video.builder(resolution, spec), os.getpid()
        used, valid = self.pairs.ravel(), video.pose.valid
        if used.min() < 0 or used.max() >= len(valid) or not valid[used].all():
            raise DanceGenError(pairs, "names frames that are outside the video or have no valid pose")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        # A spawned worker gets the video reopened (PersonalVideo's own pickling) and builds its builder.
        return {**self.__dict__, "_builder": None, "_pid": -1}

    def _open(self) -> InputBuilder:
        if self._pid != os.getpid():
            if self._builder is not None:       # a forked worker: its parent's HDF5 handles are not its own
                self.video = self.video.reopened()
            self._builder, self._pid = self.video.builder(self.resolution, self.spec), os.getpid()
        return self._builder

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        builder, video = self._open(), self.video      # _open first: a worker's video is reopened there
        t_in, t_ref = (int(t) for t in self.pairs[i])
        return {
            **builder.sample(t_in, video.history(t_ref, self.spec.posemap.K), t_ref),
            "I_ref": to_image_tensor(resize_area(video.frames[t_ref], self.resolution)),
            "H_ref": builder.person_at_resolution(t_ref),
            "in_frame": torch.tensor(t_in),
            "ref_frame": torch.tensor(t_ref),
        }
