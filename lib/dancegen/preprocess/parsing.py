"""10-part human parsing derived from the person mask and the skeleton.

Section 3.1 of the paper parses the person with a learned network [7]; here every person pixel
goes to the body part whose shape it lies closest to, measured in units of that part's half-width
so a pixel at the edge of a thin forearm and one at the edge of the broad torso both sit at
distance 1. The shapes follow :func:`dancegen.body.skeleton.part_segments` (labels 1..10,
:data:`dancegen.body.skeleton.PARTS`), with the conventions of part-level person parsing (PASCAL-Person-
Part, which [7] labels): the neck and hair belong to the head, the pelvis to the torso, hands to the
lower arms and feet to the lower legs.

* head — a disc around the centre of the face joints, joined to the neck point by a narrower
  capsule;
* torso — a box from the neck to a little past the pelvis (down to the crotch), as wide as the
  shoulders or hips; square ends keep it from reaching into the thighs;
* limbs — capsules around their joint segments, plus segments from the wrist to the fingertips
  (or the forearm carried on past the wrist when no hand was found) and from the ankle to the toes
  and heel.

Where shapes overlap, arms win over the torso (arms crossing the body are usually in front of it)
and the torso wins over the legs (the hip joints sit inside the pelvis, so the thighs' capsules
would otherwise cut into it). Anything else goes to the nearest part.
"""

from __future__ import annotations

import numpy as np

from dancegen.body import skeleton
from dancegen.body.skeleton import J

_LABEL = {p.name: p.label for p in skeleton.PARTS}
_ARMS = tuple(_LABEL[n] for n in ("left_upper_arm", "left_lower_arm", "right_upper_arm", "right_lower_arm"))
_LEGS = tuple(_LABEL[n] for n in ("left_upper_leg", "left_lower_leg", "right_upper_leg", "right_lower_leg"))
# The crotch lies below the line between the hip joints by about this × the torso length.
_PELVIS_DEPTH = 0.15
# Neck radius as a fraction of the head's.
_NECK_RADIUS = 0.5
# How far the forearm is carried past the wrist to cover a hand that was not detected.
_HAND_EXTENSION = 0.45
_FINGERTIPS = (4, 8, 12, 16, 20)   # relative to the hand's wrist index
_HAND_WRIST = {"left_lower_arm": skeleton.LEFT_HAND.start, "right_lower_arm": skeleton.RIGHT_HAND.start}
_FOOT_POINTS = {
    "left_lower_leg": (J["left_big_toe"], J["left_small_toe"], J["left_heel"]),
    "right_lower_leg": (J["right_big_toe"], J["right_small_toe"], J["right_heel"]),
}


