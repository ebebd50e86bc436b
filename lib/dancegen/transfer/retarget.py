"""Motion-transfer geometry: smooth a reference person's poses and map them onto the target's body,
one implementation for transfer (the whole video known) and live (frame by frame).

* :func:`smooth_poses` — the reference's keypoint tracks, short gaps of missing joints filled by
  linear interpolation, then Savitzky–Golay filtered: detector jitter would otherwise become flicker.
  :func:`jitter` measures it (mean joint acceleration, px/frame²).
* :func:`body_frame` / :func:`retarget` — global pose normalisation for any orientation. A body's
  size is the robust length of its bones over the whole video (torso, upper arms, forearms, thighs,
  shins), which does not change when the body turns upside down, lies down or crouches — unlike
  its vertical extent. The reference's floor (where its lowest point usually is) lands on the
  target's floor and its usual position on the target's — or, for a reference whose feet are mostly
  out of view (a half-body shot has no floor to stand on), its pelvis on the target's; each frame is
  then shifted, only where needed, to keep the whole body in the frame.
* :class:`Placement` — the one mapping of reference poses into the target's frame, for transfer and
  live alike: :func:`retarget` (then :func:`keep_in_frame`) with both bodies measured, else a rescale
  from the reference's frame size to the target's.
* :class:`CausalSmoother` / :class:`CausalPlacement` — the same two steps for a stream (live), with
  only the frames seen so far: the newest row of :func:`smooth_poses`'s filter over a trailing window,
  and a :class:`Placement` whose reference body is measured over the last frames and again every
  few of them.

All keypoint arrays are ``(N, 133, 3) float32`` x, y, confidence in pixels (COCO-WholeBody order).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import savgol_filter

from dancegen.core.arrays import true_runs
from dancegen.body import skeleton
from dancegen.body.skeleton import J

# Bones whose length does not depend on the pose: (start, end) joints, left and right pooled.
# The torso runs from the shoulders' midpoint to the hips' (see _bone_lengths). Shoulder and hip
# widths are left out: they shrink whenever the body turns sideways.
BONES: dict[str, tuple[tuple[str, str], ...]] = {
    "upper_arm": (("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")),
    "forearm": (("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")),
    "thigh": (("left_hip", "left_knee"), ("right_hip", "right_knee")),
    "shin": (("left_knee", "left_ankle"), ("right_knee", "right_ankle")),
}
TORSO = "torso"
# A bone seen turned towards the camera looks shorter, never longer: its length over a video is the
# upper quartile of its measurements, which ignores those frames and still rejects outliers.
BONE_PERCENTILE = 75.0
MIN_BONE_FRAMES = 3     # measurements a bone needs to count (fewer in a shorter video: all of them)
FRAME_MARGIN = 0.02     # the whole body is kept this fraction of the frame side inside its edges
_BODY_AND_FEET = np.arange(skeleton.FEET.stop)
# Live measures the reference's body over its last this many poses, again every this many of them.
MEASURE_FRAMES = 300
REMEASURE_EVERY = 15


@dataclass(frozen=True)
class BodyFrame:
    """Robust size and placement of one person over a video, in pixels."""

    bones: dict[str, float]   # bone name (BONES, TORSO) -> length, over the whole video
    floor_y: float            # median over frames of the lowest body point's y: the floor line
    centre_x: float           # median over frames of the body's mean x: the usual position
    pelvis_y: float | None    # median y of the hips' midpoint (None when never seen)
    grounded: bool            # an ankle is in view in at least half the frames: floor_y is a floor


def _bone_lengths(kps: np.ndarray, min_conf: float) -> dict[str, np.ndarray]:
    """Every measurement of each bone: name -> lengths ``(n,)`` over the frames (and both sides) where
    both its ends are confident."""
    xy, ok = kps[..., :2].astype(np.float64), kps[..., 2] >= min_conf
    out = {}
    ls, rs, lh, rh = J["left_shoulder"], J["right_shoulder"], J["left_hip"], J["right_hip"]
    torso_ok = ok[:, [ls, rs, lh, rh]].all(1)
    neck, pelvis = (xy[:, ls] + xy[:, rs]) / 2, (xy[:, lh] + xy[:, rh]) / 2
    out[TORSO] = np.linalg.norm(neck - pelvis, axis=1)[torso_ok]
    for name, pairs in BONES.items():
        lengths = [np.linalg.norm(xy[:, J[a]] - xy[:, J[b]], axis=1)[ok[:, J[a]] & ok[:, J[b]]] for a, b in pairs]
        out[name] = np.concatenate(lengths)
    return out


def body_frame(kps: np.ndarray, min_conf: float = 0.3) -> BodyFrame | None:
    """The :class:`BodyFrame` of a video's poses ``(N, 133, 3)``, or None when no bone is ever seen."""
    bones = {}
    for name, lengths in _bone_lengths(kps, min_conf).items():
        lengths = lengths[lengths > 1e-3]
        if len(lengths) >= min(MIN_BONE_FRAMES, len(kps)) and len(lengths):
            bones[name] = float(np.percentile(lengths, BONE_PERCENTILE))
    ok = kps[:, _BODY_AND_FEET, 2] >= min_conf
    seen = ok.any(1)
    if not bones or not seen.any():
        return None
    y, x = kps[:, _BODY_AND_FEET, 1], kps[:, _BODY_AND_FEET, 0]
    lowest = np.where(ok, y, -np.inf).max(1)[seen]
    centre = (np.where(ok, x, 0.0).sum(1) / np.maximum(ok.sum(1), 1))[seen]
    hips = ok[:, [J["left_hip"], J["right_hip"]]].all(1)
    pelvis = float(np.median(y[hips][:, [J["left_hip"], J["right_hip"]]].mean(1))) if hips.any() else None
    ankles = ok[:, [J["left_ankle"], J["right_ankle"]]].any(1)
    return BodyFrame(bones, float(np.median(lowest)), float(np.median(centre)), pelvis,
                     bool(ankles[seen].mean() >= 0.5))


