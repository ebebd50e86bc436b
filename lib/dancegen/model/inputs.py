"""The one builder of the generators' inputs, used by training and inference alike.

:class:`InputBuilder` turns an input frame t_in of a personal video and a reference pose history
(with :class:`dancegen.core.config.InputSpec`) into the tensors the generators read. :class:`dancegen.model.dataset.PairDataset` (training, test
pairs) and inference (test synthesis, motion transfer) both call :meth:`InputBuilder.sample`, so
the two cannot drift apart. An item, at resolution R (square):

  ``I_in``        (3, R, R) float32 RGB in [-1, 1] — the input frame
  ``parsing_in``  (R, R) int64 part labels 0..10 of I_in (nearest-neighbour resize)
  ``hidden_in``   (10, R, R) float32 in {0, 1} — where each part of I_in is hidden behind another
                  part (:func:`dancegen.body.parts.hidden_regions` of I_in's own pose maps); the
                  ``blend`` composition completes the parts there
  ``theta``       (10, 2, 3) float32 per-part affines, reference → input, normalised coordinates
  ``part_valid``  (10,) bool — parts present in both poses (:func:`dancegen.body.parts.part_affines`)
  ``P_ref``       (15K, R, R) float32 in [0, 1] — the reference pose and its K−1 predecessors
  ``B``           (3, R, R) float32 — the background plate (the masked average of the video)
  ``B_in``        (3, R, R) float32 — the input frame's own room: I_in with only its person
                  region (:func:`person_region`, grown by ``InputSpec.scene_dilate_px`` frame px)
                  replaced by B. It carries the real, sharp room where the blurry average B
                  does not; the ``blend`` composition builds I_comb on it.
Frames are resized with ``cv2.INTER_AREA``; keypoints stay in frame pixels, since the pose maps and
affines are drawn from them at any size.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.images import resize_area, to_image_tensor
from dancegen.body.parts import hidden_regions, part_affines
from dancegen.body.posemaps import pose_maps, stacked_pose_maps
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.store import FrameStore, PoseStore, check_consistent


def person_region(parsing: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """The person of one frame, ``(S, S) bool``: a parsed body part, or a person-mask probability of
    at least ``threshold`` (``parsing: (S, S)`` labels 0..10, ``mask: (S, S) uint8`` probability × 255)."""
    return (parsing > 0) | (mask >= threshold * 255)


class InputBuilder:
    """Generator inputs (module docstring) of one personal video at ``resolution``², for any input
    frame and any reference pose history. ``background: (S, S, 3) uint8 RGB`` is the plate B.
    The input frame's tensors are kept between calls with the same ``t_in``."""

    def __init__(self, frames: FrameStore, pose: PoseStore, background: np.ndarray, resolution: int,
                 spec: InputSpec):
        check_consistent(frames, pose)
        if background.shape[:2] != (frames.size, frames.size):
            h, w = background.shape[:2]
            raise DanceGenError(frames.path, f"has frames of {frames.size}² but the background is {w}×{h} "
                                "(re-run the background stage)")
        self.frames, self.pose = frames, pose
        self.size, self.resolution, self.posemap = frames.size, resolution, spec.posemap
        self.mask_threshold = spec.mask_threshold
        grow = spec.scene_dilate_px
        self._grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2) if grow > 0 else None
        self.background = to_image_tensor(resize_area(background, resolution))   # (3, R, R)
        self._input: tuple[int, dict[str, torch.Tensor]] | None = None

    def person(self, t: int) -> np.ndarray:
        """``(S, S) bool``: :func:`person_region` of frame t."""
        return person_region(self.pose.parsing(t), self.pose.mask(t), self.mask_threshold)

    def person_at_resolution(self, t: int) -> torch.Tensor:
        """``(1, R, R) float32`` in {0, 1}: the person of frame t, area-resized and thresholded at ½."""
        small = resize_area(self.person(t).astype(np.float32), self.resolution)
        return torch.from_numpy((small >= 0.5).astype(np.float32)[None])

    def _scene(self, t: int, image: torch.Tensor) -> torch.Tensor:
        """B_in of frame t: ``image`` (its I_in) with its grown person region replaced by B."""
        region = self.person(t).astype(np.uint8)
        if self._grow is not None:
            region = cv2.dilate(region, self._grow)
        covered = resize_area(region.astype(np.float32), self.resolution) > 0
        return torch.where(torch.from_numpy(covered)[None], self.background, image)

    def _input_frame(self, t_in: int) -> dict[str, torch.Tensor]:
        if self._input is None or self._input[0] != t_in:
            r = self.resolution
            image = to_image_tensor(resize_area(self.frames[t_in], r))
            parsing = torch.from_numpy(cv2.resize(self.pose.parsing(t_in), (r, r),
                                                  interpolation=cv2.INTER_NEAREST).astype(np.int64))
            shapes = pose_maps(self.pose.keypoints[t_in], self.size, r, self.posemap)[:NUM_PARTS]
            self._input = (t_in, {"I_in": image, "parsing_in": parsing,
                                  "hidden_in": hidden_regions(parsing, torch.from_numpy(shapes)),
                                  "B_in": self._scene(t_in, image)})
        return self._input[1]

    def sample(self, t_in: int, ref_poses: np.ndarray, with_pose_maps: bool = True) -> dict[str, torch.Tensor]:
        """The inputs for input frame ``t_in`` under ``ref_poses: (K, 133, 3)`` (current first; x, y,
        confidence in pixels of this video's S×S frames). Without ``with_pose_maps`` there is no
        ``P_ref``: the person's inputs at a render size, where the nets do not run."""
        theta, part_valid = part_affines(self.pose.keypoints[t_in], ref_poses[0], self.size,
                                         self.posemap.min_conf)
        sample = {**self._input_frame(t_in), "theta": torch.from_numpy(theta),
                  "part_valid": torch.from_numpy(part_valid)}
        if with_pose_maps:
            sample["P_ref"] = torch.from_numpy(stacked_pose_maps(ref_poses, self.size, self.resolution, self.posemap))
        return {**sample, "B": self.background}