def _segment_sqdist(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distance of the points ``x, y: (N,)`` to the segment a–b, ``(N,)``."""
    abx, aby = float(b[0] - a[0]), float(b[1] - a[1])
    dx, dy = x - float(a[0]), y - float(a[1])
    denom = abx * abx + aby * aby
    if denom > 1e-9:
        s = np.clip((dx * abx + dy * aby) * (1.0 / denom), 0.0, 1.0)
        dx = dx - s * abx
        dy = dy - s * aby
    return dx * dx + dy * dy


def _box_distance(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: float) -> np.ndarray:
    """Distance of the points ``x, y: (N,)`` from the axis of the box around a–b, in half-widths.

    The box spans ``half_width`` either side of the segment and ends square at a and b; inside it
    the distance is the offset across the axis (≤ 1), past its ends 1 + the overshoot, so the box
    stops at a and b instead of growing round caps.
    """
    abx, aby = float(b[0] - a[0]), float(b[1] - a[1])
    length = float(np.hypot(abx, aby))
    dx, dy = x - float(a[0]), y - float(a[1])
    if length < 1e-6:
        return np.sqrt(dx * dx + dy * dy) / half_width
    ux, uy = abx / length, aby / length
    along = dx * ux + dy * uy
    across = np.abs(dx * uy - dy * ux)
    beyond = np.maximum(-along, along - length)
    return np.where(beyond > 0, np.maximum(across, half_width + beyond), across) / half_width


def _limb_segments(name: str, start: np.ndarray, end: np.ndarray, kp: np.ndarray,
                   min_conf: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The segments whose capsules make up limb ``name``: its own plus its hand or foot."""
    segments = [(start, end)]
    if name in _HAND_WRIST:
        wrist = _HAND_WRIST[name]
        tips = [kp[wrist + i, :2].astype(np.float64) for i in _FINGERTIPS if kp[wrist + i, 2] >= min_conf]
        if tips and kp[wrist, 2] >= min_conf:
            segments += [(end, tip) for tip in tips]
        else:
            segments.append((end, end + _HAND_EXTENSION * (end - start)))
    for i in _FOOT_POINTS.get(name, ()):
        if kp[i, 2] >= min_conf:
            segments.append((end, kp[i, :2].astype(np.float64)))
    return segments


def _part_distance(name: str, seg: tuple[np.ndarray, np.ndarray, float], x: np.ndarray, y: np.ndarray,
                   kp: np.ndarray, min_conf: float) -> np.ndarray:
    start, end, width = seg
    half = max(width / 2.0, 1.0)
    if name == "head":
        disc = _segment_sqdist(x, y, end, end) / half ** 2
        neck = _segment_sqdist(x, y, start, end) / (_NECK_RADIUS * half) ** 2
        return np.sqrt(np.minimum(disc, neck))
    if name == "torso":
        bottom = end + _PELVIS_DEPTH * (end - start)
        return _box_distance(x, y, start, bottom, half)
    sq = [_segment_sqdist(x, y, a, b) for a, b in _limb_segments(name, start, end, kp, min_conf)]
    return np.sqrt(np.minimum.reduce(sq)) / half


def part_distances(x: np.ndarray, y: np.ndarray, keypoints: np.ndarray,
                   min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every point to every detected part's shape, in units of the part's half-width.

    ``x, y: (N,)`` float32 pixels; ``keypoints: (133, 3)``, those below ``min_conf`` missing. Returns
    ``(labels: (P,) int, dist: (P, N))`` for the P parts whose joints were found (labels of
    :data:`skeleton.PARTS`); a distance ≤ 1 means inside the shape.
    """
    segs = skeleton.part_segments(keypoints, min_conf)
    labels, rows = [], []
    for part in skeleton.PARTS:
        seg = segs[part.name]
        if seg is None:
            continue
        labels.append(part.label)
        rows.append(_part_distance(part.name, seg, x, y, keypoints, min_conf))
    if not rows:
        return np.zeros(0, int), np.zeros((0, len(x)), np.float32)
    return np.asarray(labels), np.stack(rows)


def _resolve_overlaps(labels: np.ndarray, dist: np.ndarray) -> None:
    """Arms over the torso, torso over the legs (see the module docstring); edits ``dist`` in place."""
    torso = np.flatnonzero(labels == _LABEL["torso"])
    if len(torso) == 0:
        return
    legs = np.isin(labels, _LEGS)
    dist[np.ix_(legs, dist[torso[0]] <= 1.0)] = np.inf
    arms = np.isin(labels, _ARMS)
    if arms.any():
        dist[torso[0], dist[arms].min(axis=0) <= 1.0] = np.inf


def parse_parts(mask: np.ndarray, keypoints: np.ndarray, threshold: float, min_conf: float) -> np.ndarray:
    """Label every person pixel with one of the 10 parts.

    ``mask: (S, S) uint8`` person probability × 255; ``keypoints: (133, 3)`` x, y, confidence in
    pixels of the same frame. Returns ``parsing: (S, S) uint8`` — 0 outside the mask (pixels below
    ``threshold`` × 255), else a label 1..10. Parts whose joints are missing (below ``min_conf``,
    ``posemap.min_conf`` as for the part transforms) take no pixels; with no part at all the map is all 0.
    """
    parsing = np.zeros(mask.shape, np.uint8)
    ys, xs = np.nonzero(mask >= threshold * 255.0)
    if len(xs) == 0:
        return parsing
    # Keypoints are continuous coordinates: pixel (row i, col j) has its centre at (j + 0.5, i + 0.5).
    labels, dist = part_distances(xs.astype(np.float32) + 0.5, ys.astype(np.float32) + 0.5, keypoints, min_conf)
    if len(labels) == 0:
        return parsing
    _resolve_overlaps(labels, dist)
    parsing[ys, xs] = labels[np.argmin(dist, axis=0)]
    return parsing
