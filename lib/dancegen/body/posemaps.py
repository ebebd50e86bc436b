"""Pose maps of section 3.2: each body part and landmark group as a Gaussian-smoothed shape.

One pose is ``maps: (15, S, S) float32`` in [0, 1]:
  channels 0–9   the parts in :data:`skeleton.PARTS` order — a solid rectangle along the part's
                 segment (limbs, torso) or a solid disc (head), then blurred;
  channels 10–14 the landmark groups in :data:`skeleton.LANDMARK_GROUPS` order (face, left hand,
                 right hand, left foot, right foot) — a small disc at every confident point, blurred.
A part or group that is missing in the pose leaves its channel zero. Shapes are drawn with their
pixel coverage (anti-aliased), so they keep their true area and move smoothly by fractions of a pixel.

The K-pose stack of the temporal smoothing is ``(15·K, S, S)``, current pose first: channels
0–14 are P^t, 15–29 are P^{t-1}, and so on.

:func:`draw_skeleton` draws a pose as a stick figure over a picture, for people to look at.

Sizes: ``sigma`` and ``landmark_radius`` of :class:`PosemapParams` are pixels of a
:data:`REFERENCE_SIZE`² map and scale with the map side, so a 64² map looks like the 128² map
downsampled. Keypoints are continuous pixel coordinates of the ``src_size`` frame (pixel i covers
[i, i+1)), the convention torch uses with ``align_corners=False``.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from dancegen.core.config import PosemapParams
from dancegen.body.skeleton import (BODY_EDGES, JOINT_NAMES, LANDMARK_GROUPS, NUM_LANDMARK_GROUPS, NUM_PARTS, PARTS,
                               part_segments)

REFERENCE_SIZE = 128
CHANNELS = NUM_PARTS + NUM_LANDMARK_GROUPS


def _unit_clip(x: np.ndarray) -> np.ndarray:
    """x clipped to [0, 1] in place (np.clip's wrapper costs more than the work on these small windows)."""
    return np.maximum(np.minimum(x, 1.0, out=x), 0.0, out=x)


def _overlap(centre: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Length of [centre - 0.5, centre + 0.5] inside [lo, hi]: a pixel's coverage along one axis."""
    return _unit_clip(np.minimum(centre + 0.5, hi) - np.maximum(centre - 0.5, lo))


def _paint(plane: np.ndarray, lo: tuple[float, float], hi: tuple[float, float],
           coverage: Callable[[np.ndarray, np.ndarray], np.ndarray], sigma: float) -> None:
    """Write the blurred ``coverage(xs: (1, w), ys: (h, 1))`` of a shape lying in the box [lo, hi].

    Only a window around the shape is computed (most of a channel is empty). It reaches 3 sigma past
    the shape, so its own edges stay zero; where it meets the map edge, replicating the border lets
    a part cut by the frame run on out of it.
    """
    reach = math.ceil(3 * sigma) if sigma > 0 else 0
    size = plane.shape[0]
    x0, y0 = (max(math.floor(v) - 1 - reach, 0) for v in lo)
    x1, y1 = (min(math.ceil(v) + 1 + reach, size) for v in hi)
    if x0 >= x1 or y0 >= y1:
        return
    cover = coverage(np.arange(x0, x1)[None, :] + 0.5, np.arange(y0, y1)[:, None] + 0.5).astype(np.float32)
    if reach:
        cover = cv2.GaussianBlur(cover, (2 * reach + 1, 2 * reach + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    plane[y0:y1, x0:x1] = cover


def _draw_rect(plane: np.ndarray, a: np.ndarray, b: np.ndarray, width: float, sigma: float) -> None:
    """The blurred rectangle of ``width`` whose centre line runs from a to b.

    Pixel coverage rather than cv2's whole-pixel fill: cv2 widens every shape by about a pixel and
    makes it jump as it moves, which at 64² doubles a lower arm and makes the maps flicker.
    """
    (ax, ay), (bx, by) = a, b
    length = math.hypot(bx - ax, by - ay)
    # An end-on limb has no direction; it still covers a width-long stroke, any orientation.
    dx, dy = ((bx - ax) / length, (by - ay) / length) if length > 1e-6 else (1.0, 0.0)
    hx, hy = -dy * width / 2, dx * width / 2
    corner_x = (ax + hx, ax - hx, bx + hx, bx - hx)
    corner_y = (ay + hy, ay - hy, by + hy, by - hy)

    def coverage(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        u = (xs - ax) * dx + (ys - ay) * dy
        v = (ys - ay) * dx - (xs - ax) * dy
        return _overlap(u, 0.0, length) * _overlap(v, -width / 2, width / 2)

    _paint(plane, (min(corner_x), min(corner_y)), (max(corner_x), max(corner_y)), coverage, sigma)


def _draw_discs(plane: np.ndarray, centres: np.ndarray, radius: float, sigma: float) -> None:
    """The blurred union of the discs ``centres: (N, 2)`` of one ``radius``."""
    # A one-pixel ramp across the rim adds pi/12 to the area; shrinking the radius takes it back.
    inner = math.sqrt(max(radius ** 2 - 1.0 / 12.0, 0.0))

    def coverage(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        dist2 = np.min((xs[..., None] - centres[:, 0]) ** 2 + (ys[..., None] - centres[:, 1]) ** 2, axis=-1)
        return _unit_clip(inner + 0.5 - np.sqrt(dist2))

    lo, hi = centres.min(0) - radius, centres.max(0) + radius
    _paint(plane, tuple(lo), tuple(hi), coverage, sigma)


def pose_maps(kp: np.ndarray, src_size: int, out_size: int, params: PosemapParams) -> np.ndarray:
    """The 15 pose-map channels of one pose.

    ``kp: (133, 3)`` x, y, confidence in pixels of the ``src_size``² frame →
    ``(15, out_size, out_size) float32`` in [0, 1] (layout in the module docstring). Rectangles are
    as long as the part's segment and ``limb_width`` × the part's schema width wide; the head disc
    has the head's schema width as diameter; landmark discs have radius ``landmark_radius``.
    """
    maps = np.zeros((CHANNELS, out_size, out_size), np.float32)
    _draw_pose(maps, kp, out_size / src_size, params)
    return maps


def part_maps(kp: np.ndarray, src_size: int, out_size: int, params: PosemapParams) -> np.ndarray:
    """Channels 0–9 of :func:`pose_maps` (the parts, not the landmark groups), ``(10, out_size,
    out_size) float32``, drawn alone: the same values at about half the cost."""
    maps = np.zeros((NUM_PARTS, out_size, out_size), np.float32)
    _draw_pose(maps, kp, out_size / src_size, params, landmarks=False)
    return maps


def stacked_pose_maps(kps: np.ndarray, src_size: int, out_size: int, params: PosemapParams) -> np.ndarray:
    """The temporal stack of section 3.2.

    ``kps: (K, 133, 3)`` ordered current pose first (t, t-1, t-2, …, as :func:`history_indices`
    returns them) → ``(15·K, out_size, out_size) float32``, pose k in channels 15k … 15k+14.
    """
    maps = np.zeros((CHANNELS * len(kps), out_size, out_size), np.float32)
    for k, kp in enumerate(kps):
        _draw_pose(maps[CHANNELS * k:CHANNELS * (k + 1)], kp, out_size / src_size, params)
    return maps


def _draw_pose(maps: np.ndarray, kp: np.ndarray, scale: float, params: PosemapParams, landmarks: bool = True) -> None:
    """Draw ``kp: (133, 3)`` scaled by ``scale`` into the zeroed ``maps: (15, S, S)`` (without
    ``landmarks``: only the parts, into ``(10, S, S)``)."""
    unit = maps.shape[-1] / REFERENCE_SIZE
    sigma = params.sigma * unit
    segments = part_segments(kp, params.min_conf)
    for c, part in enumerate(PARTS):
        segment = segments[part.name]
        if segment is None:
            continue
        a, b, width = segment
        if part.shape == "circle":
            _draw_discs(maps[c], b[None] * scale, width * scale / 2.0, sigma)
        else:
            _draw_rect(maps[c], a * scale, b * scale, width * scale * params.limb_width, sigma)
    if not landmarks:
        return
    for g, joints in enumerate(LANDMARK_GROUPS.values()):
        points = kp[list(joints)]
        points = points[points[:, 2] >= params.min_conf, :2].astype(np.float64)
        if len(points):
            _draw_discs(maps[NUM_PARTS + g], points * scale, params.landmark_radius * unit, sigma)


# Stick-figure colours (RGB): the person's left side, right side, and the middle (head, torso).
SKELETON_COLOURS = {"left": (255, 140, 0), "right": (0, 160, 255), "middle": (255, 255, 255)}


def _side(joint: int) -> str:
    name = JOINT_NAMES[joint]
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "middle"


def draw_skeleton(image: np.ndarray, kp: np.ndarray, scale: float, min_conf: float) -> np.ndarray:
    """A copy of ``image: (H, W, 3) uint8 RGB`` with the pose ``kp: (133, 3)`` drawn on it, its
    coordinates multiplied by ``scale``: the body's bones as lines (the person's left orange, right
    blue), its joints as dots, face and hand points as small dots. Points below ``min_conf`` are left out."""
    out = np.ascontiguousarray(image).copy()
    thick = max(1, round(out.shape[0] / 128))
    xy = np.rint(kp[:, :2] * scale).astype(int)
    ok = kp[:, 2] >= min_conf
    for a, b in BODY_EDGES:
        if ok[a] and ok[b]:
            side = _side(a) if _side(a) == _side(b) else "middle"
            cv2.line(out, tuple(xy[a]), tuple(xy[b]), SKELETON_COLOURS[side], thick, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        radius = thick + 1 if j < 23 else max(1, thick // 2)
        cv2.circle(out, tuple(xy[j]), radius, SKELETON_COLOURS[_side(j)], -1, cv2.LINE_AA)
    return out


def history_indices(t: int, valid: np.ndarray, K: int) -> list[int]:
    """Frame indices of the K poses ending at frame t, current first: ``[t, t-1, …, t-K+1]``.

    ``valid: (T,) bool`` marks frames with a usable pose; frame t must be one. Where t-k is
    invalid, the nearest valid frame before it stands in; where none is left (the start of the
    video) the previous entry repeats, so the list never goes forward in time and starts at t.
    """
    if not 0 <= t < len(valid):
        raise IndexError(f"frame {t} is outside a video of {len(valid)} frames")
    if not valid[t]:
        raise ValueError(f"frame {t} has no valid pose to condition on")
    indices = [t]
    for k in range(1, K):
        j = t - k
        while j >= 0 and not valid[j]:
            j -= 1
        indices.append(j if j >= 0 else indices[-1])
    return indices