def size_ratio(ref: BodyFrame, target: BodyFrame) -> float | None:
    """How much larger the target's body is than the reference's: the ratio of the summed lengths of
    the bones both show (longer bones weigh more), or None when they share none."""
    shared = sorted(set(ref.bones) & set(target.bones))
    if not shared:
        return None
    return sum(target.bones[b] for b in shared) / sum(ref.bones[b] for b in shared)


def retarget(ref_kps: np.ndarray, ref: BodyFrame, target: BodyFrame, frame_size: int | None = None,
             min_conf: float = 0.3) -> np.ndarray:
    """Scale reference poses ``(N, 133, 3)`` by :func:`size_ratio` about ``ref``'s floor and usual
    position, which land on ``target``'s (its pelvis height on the target's when either is not
    :attr:`BodyFrame.grounded`); with ``frame_size``, then keep each pose in the target's
    ``frame_size``² frame (:func:`keep_in_frame`). Confidences are kept; missing points stay missing.
    """
    s = size_ratio(ref, target)
    if s is None:
        raise ValueError("the two bodies share no bone")
    by_pelvis = not (ref.grounded and target.grounded) and None not in (ref.pelvis_y, target.pelvis_y)
    ref_y, target_y = (ref.pelvis_y, target.pelvis_y) if by_pelvis else (ref.floor_y, target.floor_y)
    out = ref_kps.copy()
    present = out[..., 2] > 0
    out[..., 0] = np.where(present, target.centre_x + (ref_kps[..., 0] - ref.centre_x) * s, 0.0)
    out[..., 1] = np.where(present, target_y + (ref_kps[..., 1] - ref_y) * s, 0.0)
    return out if frame_size is None else keep_in_frame(out, frame_size, min_conf)


def keep_in_frame(kps: np.ndarray, frame_size: int, min_conf: float = 0.3) -> np.ndarray:
    """Shift each pose ``(N, 133, 3)`` by the least that brings all its confident points within
    :data:`FRAME_MARGIN` of a ``frame_size``² frame's edges (centred where it cannot fit). Poses
    already inside do not move, so a dancer's travel across the stage is kept up to the edges."""
    out = kps.copy()
    ok = out[..., 2] >= min_conf
    margin = FRAME_MARGIN * frame_size
    seen = ok.any(1)
    for axis in (0, 1):
        v = out[..., axis]
        lo = np.where(seen, np.where(ok, v, np.inf).min(1), 0.0)
        hi = np.where(seen, np.where(ok, v, -np.inf).max(1), 0.0)
        low_edge, high_edge = margin, frame_size - margin
        shift = np.where(lo < low_edge, low_edge - lo, 0.0) + np.where(hi > high_edge, high_edge - hi, 0.0)
        too_big = (hi - lo) > (high_edge - low_edge)
        shift = np.where(too_big, frame_size / 2 - (lo + hi) / 2, shift)
        shift = np.where(seen, shift, 0.0)
        out[..., axis] = np.where(out[..., 2] > 0, v + shift[:, None], v)
    return out


