"""Training pairs (I_in, I_ref) of one personal video as network-ready tensors.

A :class:`PairDataset` item, at resolution R (square):
  ``I_in, I_ref, B``   (3, R, R) float32 RGB in [-1, 1] — input frame, reference frame, background
  ``parsing_in``       (R, R) int64 part labels 0..10 of I_in (nearest-neighbour resize)
  ``theta``            (10, 2, 3) float32 per-part affines, reference → input, normalised coordinates
  ``part_valid``       (10,) bool — parts present in both poses (:func:`dancegen.parts.part_affines`)
  ``P_ref``            (15K, R, R) float32 in [0, 1] — the reference pose and its K−1 predecessors
  ``H_ref``            (1, R, R) float32 in {0, 1} — the reference person: parsing > 0 or mask ≥ threshold
  ``in_frame, ref_frame``  () int64 frame indices
Frames are resized with ``cv2.INTER_AREA``; keypoints stay in frame pixels, since the pose maps
and affines are drawn from them at any size.

The HDF5 files are opened on first access in each process (DataLoader workers included) and read
one frame at a time; only keypoints, validity flags and the background are held in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from dancegen.background import load_background
from dancegen.config import PosemapParams
from dancegen.errors import DanceGenError
from dancegen.pairs import read_pairs
from dancegen.parts import part_affines
from dancegen.posemaps import history_indices, stacked_pose_maps
from dancegen.store import FrameStore, PoseStore


def to_image_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8 RGB`` → ``(3, H, W) float32`` in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1.0)


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Square resize with ``cv2.INTER_AREA`` (unchanged when already ``size``²)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


class PairDataset(Dataset):
    """The ``split`` pairs of ``pairs_csv`` at ``resolution``² (item layout in the module docstring).

    ``background_dir`` is the background stage's directory (holding ``background.png``);
    ``mask_threshold`` is the person probability above which a mask pixel counts as the person.
    """

    def __init__(self, frames_path: str | Path, pose_path: str | Path, pairs_csv: str | Path,
                 background_dir: str | Path, split: str, resolution: int,
                 posemap_params: PosemapParams, mask_threshold: float = 0.5):
        self.frames_path, self.pose_path = Path(frames_path), Path(pose_path)
        self.resolution = resolution
        self.posemap_params = posemap_params
        self.mask_threshold = mask_threshold
        table = read_pairs(pairs_csv)
        rows = table[table["split"] == split]
        if rows.empty:
            raise DanceGenError(pairs_csv, f"has no '{split}' pairs")
        self.pairs = rows[["in_frame", "ref_frame"]].to_numpy(np.int64)   # (N, 2) in, ref
        with PoseStore(self.pose_path) as pose, FrameStore(self.frames_path) as frames:
            self.keypoints = pose.keypoints     # (T, 133, 3) x, y, confidence in frame pixels
            self.valid = pose.valid             # (T,) bool
            self.frame_size = frames.size
            if pose.size != frames.size or len(pose) != len(frames):
                raise DanceGenError(self.pose_path, f"has {len(pose)} frames of {pose.size}² but "
                                    f"{self.frames_path} has {len(frames)} of {frames.size}²")
        used = self.pairs.ravel()
        if used.min() < 0 or used.max() >= len(self.valid) or not self.valid[used].all():
            raise DanceGenError(pairs_csv, "names frames that are outside the video or have no valid pose")
        background = load_background(background_dir)
        if background.shape[:2] != (self.frame_size, self.frame_size):
            h, w = background.shape[:2]
            raise DanceGenError(Path(background_dir) / "background.png",
                                f"is {w}×{h}, frames are {self.frame_size}²")
        self.background = to_image_tensor(resize_area(background, resolution))
        self._files: tuple[FrameStore, PoseStore] | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        # Open HDF5 handles cannot cross into a spawned worker; each process reopens its own.
        return {**self.__dict__, "_files": None, "_pid": -1}

    def _stores(self) -> tuple[FrameStore, PoseStore]:
        if self._pid != os.getpid():
            self._files = (FrameStore(self.frames_path), PoseStore(self.pose_path))
            self._pid = os.getpid()
        return self._files

    def _person(self, pose: PoseStore, t: int) -> np.ndarray:
        """``(1, R, R)`` float32 {0, 1}: parsed body parts or the person mask of frame t."""
        person = (pose.parsing(t) > 0) | (pose.mask(t) >= self.mask_threshold * 255)
        small = resize_area(person.astype(np.float32), self.resolution)
        return (small >= 0.5).astype(np.float32)[None]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        frames, pose = self._stores()
        t_in, t_ref = (int(t) for t in self.pairs[i])
        R, S = self.resolution, self.frame_size
        theta, part_valid = part_affines(self.keypoints[t_in], self.keypoints[t_ref], S,
                                         self.posemap_params.min_conf)
        history = history_indices(t_ref, self.valid, self.posemap_params.K)
        parsing = cv2.resize(pose.parsing(t_in), (R, R), interpolation=cv2.INTER_NEAREST)
        return {
            "I_in": to_image_tensor(resize_area(frames[t_in], R)),
            "I_ref": to_image_tensor(resize_area(frames[t_ref], R)),
            "B": self.background,
            "parsing_in": torch.from_numpy(parsing.astype(np.int64)),
            "theta": torch.from_numpy(theta),
            "part_valid": torch.from_numpy(part_valid),
            "P_ref": torch.from_numpy(stacked_pose_maps(self.keypoints[history], S, R, self.posemap_params)),
            "H_ref": torch.from_numpy(self._person(pose, t_ref)),
            "in_frame": torch.tensor(t_in),
            "ref_frame": torch.tensor(t_ref),
        }
