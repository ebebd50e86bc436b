"""Motion-transfer geometry: map a reference person's poses onto the target's body and pick inputs.

* :func:`body_frame` / :func:`retarget` — global pose normalisation: scale and translate reference
  poses so the reference person's height and floor position match the target's (the body-size
  mismatch users of motion-transfer tools complain about most).
* :func:`nearest_poses` — for each reference pose, the personal training frame whose pose is
  nearest (normalised keypoint distance: centred and scaled by body size, :func:`skeleton.normalize_body`).

All keypoint arrays are ``(N, 133, 3) float32`` x, y, confidence in pixels (COCO-WholeBody order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancegen import skeleton
from dancegen.skeleton import J

_HEAD = np.array([J["nose"], J["left_eye"], J["right_eye"], J["left_ear"], J["right_ear"]])
_FEET = np.array([J["left_ankle"], J["right_ankle"], J["left_heel"], J["right_heel"],
                  J["left_big_toe"], J["right_big_toe"]])
_PELVIS = np.array([J["left_hip"], J["right_hip"]])


@dataclass(frozen=True)
class BodyFrame:
    """Robust size and placement of one person over a video, in pixels."""

    height: float    # median head-to-feet extent
    floor_y: float   # median y of the lowest foot point
    centre_x: float  # median x of the pelvis


def _per_frame(kps: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head top y, lowest foot y and pelvis x per frame (NaN where missing)."""
    conf = kps[..., 2] >= min_conf
    y, x = kps[..., 1], kps[..., 0]
    head = np.where(conf[:, _HEAD], y[:, _HEAD], np.inf).min(1)
    feet = np.where(conf[:, _FEET], y[:, _FEET], -np.inf).max(1)
    pelvis_ok = conf[:, _PELVIS].all(1)
    pelvis = np.where(pelvis_ok, x[:, _PELVIS].mean(1), np.nan)
    head[~np.isfinite(head)] = np.nan
    feet[~np.isfinite(feet)] = np.nan
    return head, feet, pelvis


def body_frame(kps: np.ndarray, min_conf: float = 0.3) -> BodyFrame | None:
    """The :class:`BodyFrame` of a video's poses ``(N, 133, 3)``, or None with no full body seen."""
    head, feet, pelvis = _per_frame(kps, min_conf)
    height = feet - head
    ok = np.isfinite(height) & (height > 1.0)
    if not ok.any() or not np.isfinite(pelvis).any():
        return None
    return BodyFrame(float(np.median(height[ok])), float(np.median(feet[np.isfinite(feet)])),
                     float(np.nanmedian(pelvis)))


def retarget(ref_kps: np.ndarray, ref: BodyFrame, target: BodyFrame) -> np.ndarray:
    """Scale/translate reference poses ``(N, 133, 3)`` so ``ref``'s height and floor become ``target``'s.

    A point on the reference floor lands on the target floor, the reference pelvis column on the
    target's; confidences are kept and missing points stay missing.
    """
    s = target.height / ref.height
    out = ref_kps.copy()
    present = out[..., 2] > 0
    out[..., 0] = np.where(present, target.centre_x + (ref_kps[..., 0] - ref.centre_x) * s, 0.0)
    out[..., 1] = np.where(present, target.floor_y + (ref_kps[..., 1] - ref.floor_y) * s, 0.0)
    return out


def _normalised(kps: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 17, 2)`` normalised body joints and ``(N, 17)`` presence (all False where no scale)."""
    xy = np.zeros((len(kps), 17, 2), np.float32)
    present = np.zeros((len(kps), 17), bool)
    for i, kp in enumerate(kps):
        norm = skeleton.normalize_body(kp, min_conf)
        if norm is not None:
            xy[i], present[i] = norm
    return xy, present


def pose_distances(query: np.ndarray, pool: np.ndarray, min_conf: float = 0.3,
                   chunk: int = 256) -> np.ndarray:
    """Normalised keypoint distance of every query pose to every pool pose: ``(Nq, Np)``.

    Distance = mean Euclidean distance over the body joints present in both (inf if none shared).
    """
    qxy, qp = _normalised(query, min_conf)
    pxy, pp = _normalised(pool, min_conf)
    out = np.empty((len(query), len(pool)), np.float32)
    for a in range(0, len(query), chunk):
        d = np.linalg.norm(qxy[a:a + chunk, None] - pxy[None], axis=-1)       # (c, Np, 17)
        both = qp[a:a + chunk, None] & pp[None]
        n = both.sum(-1)
        out[a:a + chunk] = np.where(n > 0, (d * both).sum(-1) / np.maximum(n, 1), np.inf)
    return out


def nearest_poses(query: np.ndarray, pool: np.ndarray, min_conf: float = 0.3) -> np.ndarray:
    """Index into ``pool`` of the nearest pose for each query pose: ``(Nq,) int``."""
    return pose_distances(query, pool, min_conf).argmin(axis=1)
