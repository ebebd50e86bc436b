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
  ``P_in``        (15, R, R) float32 in [0, 1] — I_in's own pose maps (Posewarp segments I_in with them)
  ``B``           (3, R, R) float32 — the background plate (the masked average of the video)
  ``B_in``        (3, R, R) float32 — the input frame's own room: I_in with only its person
                  region (:func:`person_region`, grown by ``InputSpec.scene_dilate_px`` frame px)
                  replaced by B. It carries the real, sharp room where the blurry average B
                  does not; the ``blend`` composition builds I_comb on it.
  ``hole_in``     (1, R, R) float32 in {0, 1} — that grown person region of I_in
With per-part sources (``sources.mode: per_part``, :mod:`dancegen.model.sources`) each part comes
from its own training frame (I_in where it has none), and three keys more carry them:
  ``I_parts``       (10, 3, R, R) float32 — part i's source frame
  ``parsing_parts`` (10, R, R) int64 — its parsing
  ``sources``       (10,) int64 — the source frames' indices
and ``hidden_in``, ``theta`` and ``part_valid`` hold part i's values in its own source frame.
:func:`part_stacks` gives the warp what to cut the parts from under either form.
Frames are resized with ``cv2.INTER_AREA``; keypoints stay in frame pixels, since the pose maps and
affines are drawn from them at any size.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from collections import OrderedDict

from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.images import resize_area, to_image_tensor
from dancegen.body.parts import hidden_regions, part_affines
from dancegen.body.posemaps import pose_maps, stacked_pose_maps
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.store import FrameStore, PoseStore, check_consistent
from dancegen.model.sources import PartIndex, frame_visibility

# Frames whose tensors the builder keeps (per-part sources reuse a few frames over many outputs).
FRAME_CACHE = 16


