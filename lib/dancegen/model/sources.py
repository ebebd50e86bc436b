"""Per-part sources (``sources.mode: per_part``): every body part from the training frame that shows it best.

The paper warps all 10 parts from one input frame I_in, so a limb that frame does not show (an arm
raised in the reference, lowered in I_in; an arm parsed as torso in a side view) comes out missing.
A personal video has shown each part in many poses: for a reference pose, :class:`PartIndex` picks,
per part, the training frame minimising

    cost² = |d_ref − d_src|² + w_context² |c_ref − c_src|² + w_visible² max(0, 1 − v_src / v̄)²

where d is the part's own segment and c its context (the way the body faces, the next part of the
limb), both :func:`dancegen.body.distances.part_descriptors` (divided by the body's size, relative to
the joint the part hangs from), v is the part's visible share in that frame
(:func:`dancegen.body.parts.part_visibility`, from its parsing) and v̄ its median over the frames
that show it (shape maps and parsings rarely overlap whole: a part shown as usual costs nothing, so
its pose decides). The input frame I_in keeps each part unless a frame poses it nearer by more than
``sources.keep_margin``: parts of other frames differ in cloth folds and glints, so a swap pays
only where I_in's pose of the part is off. The affine warp then carries each part from its own
frame onto the reference pose exactly as it does from I_in.

The index is one k-d tree per part over the training frames (points: d, w_context·c,
w_visible·max(0, 1 − v / v̄); the query's last coordinate is 0, so the tree's nearest point is the cost's
minimum): a query costs O(log N), and the index O(N) small floats, whatever the video's length.
A reference pose whose part context is unknown searches a second tree of the part's own segment.
``exclude`` (training: the reference frame) removes every frame within ``sources.exclude_window``
of it, so a frame is never rebuilt from itself or its twin.
"""

from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from dancegen.body.distances import part_descriptors
from dancegen.body.parts import part_visibility
from dancegen.body.posemaps import part_maps
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.cache import cached_array, file_digest
from dancegen.core.config import PosemapParams, SourcesParams
from dancegen.core.sources import code_hash
from dancegen.core.store import PoseStore

# The side at which the parts' visibility is measured: a share of pixels needs no detail.
VISIBILITY_SIZE = 64


def frame_visibility(pose: PoseStore, t: int, posemap: PosemapParams) -> np.ndarray:
    """``(10,) float32``: :func:`part_visibility` of frame t of ``pose``, at :data:`VISIBILITY_SIZE`²."""
    parsing = cv2.resize(pose.parsing(t), (VISIBILITY_SIZE,) * 2, interpolation=cv2.INTER_NEAREST)
    shapes = part_maps(pose.keypoints[t], pose.size, VISIBILITY_SIZE, posemap)
    return part_visibility(torch.from_numpy(parsing.astype(np.int64)), torch.from_numpy(shapes)).numpy()


class _PartTree:
    """The candidate frames of one part in one search space (module docstring)."""

    def __init__(self, frames: np.ndarray, points: np.ndarray):
        self.frames = frames                                   # (n,) frame indices
        self.tree = cKDTree(points) if len(frames) else None   # over (n, D) points

    def nearest(self, point: np.ndarray, exclude: int | None, window: int) -> tuple[int, float]:
        """(the frame of the point nearest ``point`` outside ``exclude ± window``, its distance), or
        (-1, inf) when none is."""
        if self.tree is None:
            return -1, np.inf
        # At most 2·window + 1 frames lie in the excluded window: one more is outside it.
        k = 1 if exclude is None else min(len(self.frames), 2 * window + 2)
        distances, rows = self.tree.query(point, k=k)
        for distance, row in zip(np.atleast_1d(distances), np.atleast_1d(rows)):
            frame = int(self.frames[row])
            if exclude is None or abs(frame - exclude) > window:
                return frame, float(distance)
        return -1, np.inf