@dataclass(frozen=True)
class Placement:
    """Where poses of the reference's ``ref_size``² frame land in the target's ``frame_size``² frame:
    with both bodies measured, :func:`retarget` onto the target's body and kept in its frame; without
    (retargeting off, or the reference's body not measured yet) only rescaled from one frame size to
    the other."""

    frame_size: int
    ref_size: int
    min_conf: float
    ref: BodyFrame | None = None       # the reference's body; None: rescale only
    target: BodyFrame | None = None    # the target's body, needed with ``ref``

    @property
    def scale(self) -> float | None:
        """The retarget scale (:func:`size_ratio`), None when only rescaling."""
        return None if self.ref is None else size_ratio(self.ref, self.target)

    def __call__(self, kps: np.ndarray) -> np.ndarray:
        """Poses ``(N, 133, 3)`` in the reference's frame → ``(N, 133, 3)`` in the target's."""
        if self.ref is None:
            out = kps.copy()
            out[..., :2] *= self.frame_size / self.ref_size
            return out
        return retarget(kps, self.ref, self.target, self.frame_size, self.min_conf)


class CausalPlacement:
    """:class:`Placement` for a stream of poses ``(133, 3)``: the reference's body is measured over
    its last :data:`MEASURE_FRAMES` poses and measured again every :data:`REMEASURE_EVERY` of them
    (a measure that shares no bone with ``target`` is not taken). Until it is measured, or with
    ``target`` None (retargeting off), poses are only rescaled."""

    def __init__(self, target: BodyFrame | None, frame_size: int, ref_size: int, min_conf: float):
        self.target = target
        self.placement = Placement(frame_size, ref_size, min_conf)
        self.seen: deque[np.ndarray] = deque(maxlen=MEASURE_FRAMES)    # (133, 3) poses, oldest first
        self._since = 0

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """The newest reference pose ``(133, 3)`` → ``(133, 3)`` in the target's frame."""
        if self.target is not None:
            self._measure(keypoints)
        return self.placement(keypoints[None])[0]

    def _measure(self, keypoints: np.ndarray) -> None:
        self.seen.append(keypoints)
        self._since += 1
        if self.placement.ref is not None and self._since < REMEASURE_EVERY:
            return
        ref = body_frame(np.stack(self.seen), self.placement.min_conf)
        if ref is not None and size_ratio(ref, self.target) is not None:
            self.placement = replace(self.placement, ref=ref, target=self.target)
            self._since = 0