def person_region(parsing: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """The person of one frame, ``(S, S) bool``: a parsed body part, or a person-mask probability of
    at least ``threshold`` (``parsing: (S, S)`` labels 0..10, ``mask: (S, S) uint8`` probability × 255)."""
    return (parsing > 0) | (mask >= threshold * 255)


class InputBuilder:
    """Generator inputs (module docstring) of one personal video at ``resolution``², for any input
    frame and any reference pose history. ``background: (S, S, 3) uint8 RGB`` is the plate B;
    ``index`` the per-part source index (None: every part from I_in). The tensors of recently used
    frames are kept between calls."""

    def __init__(self, frames: FrameStore, pose: PoseStore, background: np.ndarray, resolution: int,
                 spec: InputSpec, index: PartIndex | None = None):
        check_consistent(frames, pose)
        if background.shape[:2] != (frames.size, frames.size):
            h, w = background.shape[:2]
            raise DanceGenError(frames.path, f"has frames of {frames.size}² but the background is {w}×{h} "
                                "(re-run the background stage)")
        self.frames, self.pose, self.index = frames, pose, index
        self.size, self.resolution, self.posemap = frames.size, resolution, spec.posemap
        self.mask_threshold = spec.mask_threshold
        grow = spec.scene_dilate_px
        self._grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2) if grow > 0 else None
        self.background = to_image_tensor(resize_area(background, resolution))   # (3, R, R)
        self._frames: OrderedDict[int, dict[str, torch.Tensor]] = OrderedDict()
        self._scene_of: tuple[int, dict[str, torch.Tensor]] | None = None
        self._visible: dict[int, np.ndarray] = {}      # I_in's visible shares where the index has none (a test frame)

    def person(self, t: int) -> np.ndarray:
        """``(S, S) bool``: :func:`person_region` of frame t."""
        return person_region(self.pose.parsing(t), self.pose.mask(t), self.mask_threshold)

    def person_at_resolution(self, t: int) -> torch.Tensor:
        """``(1, R, R) float32`` in {0, 1}: the person of frame t, area-resized and thresholded at ½."""
        small = resize_area(self.person(t).astype(np.float32), self.resolution)
        return torch.from_numpy((small >= 0.5).astype(np.float32)[None])

    def frame_image(self, t: int) -> torch.Tensor:
        """``(3, R, R) float32`` frame t in [-1, 1], as ``I_in`` of a sample (without building one)."""
        if t in self._frames:
            return self._frames[t]["I_in"]
        return to_image_tensor(resize_area(self.frames[t], self.resolution))

    def _scene(self, t: int) -> dict[str, torch.Tensor]:
        """``B_in`` of frame t, its image with its grown person region ``hole_in`` replaced by B."""
        if self._scene_of is None or self._scene_of[0] != t:
            region = self.person(t).astype(np.uint8)
            if self._grow is not None:
                region = cv2.dilate(region, self._grow)
            covered = torch.from_numpy(resize_area(region.astype(np.float32), self.resolution) > 0)[None]
            scene = torch.where(covered, self.background, self._frame(t)["I_in"])
            self._scene_of = (t, {"B_in": scene, "hole_in": covered.float()})
        return self._scene_of[1]

    def _frame(self, t: int) -> dict[str, torch.Tensor]:
        """Frame t as a source of parts: ``I_in``, ``parsing_in``, ``hidden_in``, ``P_in`` (module docstring)."""
        if t in self._frames:
            self._frames.move_to_end(t)
            return self._frames[t]
        r = self.resolution
        parsing = torch.from_numpy(cv2.resize(self.pose.parsing(t), (r, r),
                                              interpolation=cv2.INTER_NEAREST).astype(np.int64))
        maps = torch.from_numpy(pose_maps(self.pose.keypoints[t], self.size, r, self.posemap))
        self._frames[t] = {"I_in": self.frame_image(t), "parsing_in": parsing,
                           "hidden_in": hidden_regions(parsing, maps[:NUM_PARTS]), "P_in": maps}
        if len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return self._frames[t]

    def sources(self, t_in: int, pose: np.ndarray, exclude: int | None = None) -> np.ndarray:
        """``(10,) int64``: each part's source frame for the reference ``pose (133, 3)`` — ``t_in``
        where it shows the part posed at least as near as the :class:`PartIndex` choice (no frame
        within the window around ``exclude``), or where there is no choice; else that choice."""
        if self.index is None:
            return np.full(NUM_PARTS, t_in, np.int64)
        visible = self.index.visible.get(t_in)       # a training frame's, measured when the index was built
        if visible is None:
            if t_in not in self._visible:
                self._visible = {t_in: frame_visibility(self.pose, t_in, self.posemap)}
            visible = self._visible[t_in]
        chosen = self.index.sources(pose, exclude, (t_in, self.pose.keypoints[t_in], visible))
        return np.where(chosen >= 0, chosen, t_in)

    def _affines(self, sources: np.ndarray, pose: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``theta (10, 2, 3)`` and ``part_valid (10,)``: part i from frame ``sources[i]`` onto ``pose``."""
        theta, valid = np.zeros((NUM_PARTS, 2, 3), np.float32), np.zeros(NUM_PARTS, bool)
        for t in np.unique(sources):
            rows = sources == t
            theta_t, valid_t = part_affines(self.pose.keypoints[t], pose, self.size, self.posemap.min_conf)
            theta[rows], valid[rows] = theta_t[rows], valid_t[rows]
        return torch.from_numpy(theta), torch.from_numpy(valid)

    def _per_part(self, sources: np.ndarray) -> dict[str, torch.Tensor]:
        """The per-part keys (module docstring) of ``sources (10,)``."""
        frames = [self._frame(int(t)) for t in sources]
        return {"I_parts": torch.stack([f["I_in"] for f in frames]),
                "parsing_parts": torch.stack([f["parsing_in"] for f in frames]),
                "hidden_in": torch.stack([f["hidden_in"][i] for i, f in enumerate(frames)]),
                "sources": torch.from_numpy(sources)}

    def sample(self, t_in: int, ref_poses: np.ndarray, exclude: int | None = None, *,
               with_pose_maps: bool = True) -> dict[str, torch.Tensor]:
        """The inputs for input frame ``t_in`` under ``ref_poses: (K, 133, 3)`` (current first; x, y,
        confidence in pixels of this video's S×S frames). ``exclude``: the reference's own frame of
        this video, whose neighbours no part may come from. Without ``with_pose_maps`` there is no
        ``P_ref``: the person's inputs at a render size, where the nets do not run."""
        sources = self.sources(t_in, ref_poses[0], exclude)
        theta, part_valid = self._affines(sources, ref_poses[0])
        sample = {**self._frame(t_in), **self._scene(t_in), "theta": theta, "part_valid": part_valid}
        if self.index is not None:
            sample.update(self._per_part(sources))
        if with_pose_maps:
            sample["P_ref"] = torch.from_numpy(stacked_pose_maps(ref_poses, self.size, self.resolution, self.posemap))
        return {**sample, "B": self.background}


def part_stacks(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """What the warp cuts the parts from: (``I_parts (B, 10, 3, H, W)``, ``parsing_parts (B, 10, H,
    W)``) with per-part sources, else (``I_in (B, 3, H, W)``, ``parsing_in (B, H, W)``)
    (:func:`dancegen.body.parts.warp_parts_amodal` takes either)."""
    if "I_parts" in batch:
        return batch["I_parts"], batch["parsing_parts"]
    return batch["I_in"], batch["parsing_in"]


def stacked(samples: list[dict[str, torch.Tensor]], device: torch.device) -> dict[str, torch.Tensor]:
    """:meth:`InputBuilder.sample` items → one batch on ``device`` (each key stacked on a new first
    dim); one sample is its own batch of one, a view rather than a copy (live)."""
    return {k: (torch.stack([s[k] for s in samples]) if len(samples) > 1 else samples[0][k][None]).to(device)
            for k in samples[0]}
