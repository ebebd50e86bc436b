"""A personal video, opened once: its frames, poses, background plate, train/test split and poses.

A stage opens a :class:`PersonalVideo` and passes it down; nothing below it opens the files again
(a DataLoader worker reopens them: :meth:`PersonalVideo.reopened`, or pickling), recomputes the
split (the pairs stage recorded it: :func:`dancegen.preprocess.pairs.read_split`) or assembles a
pose history of its own.

  ``frames``          :class:`FrameStore` — ``(T, S, S, 3) uint8 RGB`` square frames
  ``pose``            :class:`PoseStore` — keypoints ``(T, 133, 3)`` x, y, confidence in frame pixels,
                      ``valid (T,) bool``, masks and parsing per frame
  ``background``      ``(S, S, 3) uint8 RGB`` the plate B (read on first use)
  ``train_frames``    ``(N,) int64`` the valid frames of the training split, in order
  ``test_frames``     ``(M,) int64`` the valid frames of the test split, in order (the consecutive run)
  ``training_poses``  ``(N, 133, 3)`` their keypoints: the pool a reference pose's nearest I_in is drawn from
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from dancegen.body.posemaps import history_indices
from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.layout import VideoPaths
from dancegen.core.store import FrameStore, PoseStore, check_consistent
from dancegen.model.inputs import InputBuilder
from dancegen.model.sources import PartIndex, build_part_index
from dancegen.preprocess.background import load_background
from dancegen.preprocess.pairs import read_split, valid_in


class PersonalVideo:
    """The files of ``paths`` opened together (module docstring); a context manager that closes them."""

    def __init__(self, paths: VideoPaths):
        self.paths = paths
        self.frames = FrameStore(paths.frames)
        try:
            self.pose = PoseStore(paths.pose)
            check_consistent(self.frames, self.pose)
            self.train_range, self.test_range = read_split(paths.split, len(self.pose))
        except BaseException:
            self.close()
            raise
        self.size = self.frames.size
        self.train_frames = valid_in(self.pose.valid, self.train_range).astype(np.int64)
        self.test_frames = valid_in(self.pose.valid, self.test_range).astype(np.int64)
        self._indexes: dict[tuple, PartIndex] = {}

    @property
    def name(self) -> str:
        """The video's name in params.yaml (its frames file is ``data/frames/<name>.h5``)."""
        return self.paths.frames.stem

    @cached_property
    def background(self) -> np.ndarray:
        """The plate B, ``(S, S, 3) uint8 RGB``."""
        return load_background(self.paths.background)

    @property
    def training_poses(self) -> np.ndarray:
        """``(N, 133, 3)`` keypoints of :attr:`train_frames`."""
        return self.pose.keypoints[self.train_frames]

    def require_training_frames(self) -> np.ndarray:
        """:attr:`train_frames`, or a one-line error when the training split has no valid frame."""
        if not len(self.train_frames):
            raise DanceGenError(self.paths.pose, "has no valid frame in the training split to take I_in from")
        return self.train_frames

    def history(self, t: int, K: int) -> np.ndarray:
        """``(K, 133, 3)`` poses of frames t, t−1, … (:func:`dancegen.body.posemaps.history_indices`)."""
        return self.pose.keypoints[history_indices(t, self.pose.valid, K)]

    def part_index(self, spec: InputSpec) -> PartIndex:
        """The per-part source index of the training frames (:mod:`dancegen.model.sources`), built on
        first use for each setting."""
        key = (spec.sources, spec.posemap)
        if key not in self._indexes:
            self._indexes[key] = build_part_index(self.pose, self.train_frames, spec.sources, spec.posemap)
        return self._indexes[key]

    def builder(self, resolution: int, spec: InputSpec) -> InputBuilder:
        """The generators' input builder of this video at ``resolution``² (with the per-part source
        index under ``sources.mode: per_part``)."""
        index = self.part_index(spec) if spec.sources.mode == "per_part" else None
        return InputBuilder(self.frames, self.pose, self.background, resolution, spec, index)

    def __getstate__(self) -> dict:
        # HDF5 handles cannot cross into another process: the files are reopened there, and the
        # part indexes built so far go along (they cost seconds to build).
        return {"paths": self.paths, "indexes": self._indexes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["paths"])
        self._indexes = dict(state["indexes"])

    def reopened(self) -> PersonalVideo:
        """This video's files opened anew, for a process other than the one that opened them (a
        forked DataLoader worker), with the part indexes built so far."""
        video = PersonalVideo.__new__(PersonalVideo)
        video.__setstate__(self.__getstate__())
        return video

    def close(self) -> None:
        self.frames.close()
        if hasattr(self, "pose"):
            self.pose.close()

    def __enter__(self) -> PersonalVideo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