def smooth_poses(kps: np.ndarray, valid: np.ndarray, window: int, order: int, max_gap: int,
                 min_conf: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Temporally filtered keypoint tracks of a video.

    ``kps: (T, 133, 3)``, ``valid: (T,) bool`` (an invalid frame counts as having no joints) →
    (``(T, 133, 3)`` filtered poses, ``(T,) bool`` frames that had no valid pose and got one from
    interpolation). For each joint, gaps of at most ``max_gap`` frames between confident detections
    are filled linearly (confidence: the smaller of the two ends); each run of consecutive present
    frames is then smoothed by a Savitzky–Golay filter of ``window`` frames and polynomial ``order``
    (shortened to fit a shorter run; runs too short for the order stay as they are). ``window`` 1 or
    ``max_gap`` 0 turns that step off. Joints below ``min_conf`` in detected frames are left alone.
    """
    valid = np.asarray(valid, bool)
    out = np.where(valid[:, None, None], kps, 0.0).astype(np.float32)
    present = out[..., 2] >= min_conf
    t_all = np.arange(len(out))
    for j in range(out.shape[1]):
        frames = np.flatnonzero(present[:, j])
        if not len(frames):
            continue
        gaps = np.diff(frames) - 1
        for a, b in zip(frames[:-1][(gaps > 0) & (gaps <= max_gap)], frames[1:][(gaps > 0) & (gaps <= max_gap)]):
            inside = t_all[a + 1:b]
            w = ((inside - a) / (b - a))[:, None]
            out[a + 1:b, j, :2] = (1 - w) * out[a, j, :2] + w * out[b, j, :2]
            out[a + 1:b, j, 2] = min(out[a, j, 2], out[b, j, 2])
            present[a + 1:b, j] = True
        for start, stop in true_runs(present[:, j]):
            out[start:stop, j, :2] = _savgol_run(out[start:stop, j, :2], window, order)
    refilled = np.zeros(len(out), bool)
    refilled[~valid] = [skeleton.body_scale(kp, min_conf) is not None for kp in out[~valid]]
    return out, refilled


def _savgol_run(xy: np.ndarray, window: int, order: int) -> np.ndarray:
    """One run of consecutive present frames ``xy: (n, ..., 2)``, each track along axis 0 filtered by
    a Savitzky–Golay filter of ``window`` frames (shortened to an odd length that fits the run) and
    polynomial ``order``; at the run's ends the fit over its first / last frames. A run too short
    for the order comes back as it is."""
    length = min(window, len(xy))
    length -= 1 - length % 2
    if length > order and length > 1:
        return savgol_filter(xy, length, order, axis=0, mode="interp")
    return xy


class CausalSmoother:
    """:func:`smooth_poses` for a stream: each new pose ``(133, 3)`` comes out as the newest row
    :func:`smooth_poses` would give over the last ``window`` poses — the same Savitzky–Golay filter
    of each joint's run of present frames, at its end — computed for that row alone, one filter call
    for all joints whose runs are as long (a whole :func:`smooth_poses` call per frame costs a filter
    call per joint). Two choices of its own: the order is capped at 1 (a causal fit's end point is
    noisy at higher orders), and, with no later detection to interpolate towards, a joint missing for
    at most ``max_gap`` poses keeps its last position."""

    def __init__(self, window: int, order: int, max_gap: int, min_conf: float):
        self.window, self.order, self.max_gap, self.min_conf = max(1, window), min(order, 1), max_gap, min_conf
        self.recent: deque[np.ndarray] = deque(maxlen=self.window)   # (133, 3) poses, oldest first, gaps held
        self.missing: np.ndarray | None = None                      # (133,) poses each joint has been missing

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """The newest detected pose ``(133, 3)`` → ``(133, 3)`` smoothed (missing joints as they came)."""
        kps = keypoints.astype(np.float32)
        seen = kps[:, 2] >= self.min_conf
        self.missing = np.where(seen, 0, 1 if self.missing is None else self.missing + 1)
        if self.recent:
            last = self.recent[-1]
            hold = ~seen & (self.missing <= self.max_gap) & (last[:, 2] > 0)
            kps[hold] = last[hold]
        self.recent.append(kps)
        track = np.stack(self.recent)                                  # (n, 133, 3), oldest first
        present = track[::-1, :, 2] >= self.min_conf                   # (n, 133), newest first
        run = np.where(present.all(0), len(track), present.argmin(0))  # (133,) frames up to the newest
        out = kps.copy()
        for length in np.unique(run[run > 0]):
            joints = run == length
            out[joints, :2] = _savgol_run(track[-length:, joints, :2], self.window, self.order)[-1]
        return out


def jitter(kps: np.ndarray, present: np.ndarray) -> float | None:
    """Mean acceleration of the body and feet joints, px/frame²: the length of x(t+1) − 2x(t) + x(t−1)
    averaged over every joint and frame t where ``present: (T, 133) bool`` holds at t−1, t and t+1
    (None when there is no such triple). Still poses score 0; steady motion scores little; detector
    noise of σ px (each axis, independent per frame) scores about 3.1σ."""
    body = slice(0, skeleton.FEET.stop)
    xy, ok = kps[:, body, :2].astype(np.float64), np.asarray(present)[:, body]
    if len(xy) < 3:
        return None
    accel = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1)
    both = ok[2:] & ok[1:-1] & ok[:-2]
    return float(accel[both].mean()) if both.any() else None