class PartIndex:
    """Per part, the frames ``frames (N,)`` of a personal video's training split, searchable by how
    the part is posed. ``keypoints (N, 133, 3)`` and ``visible (N, 10)`` are theirs."""

    def __init__(self, frames: np.ndarray, keypoints: np.ndarray, visible: np.ndarray, params: SourcesParams,
                 min_conf: float):
        self.params, self.min_conf = params, min_conf
        # (10,) each part's median visible share over the frames that show it: shape maps and parsings
        # rarely overlap whole, so a part as visible as usual is not hidden.
        self.typical = np.array([np.median(v[v > 0]) if (v > 0).any() else 1.0 for v in visible.T], np.float32)
        self.visible = dict(zip(frames.tolist(), visible))     # frame → (10,) visible shares
        full, short, own, context = self.points(keypoints, visible)
        self.trees = [(_PartTree(frames[context[:, k]], full[context[:, k], k]),
                       _PartTree(frames[own[:, k]], short[own[:, k], k])) for k in range(NUM_PARTS)]

    def points(self, keypoints: np.ndarray, visible: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The frames' points in both search spaces, ``(N, 10, 7)`` and ``(N, 10, 3)``, and where each
        exists, ``own`` and ``context (N, 10) bool``, of ``keypoints (N, 133, 3)`` and ``visible (N, 10)``."""
        desc, own, context = part_descriptors(keypoints, self.min_conf)
        # A part no pixel of the frame shows cannot be taken from it.
        own &= visible > 0
        context &= own
        hidden = self.params.w_visible * np.clip(1.0 - visible / self.typical, 0.0, None)[..., None]  # (N, 10, 1)
        full = np.concatenate([desc[..., :2], self.params.w_context * desc[..., 2:], hidden], -1)
        return full, np.concatenate([desc[..., :2], hidden], -1), own, context

    def sources(self, pose: np.ndarray, exclude: int | None = None,
                incumbent: tuple[int, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """``(10,) int64``: for the reference ``pose (133, 3)``, each part's source frame, -1 where
        the pose lacks the part or no frame outside ``exclude ± sources.exclude_window`` has it.
        ``incumbent`` (frame, its keypoints (133, 3), its visible shares (10,)), the input frame I_in,
        keeps each part it shows unless the index's choice costs less by more than
        ``sources.keep_margin``: per-part sources only add candidates to the paper's single I_in."""
        # The reference as a point of both spaces: shown as usual, so its hidden coordinate is 0.
        queries = self.points(pose[None], self.typical[None])
        kept = None if incumbent is None else self.points(incumbent[1][None], incumbent[2][None])
        out = np.full(NUM_PARTS, -1, np.int64)
        for k, trees in enumerate(self.trees):
            # the full space where the part's context is known, the part's own segment where not
            # (or where no frame outside the window has the context)
            spaces = [0, 1] if queries[3][0, k] else [1] if queries[2][0, k] else []
            if not spaces:
                continue
            for space in spaces:
                query = queries[space][0, k]
                frame, cost = trees[space].nearest(query, exclude, self.params.exclude_window)
                if frame >= 0:
                    break
            shown = kept is not None and (kept[3], kept[2])[space][0, k]     # I_in has the part in this space
            if shown and np.linalg.norm(kept[space][0, k] - query) <= cost + self.params.keep_margin:
                frame = incumbent[0]
            out[k] = frame
        return out


def frames_visibility(pose: PoseStore, frames: np.ndarray, posemap: PosemapParams) -> np.ndarray:
    """``(N, 10) float32``: :func:`frame_visibility` of each of ``frames (N,)``, kept in the user's
    cache (:func:`dancegen.core.cache.cached_array`) under the pose file's contents, the frames, the
    pose-map parameters and this code: ~8 ms a frame on one core, which every stage of a video
    would otherwise pay again (a 1000-frame video: 8–11 s each)."""
    def compute() -> np.ndarray:
        if not len(frames):
            return np.zeros((0, NUM_PARTS), np.float32)
        return np.stack([frame_visibility(pose, int(t), posemap) for t in frames])

    key = {"pose": file_digest(pose.path), "frames": hashlib.sha256(np.asarray(frames, np.int64).tobytes()).hexdigest(),
           "posemap": dataclasses.asdict(posemap), "size": VISIBILITY_SIZE, "code": code_hash(__name__)}
    return cached_array("part-visibility", key, compute)


def build_part_index(pose: PoseStore, frames: np.ndarray, params: SourcesParams, posemap: PosemapParams) -> PartIndex:
    """The :class:`PartIndex` of ``frames`` of ``pose`` (their visibility: :func:`frames_visibility`)."""
    return PartIndex(frames, pose.keypoints[frames], frames_visibility(pose, frames, posemap), params, posemap.min_conf)
