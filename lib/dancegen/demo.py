"""The built-in demo: two procedurally rendered dance videos of a human figure, with ground truth.

No real video may be committed, so the project renders its own. Everything is deterministic from
``(role, seed)``; ``role`` is ``"personal"`` (the target person, tall and slim, red T-shirt, jeans, in
a living room) or ``"reference"`` (the driving dancer: shorter and stockier, long-sleeved striped
top, in a brick-walled studio, placed lower-left and smaller in its frame, with its own moves).

The dance is a random order of the role's moves followed by random repeats (so the last 15% of
the personal video revisits earlier poses), smoothly interpolated. The figure is posed in 3-D
(orthographic camera looking down by :data:`_ELEVATION`), drawn with anti-aliased signed-distance
shapes (shaded capsules, ellipses, a tapered torso) and OpenCV polygons, and composited over a
textured scene with a soft floor shadow and a slow global lighting drift. Joints sit where
MediaPipe puts them (measured: 100% detected, ~2 px mean body-joint error at 256 px).

Public API (``ROLES = ("personal", "reference")``; ``T = round(seconds * fps)``)
  ``render_video(role, seconds, size, fps, seed) -> Iterator[DemoFrame]`` — one
  :class:`DemoFrame` per frame: ``frame (S, S, 3) uint8 RGB``, ``keypoints (133, 3) float32``
  (x, y pixels, confidence 1 for every point — all 133 COCO-WholeBody points are defined),
  ``mask (S, S) uint8`` 0/255 true person mask, ``parts (S, S) uint8`` 0 background, 1..10 the parts of
  :data:`dancegen.skeleton.PARTS` (neck and hair count as head, hands as lower arms, shoes as lower legs).
  Pixel coordinates are continuous: the image spans [0, S] and pixel (row i, col j) is centred at
  (j + 0.5, i + 0.5). Short renders are cheap (the scene is built once per role/size/seed).
  ``true_keypoints(role, seconds, size, fps, seed) -> (T, 133, 3) float32`` — the same keypoints
  without drawing (about 1 ms a frame).
  ``true_background(role, size, seed) -> (S, S, 3) uint8 RGB`` — the scene without figure or shadow,
  at neutral lighting.
  ``write_demo(out_dir, params)`` — ``<role>.mp4`` (H.264) and ``<role>_truth.h5`` for both roles,
  and ``scene.png``, a new scene for the composite of motion transfer (:func:`write_scene`).

Truth file ``<role>_truth.h5``
  ``keypoints``  (T, 133, 3) float32 x, y, confidence
  ``mask``       (T, S, S) uint8 0/255
  ``parts``      (T, S, S) uint8 0..10
  ``background`` (S, S, 3) uint8 RGB
  image datasets chunked one frame per chunk, gzip; attrs ``fps``, ``size``, ``seed``, ``role``,
  ``schema``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import cv2
import h5py
import numpy as np
from scipy.interpolate import PchipInterpolator
from tqdm import tqdm

from dancegen import skeleton
from dancegen.config import DemoParams
from dancegen.errors import DanceGenError
from dancegen.store import atomic_path
from dancegen.video import VideoWriter

ROLES = ("personal", "reference")

_ELEVATION = np.deg2rad(12.0)               # camera looks down a little, so the floor and feet show
_LIGHT = np.array([-0.40, -0.50, 0.77])     # towards the light, (x right, y down, z to camera)
_LIGHT = _LIGHT / np.linalg.norm(_LIGHT)
_SIDE = {"l": 1.0, "r": -1.0}               # the person's left is the image's right when frontal


# ----------------------------------------------------------------------------- who is dancing

@dataclass(frozen=True)
class _Body:
    """Proportions in units of the standing height (floor to crown = 1 after :func:`_normalised`)."""

    ankle_h: float
    shin: float
    thigh: float
    torso: float          # shoulder joints to hip joints, vertically
    neck: float           # shoulder joints to chin
    head_b: float         # head half-height
    head_a: float         # head half-width
    shoulder_half: float  # midline to shoulder joint
    hip_half: float       # midline to hip joint
    stance_half: float    # midline to ankle at rest
    upper_arm: float
    forearm: float
    palm: float
    finger: float
    torso_w: tuple[float, float, float, float]   # half-widths at shoulders, chest, waist, hips
    r_upper_arm: tuple[float, float]
    r_forearm: tuple[float, float]
    r_thigh: tuple[float, float]
    r_shin: tuple[float, float]
    r_palm: float
    r_neck: float

    @property
    def hip_h(self) -> float:
        return self.ankle_h + self.shin + self.thigh


def _normalised(body: _Body) -> _Body:
    total = body.ankle_h + body.shin + body.thigh + body.torso + body.neck + 2 * body.head_b
    scaled = {}
    for f in dataclasses.fields(body):
        v = getattr(body, f.name)
        scaled[f.name] = tuple(x / total for x in v) if isinstance(v, tuple) else v / total
    return _Body(**scaled)


@dataclass(frozen=True)
class _Look:
    """Colours (RGB in 0..1) and clothing cut."""

    skin: tuple[float, float, float]
    shirt: tuple[float, float, float]
    stripe: tuple[float, float, float] | None    # horizontal stripes on the top, or plain
    long_sleeves: bool
    pants: tuple[float, float, float]
    shoe: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    bun: bool


@dataclass(frozen=True)
class _Role:
    body: _Body
    look: _Look
    height: float    # standing height as a fraction of the frame side
    floor: float     # y of the floor under the feet, fraction of the side
    centre: float    # x of the stance centre, fraction of the side
    moves: tuple[str, ...]


_ROLES = {
    "personal": _Role(
        body=_normalised(_Body(
            ankle_h=0.045, shin=0.245, thigh=0.23, torso=0.305, neck=0.045, head_b=0.065,
            head_a=0.05, shoulder_half=0.10, hip_half=0.065, stance_half=0.075,
            upper_arm=0.17, forearm=0.15, palm=0.055, finger=0.045,
            torso_w=(0.125, 0.11, 0.092, 0.11), r_upper_arm=(0.030, 0.024), r_forearm=(0.024, 0.017),
            r_thigh=(0.052, 0.035), r_shin=(0.034, 0.024), r_palm=0.02, r_neck=0.031)),
        look=_Look(skin=(0.87, 0.68, 0.56), shirt=(0.80, 0.19, 0.17), stripe=None, long_sleeves=False,
                   pants=(0.19, 0.29, 0.50), shoe=(0.93, 0.93, 0.90), hair=(0.25, 0.15, 0.09),
                   lips=(0.72, 0.36, 0.36), bun=False),
        height=0.64, floor=0.92, centre=0.5,
        moves=("wave_l", "wave_r", "raise", "knee_bend", "hip_sway", "lean_l", "lean_r",
               "step_l", "step_r", "turn_l", "turn_r", "swing"),
    ),
    "reference": _Role(
        body=_normalised(_Body(
            ankle_h=0.045, shin=0.225, thigh=0.212, torso=0.305, neck=0.05, head_b=0.072,
            head_a=0.058, shoulder_half=0.112, hip_half=0.07, stance_half=0.09,
            upper_arm=0.155, forearm=0.135, palm=0.055, finger=0.04,
            torso_w=(0.14, 0.13, 0.12, 0.13), r_upper_arm=(0.037, 0.030), r_forearm=(0.030, 0.021),
            r_thigh=(0.064, 0.044), r_shin=(0.043, 0.030), r_palm=0.023, r_neck=0.036)),
        look=_Look(skin=(0.58, 0.40, 0.29), shirt=(0.09, 0.52, 0.50), stripe=(0.88, 0.86, 0.76),
                   long_sleeves=True, pants=(0.17, 0.17, 0.20), shoe=(0.78, 0.12, 0.12),
                   hair=(0.07, 0.05, 0.05), lips=(0.45, 0.22, 0.22), bun=True),
        height=0.52, floor=0.87, centre=0.42,
        moves=("disco", "bounce", "windmill", "airplane", "step_touch", "twist"),
    ),
}


def _role(role: str) -> _Role:
    if role not in _ROLES:
        raise DanceGenError("demo", f"unknown role '{role}'; known: {', '.join(ROLES)}")
    return _ROLES[role]


# ----------------------------------------------------------------------------- choreography

_POSE_KEYS = ("sway", "drop", "lean", "yaw", "tilt", "l_abd", "l_flex", "l_elb", "r_abd", "r_flex",
              "r_elb", "l_foot", "r_foot", "l_lift", "r_lift")
"""Pose parameters (units of height and radians). ``sway``: pelvis offset from between the feet;
``drop``: pelvis lowered (knee bend); ``lean``: upper body roll, + to the image right; ``yaw``: turn;
``tilt``: head roll; ``*_abd``: upper arm angle from hanging (pi = straight up), in the body plane;
``*_flex``: arm raised towards the camera; ``*_elb``: forearm angle beyond the upper arm;
``*_foot``: ankle x offset from rest; ``*_lift``: ankle raised."""

_REST = {k: 0.0 for k in _POSE_KEYS} | {"l_abd": 0.2, "r_abd": 0.2, "l_flex": 0.05, "r_flex": 0.05,
                                        "l_elb": 0.15, "r_elb": 0.15}

Keyframes = list[tuple[float, dict[str, float]]]   # (seconds since the previous key, pose overrides)


def _arms(l_abd: float, r_abd: float, l_elb: float = 0.2, r_elb: float = 0.2, flex: float = 0.05) -> dict:
    return {"l_abd": l_abd, "r_abd": r_abd, "l_elb": l_elb, "r_elb": r_elb, "l_flex": flex, "r_flex": flex}


def _wave(side: str) -> Keyframes:
    up = {f"{side}_abd": 1.65, f"{side}_elb": 0.35, "tilt": 0.06 * _SIDE[side]}
    keys = [(0.6, up)]
    for i in range(6):
        keys.append((0.33, up | {f"{side}_elb": 1.35 if i % 2 == 0 else 0.35}))
    return keys + [(0.6, {})]


def _step(sign: float, width: float, beat: float) -> Keyframes:
    lead, trail = ("l", "r") if sign > 0 else ("r", "l")
    d = sign * width
    arms = _arms(0.55, 0.55, 0.6, 0.6, 0.3)
    out = [(beat, arms | {f"{lead}_foot": d / 2, f"{lead}_lift": 0.05, "sway": d * 0.15}),
           (beat, arms | {f"{lead}_foot": d, "sway": d * 0.3}),
           (beat, arms | {f"{lead}_foot": d, f"{trail}_foot": d / 2, f"{trail}_lift": 0.05, "sway": d * 0.1}),
           (beat, arms | {f"{lead}_foot": d, f"{trail}_foot": d}),
           (beat, arms | {f"{lead}_foot": d, f"{trail}_foot": d / 2, f"{trail}_lift": 0.05, "sway": -d * 0.1}),
           (beat, arms | {f"{lead}_foot": d, "sway": -d * 0.3}),
           (beat, arms | {f"{lead}_foot": d / 2, f"{lead}_lift": 0.05, "sway": -d * 0.15})]
    return out + [(beat, {})]


def _moves(name: str) -> Keyframes:
    """The keyframes of one named move; each ends at the rest pose so moves chain in any order."""
    if name in ("wave_l", "wave_r"):
        return _wave(name[-1])
    if name == "raise":
        up = _arms(2.75, 2.75, 0.25, 0.25)
        return [(0.9, up), (0.5, up | {"drop": 0.015}), (0.4, up), (0.9, {})]
    if name == "knee_bend":
        low = _arms(0.75, 0.75, 0.9, 0.9, 0.6) | {"drop": 0.06}
        high = _arms(0.45, 0.45, 0.5, 0.5, 0.3)
        return [(0.6, low), (0.5, high), (0.5, low), (0.5, high), (0.5, {})]
    if name == "hip_sway":
        keys = [(0.45, _arms(0.45, 0.45) | {"sway": s * 0.035, "lean": -s * 0.07, "tilt": s * 0.08})
                for s in (1, -1, 1, -1)]
        return keys + [(0.5, {})]
    if name in ("lean_l", "lean_r"):
        s = 1.0 if name == "lean_l" else -1.0     # lean_l bends towards the person's left
        far, near = ("r", "l") if s > 0 else ("l", "r")
        pose = {"lean": s * 0.2, "sway": -s * 0.03, f"{far}_abd": 2.5, f"{far}_elb": 0.5,
                f"{near}_abd": 0.35, f"{near}_elb": 0.4}
        return [(0.8, pose), (0.5, pose), (0.8, {})]
    if name in ("step_l", "step_r"):
        return _step(1.0 if name == "step_l" else -1.0, 0.13, 0.3)
    if name in ("turn_l", "turn_r"):
        pose = _arms(0.9, 0.9, 0.7, 0.7, 0.2) | {"yaw": (0.55 if name == "turn_l" else -0.55)}
        return [(1.0, pose), (0.6, pose), (1.0, {})]
    if name == "swing":
        return [(0.5, _arms(2.2, 0.5, 0.3, 0.3) | {"sway": 0.02}), (0.5, _arms(0.5, 2.2, 0.3, 0.3) | {"sway": -0.02}),
                (0.5, _arms(2.2, 0.5, 0.3, 0.3) | {"sway": 0.02}), (0.5, _arms(0.5, 2.2, 0.3, 0.3) | {"sway": -0.02}),
                (0.5, {})]
    if name == "disco":
        keys = []
        for s in (1, -1, 1, -1):
            up, down = ("l", "r") if s > 0 else ("r", "l")
            keys.append((0.45, {f"{up}_abd": 2.45, f"{up}_elb": 0.05, f"{down}_abd": 0.35, f"{down}_elb": 0.1,
                                "sway": s * 0.03, "lean": -s * 0.05, "tilt": s * 0.1}))
        return keys + [(0.5, {})]
    if name == "bounce":
        fists = _arms(1.0, 1.0, 1.6, 1.6, 0.2)
        keys = [(0.3, fists)]
        for i in range(6):
            keys.append((0.25, fists | {"drop": 0.045 if i % 2 == 0 else 0.0}))
        return keys + [(0.4, {})]
    if name == "windmill":
        angles = (1.5, 2.8, 1.5, 0.3, 1.5, 2.8, 1.5)
        keys = [(0.4, _arms(angles[i], angles[(i + 2) % len(angles)], 0.1, 0.1)) for i in range(len(angles))]
        return keys + [(0.5, {})]
    if name == "airplane":
        wings = _arms(1.55, 1.55, 0.05, 0.05)
        keys = [(0.6, wings)] + [(0.55, wings | {"lean": s * 0.16, "sway": -s * 0.02}) for s in (1, -1, 1, -1)]
        return keys + [(0.6, wings), (0.6, {})]
    if name == "step_touch":
        return _step(1.0, 0.09, 0.22) + _step(-1.0, 0.09, 0.22)
    if name == "twist":
        keys = [(0.35, _arms(0.8, 0.8, 1.2, 1.2, 0.4) | {"yaw": s * 0.4, "drop": 0.03}) for s in (1, -1, 1, -1)]
        return keys + [(0.45, {})]
    raise DanceGenError("demo", f"unknown move '{name}'")


def _choreography(role: str, n_frames: int, fps: int, seed: int) -> np.ndarray:
    """Smooth pose curves ``(T, P) float64``, columns in :data:`_POSE_KEYS` order.

    A random order of the role's moves, then random repeats of them (so the end of a long video
    revisits earlier poses), each with jittered amplitude and tempo, interpolated monotonically
    (PCHIP) between keyframes, plus a little idle sway.
    """
    spec = _role(role)
    rng = np.random.default_rng([seed, ROLES.index(role)])
    seconds = n_frames / fps
    names = list(rng.permutation(spec.moves))
    times, values = [0.0, 0.4], [_REST, _REST]
    while times[-1] < seconds + 1.0:
        if not names:
            names = [rng.choice(spec.moves)]
        name = names.pop(0)
        amp, tempo = rng.uniform(0.85, 1.1), rng.uniform(0.85, 1.15)
        for dt, pose in _moves(name):
            times.append(times[-1] + dt * tempo)
            values.append({k: _REST[k] + amp * (pose.get(k, _REST[k]) - _REST[k]) for k in _POSE_KEYS})
    keys = np.array([[v[k] for k in _POSE_KEYS] for v in values])
    t = np.arange(n_frames) / fps
    curves = PchipInterpolator(np.array(times), keys, axis=0)(t)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    curves[:, _POSE_KEYS.index("sway")] += 0.006 * np.sin(2 * np.pi * t / 3.1 + phase[0])
    curves[:, _POSE_KEYS.index("tilt")] += 0.03 * np.sin(2 * np.pi * t / 4.3 + phase[1])
    return curves


# ----------------------------------------------------------------------------- 3-D skeleton

def _rot_z(p: np.ndarray, ang: float) -> np.ndarray:
    """Roll in the image plane; + moves points above the origin to the image right. ``p: (..., 3)``."""
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([p[..., 0] * c - p[..., 1] * s, p[..., 0] * s + p[..., 1] * c, p[..., 2]], -1)


def _rot_y(p: np.ndarray, ang: float) -> np.ndarray:
    """Turn about the vertical axis; + sends the person's left (image right) away from the camera."""
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([p[..., 0] * c + p[..., 2] * s, p[..., 1], -p[..., 0] * s + p[..., 2] * c], -1)


def _knee(hip: np.ndarray, ankle: np.ndarray, l1: float, l2: float, bend: np.ndarray) -> np.ndarray:
    """Two-bone IK: the knee between ``hip`` and ``ankle``, bending towards ``bend``."""
    v = ankle - hip
    d = min(float(np.linalg.norm(v)), 0.9999 * (l1 + l2))
    axis = v / max(float(np.linalg.norm(v)), 1e-9)
    a = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    h = np.sqrt(max(l1 * l1 - a * a, 0.0))
    side = bend - np.dot(bend, axis) * axis
    return hip + axis * a + side / np.linalg.norm(side) * h


# Face landmarks (iBUG 68) on a unit head: u across in head half-widths (+ image right when
# frontal), v down in head half-heights; depth is added from an ellipsoid in _face_points.
def _face_template() -> np.ndarray:
    phi = np.linspace(np.pi + 0.12, -0.12, 17)
    jaw = np.stack([0.97 * np.cos(phi), 0.97 * np.sin(phi)], 1)
    bx = np.linspace(0.18, 0.78, 5)
    brow_l = np.stack([bx, -0.30 - 0.08 * np.sin(np.pi * (bx - 0.18) / 0.6)], 1)
    brow_r = brow_l[::-1] * [-1, 1]
    bridge = np.stack([np.zeros(4), np.linspace(-0.2, 0.22, 4)], 1)
    nose = np.array([[-0.18, 0.30], [-0.09, 0.33], [0, 0.35], [0.09, 0.33], [0.18, 0.30]])
    eye_l = np.array([[0.2, -0.08], [0.33, -0.14], [0.47, -0.14], [0.6, -0.08], [0.47, -0.03], [0.33, -0.03]])
    eye_r = eye_l[[3, 2, 1, 0, 5, 4]] * [-1, 1]
    mouth_out = np.array([[-0.32, 0.62], [-0.2, 0.57], [-0.08, 0.55], [0, 0.565], [0.08, 0.55], [0.2, 0.57],
                          [0.32, 0.62], [0.2, 0.69], [0.08, 0.72], [0, 0.725], [-0.08, 0.72], [-0.2, 0.69]])
    mouth_in = np.array([[-0.26, 0.62], [-0.08, 0.605], [0, 0.61], [0.08, 0.605], [0.26, 0.62],
                         [0.08, 0.635], [0, 0.64], [-0.08, 0.635]])
    pts = np.concatenate([jaw, brow_r, brow_l, bridge, nose, eye_r, eye_l, mouth_out, mouth_in])
    assert len(pts) == 68
    depth = 0.95 * np.sqrt(np.clip(1 - pts[:, 0] ** 2 - pts[:, 1] ** 2, 0.09, 1))
    depth[27:31] += [0.05, 0.12, 0.2, 0.28]   # the nose stands out of the face
    depth[31:36] += 0.12
    return np.concatenate([pts, depth[:, None]], 1)


_FACE = _face_template()
# Right ear (image left), left ear: the keypoints sit at the ear canal, inside the silhouette, where
# detectors put them; the drawn ears stick out at the head's sides.
_EARS = np.array([[-0.78, 0.05, -0.2], [0.78, 0.05, -0.2]])
_EAR_SHAPES = np.array([[-1.0, 0.05, -0.05], [1.0, 0.05, -0.05]])


def _hand_points(wrist: np.ndarray, along: np.ndarray, lateral: np.ndarray, body: _Body) -> np.ndarray:
    """21 COCO-WholeBody hand points ``(21, 3)``: an open hand, palm to the camera, thumb lateral."""
    p, f = body.palm, body.finger
    # (along, across towards the thumb) for each finger's base, and the finger's spread (rad)
    bases = ((0.95 * p, 0.30 * p, 0.14), (p, 0.10 * p, 0.03), (0.97 * p, -0.10 * p, -0.07), (0.9 * p, -0.28 * p, -0.18))
    lengths = (0.95 * f, f, 0.95 * f, 0.78 * f)
    pts = [np.zeros(2)]
    thumb_dir = np.array([np.cos(0.75), np.sin(0.75)])
    base = np.array([0.2 * p, 0.3 * p])
    pts += [base + thumb_dir * k * 0.75 * f for k in (0.0, 0.45, 0.8, 1.1)]
    for (a, c, spread), length in zip(bases, lengths):
        d = np.array([np.cos(spread), np.sin(spread)])
        pts += [np.array([a, c]) + d * k * length for k in (0.0, 0.45, 0.75, 1.0)]
    local = np.array(pts)
    return wrist + local[:, :1] * along + local[:, 1:] * lateral


def _map_points(pts: dict[str, np.ndarray], fn: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """Apply ``fn: (N, 3) -> (N, k)`` to all point arrays of ``pts`` (``(3,)`` or ``(n, 3)``) in one call."""
    arrays = [np.atleast_2d(v) for v in pts.values()]
    mapped = np.split(fn(np.concatenate(arrays)), np.cumsum([len(a) for a in arrays])[:-1])
    return {k: m[0] if v.ndim == 1 else m for (k, v), m in zip(pts.items(), mapped)}


def _pose_3d(body: _Body, pose: np.ndarray) -> dict[str, np.ndarray]:
    """3-D joint positions for one pose row (see :data:`_POSE_KEYS`).

    World frame in units of height: x to the image right, y down (floor at 0), z towards the
    camera. Returns named points ``(3,)`` (``hand_l``/``hand_r``/``face`` are ``(n, 3)``) and the
    head's ``roll``/``yaw`` as 0-d arrays.
    """
    p = dict(zip(_POSE_KEYS, pose))
    out: dict[str, np.ndarray] = {}
    for s in "lr":
        out[f"ankle_{s}"] = np.array([_SIDE[s] * body.stance_half + p[f"{s}_foot"], -(body.ankle_h + p[f"{s}_lift"]), 0.0])
    pelvis = np.array([(out["ankle_l"][0] + out["ankle_r"][0]) / 2 + p["sway"], -body.hip_h + p["drop"], 0.0])
    hip_yaw = 0.7 * p["yaw"]     # the pelvis turns less than the shoulders
    reach = 0.995 * (body.thigh + body.shin)
    for s in "lr":
        off = _rot_y(np.array([_SIDE[s] * body.hip_half, 0.0, 0.0]), hip_yaw)
        dx, dz = pelvis[0] + off[0] - out[f"ankle_{s}"][0], off[2]
        pelvis[1] = max(pelvis[1], out[f"ankle_{s}"][1] - np.sqrt(max(reach ** 2 - dx ** 2 - dz ** 2, 1e-6)))
    for s in "lr":
        hip = pelvis + _rot_y(np.array([_SIDE[s] * body.hip_half, 0.0, 0.0]), hip_yaw)
        bend = _rot_y(np.array([_SIDE[s] * 0.45, 0.0, 1.0]), hip_yaw)
        out[f"hip_{s}"] = hip
        out[f"knee_{s}"] = _knee(hip, out[f"ankle_{s}"], body.thigh, body.shin, bend)
        out.update(_foot(out[f"ankle_{s}"], s, hip_yaw, body))
    out["pelvis"] = pelvis

    # upper body in the torso frame (origin at the pelvis), then lean, turn and place
    upper: dict[str, np.ndarray] = {"neck": np.array([0.0, -body.torso, 0.0])}
    for s in "lr":
        sh = np.array([_SIDE[s] * body.shoulder_half, -body.torso, 0.0])
        abd, flex, elb = p[f"{s}_abd"], p[f"{s}_flex"], p[f"{s}_elb"]
        d1 = np.array([_SIDE[s] * np.sin(abd) * np.cos(flex), np.cos(abd) * np.cos(flex), np.sin(flex)])
        phi = abd + elb
        d2 = np.array([_SIDE[s] * np.sin(phi) * np.cos(flex), np.cos(phi) * np.cos(flex), np.sin(flex)])
        lateral = np.array([_SIDE[s] * np.cos(phi), -np.sin(phi), 0.0])
        upper[f"shoulder_{s}"] = sh
        upper[f"elbow_{s}"] = sh + body.upper_arm * d1
        upper[f"wrist_{s}"] = upper[f"elbow_{s}"] + body.forearm * d2
        upper[f"hand_{s}"] = _hand_points(upper[f"wrist_{s}"], d2, lateral, body)
    head_c = upper["neck"] + _rot_z(np.array([0.0, -(body.neck + body.head_b), 0.0]), p["tilt"])
    upper["head"] = head_c
    scale = np.array([body.head_a, body.head_b, body.head_a])
    upper["face"] = head_c + _rot_z(_FACE * scale, p["tilt"])
    upper["ears"] = head_c + _rot_z(_EARS * scale, p["tilt"])
    upper["ear_shapes"] = head_c + _rot_z(_EAR_SHAPES * scale, p["tilt"])
    out.update(_map_points(upper, lambda v: _rot_y(_rot_z(v, p["lean"]), p["yaw"]) + pelvis))
    out["roll"], out["yaw"] = np.array(p["lean"] + p["tilt"]), np.array(p["yaw"])
    return out


def _foot(ankle: np.ndarray, s: str, yaw: float, body: _Body) -> dict[str, np.ndarray]:
    """Heel and toes of a shoe on the floor, turned out a little."""
    fwd = _rot_y(np.array([_SIDE[s] * np.sin(0.3), 0.0, np.cos(0.3)]), yaw)
    out_dir = _rot_y(np.array([_SIDE[s] * np.cos(0.3), 0.0, -np.sin(0.3)]), yaw)
    lift = ankle[1] + body.ankle_h         # < 0 when the foot is raised
    sole = np.array([ankle[0], lift, ankle[2]])
    return {f"heel_{s}": sole + fwd * -0.035 + np.array([0, -0.008, 0]),
            f"big_toe_{s}": sole + fwd * 0.12 - out_dir * 0.015 + np.array([0, -0.01, 0]),
            f"small_toe_{s}": sole + fwd * 0.095 + out_dir * 0.028 + np.array([0, -0.01, 0])}


# ----------------------------------------------------------------------------- keypoints

_BODY_POINTS = ("nose", "eye_l", "eye_r", "ear_l", "ear_r", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r",
                "wrist_l", "wrist_r", "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r",
                "big_toe_l", "small_toe_l", "heel_l", "big_toe_r", "small_toe_r", "heel_r")


class _Camera(NamedTuple):
    """Orthographic, looking down by :data:`_ELEVATION`: world (units of height) to pixels."""

    cx: float
    floor: float
    scale: float    # pixels per unit height

    def __call__(self, p: np.ndarray) -> np.ndarray:
        """``p: (..., 3)`` world -> ``(..., 2)`` pixels."""
        y = p[..., 1] * np.cos(_ELEVATION) + p[..., 2] * np.sin(_ELEVATION)
        return np.stack([self.cx + p[..., 0] * self.scale, self.floor + y * self.scale], -1)


def _camera(spec: _Role, size: int) -> _Camera:
    return _Camera(spec.centre * size, spec.floor * size, spec.height * size)


def _named_3d(pts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    face = pts["face"]
    return pts | {"nose": face[30], "eye_r": face[36:42].mean(0), "eye_l": face[42:48].mean(0),
                  "ear_r": pts["ears"][0], "ear_l": pts["ears"][1]}


def _keypoints_133(pts: dict[str, np.ndarray], cam: _Camera) -> np.ndarray:
    """The COCO-WholeBody keypoints ``(133, 3) float32`` (x, y pixels, confidence 1) of a posed figure."""
    named = _named_3d(pts)
    world = np.concatenate([np.stack([named[n] for n in _BODY_POINTS]), pts["face"], pts["hand_l"], pts["hand_r"]])
    kp = np.ones((skeleton.NUM_JOINTS, 3), np.float32)
    kp[:, :2] = cam(world)
    return kp


# ----------------------------------------------------------------------------- drawing

class _Canvas:
    """A float RGB image (0..1) with a part-label image, painted with anti-aliased shapes."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb                                   # (S, S, 3) float32, painted in place
        self.size = rgb.shape[0]
        self.labels = np.zeros(rgb.shape[:2], np.uint8)  # (S, S) part label of the top-most shape
        self._axis = np.arange(self.size, dtype=np.float32) + 0.5

    def grid(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        """The pixel box covering [lo, hi] (clipped), with its X (1, w) and Y (h, 1) centre coordinates."""
        x0, y0 = np.maximum(np.floor(lo).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(hi).astype(int) + 1, self.size)
        if x1 <= x0 or y1 <= y0:
            return None
        return (slice(y0, y1), slice(x0, x1)), self._axis[None, x0:x1], self._axis[y0:y1, None]

    def paint(self, box: tuple[slice, slice], dist: np.ndarray, color: np.ndarray, label: int = 0) -> None:
        """Blend ``color`` ((3,) or (h, w, 3)) where the signed distance ``dist`` (px) is inside."""
        alpha = np.minimum(np.maximum(0.5 - dist, 0.0), 1.0)
        region = self.rgb[box]
        region += alpha[..., None] * (color - region)
        if label:
            self.labels[box][alpha >= 0.5] = label

    @contextlib.contextmanager
    def bytes_region(self, lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """Lend the box [lo, hi] as ``(rgb (h, w, 3) uint8, labels (h, w) uint8, origin xy)`` for
        OpenCV's anti-aliased drawing (8-bit only); the RGB is written back on exit.

        Draw with :func:`_cv_points` (``origin``-relative, 4 fractional bits).
        """
        g = self.grid(lo, hi)
        if g is None:
            yield None
            return
        box = g[0]
        rgb = _to_uint8(self.rgb[box])
        yield rgb, self.labels[box], np.array([box[1].start + 0.5, box[0].start + 0.5])
        self.rgb[box] = rgb * np.float32(1 / 255)


def _cv_points(pts: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.round((pts - origin) * 16).astype(np.int32)


def _cv_color(color) -> tuple[float, float, float]:
    return tuple(float(c) * 255 for c in color)


def _shade(nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, ambient: float = 0.5) -> np.ndarray:
    lambert = np.maximum(nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2], 0.0)
    return ambient + (1 - ambient) * lambert


def _capsule(cv: _Canvas, a: np.ndarray, b: np.ndarray, ra: float, rb: float, color, label: int = 0,
             texture: Callable | None = None, ambient: float = 0.5) -> None:
    """A shaded tapered capsule from ``a`` to ``b`` (pixels), radii ``ra``→``rb``.

    ``texture(s, w) -> (h, w)`` multiplies the colour; s runs along the capsule and w across it, in px.
    """
    r = max(ra, rb)
    g = cv.grid(np.minimum(a, b) - r, np.maximum(a, b) + r)
    if g is None:
        return
    box, X, Y = g
    ab = b - a
    abx, aby = float(ab[0]), float(ab[1])
    length2 = max(abx * abx + aby * aby, 1e-6)
    dx, dy = X - float(a[0]), Y - float(a[1])
    t = dx * (abx / length2) + dy * (aby / length2)
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    px, py = dx - t * abx, dy - t * aby
    rad = ra + (rb - ra) * t
    nx, ny = px / rad, py / rad
    q2 = nx * nx + ny * ny
    shade = _shade(nx, ny, np.sqrt(np.maximum(1.0 - q2, 0.0)), ambient)
    if texture is not None:
        length = np.sqrt(length2)
        shade *= texture(t * length, (abx * dy - aby * dx) * (1 / length))
    cv.paint(box, (np.sqrt(q2) - 1.0) * rad, shade[..., None] * np.asarray(color, np.float32), label)


def _segment_distance(X: np.ndarray, Y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (px) from pixel centres ``X (1, w)``, ``Y (h, 1)`` to the segment a-b."""
    ab = b - a
    dx, dy = X - float(a[0]), Y - float(a[1])
    t = np.clip((dx * ab[0] + dy * ab[1]) / max(float(ab @ ab), 1e-6), 0.0, 1.0)
    return np.hypot(dx - t * ab[0], dy - t * ab[1])


def _ellipse(cv: _Canvas, c: np.ndarray, ax: float, ay: float, ang: float, color, label: int) -> None:
    """A shaded ellipse (an ellipsoid seen from the front), semi-axes ``ax``, ``ay`` px, rotated by ``ang``."""
    r = max(ax, ay)
    g = cv.grid(c - r, c + r)
    if g is None:
        return
    box, X, Y = g
    u, v = _local(X, Y, c, ang)
    ku, kv = u / ax, v / ay
    k = np.sqrt(ku * ku + kv * kv)
    shade = _shade(ku, kv, np.sqrt(np.maximum(1 - k * k, 0.0)), 0.55)
    cv.paint(box, (k - 1) * min(ax, ay), shade[..., None] * np.asarray(color, np.float32), label)


def _local(X: np.ndarray, Y: np.ndarray, c: np.ndarray, ang: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to ``c`` in a frame rotated by ``ang``."""
    co, si = np.cos(ang), np.sin(ang)
    dx, dy = X - c[0], Y - c[1]
    return dx * co + dy * si, -dx * si + dy * co


def _cloth(noise: np.ndarray, stripe_px: float | None, amount: float = 0.08) -> Callable:
    """A fabric texture: fine noise that moves with the limb, optionally with stripes along it."""
    n = noise.shape[0]

    def texture(s: np.ndarray, w: np.ndarray) -> np.ndarray:
        tex = 1 + amount * noise[s.astype(np.int32) % n, w.astype(np.int32) % n]
        if stripe_px:
            tex = tex * np.where(np.sin(s * (np.pi / stripe_px)) > 0.55, 1.18, 1.0)
        return tex

    return texture


class _Figure:
    """Draws one role's figure from projected joints (pixels)."""

    def __init__(self, spec: _Role, cam: _Camera, noise: np.ndarray):
        self.body, self.look, self.cam = spec.body, spec.look, cam
        self.px = cam.scale                              # pixels per unit height
        stripe = 0.018 * self.px if spec.look.stripe else None
        self.shirt_tex = _cloth(noise, stripe)
        self.pants_tex = _cloth(noise, None, 0.12)

    def draw(self, cv: _Canvas, pts: dict[str, np.ndarray]) -> None:
        points = {k: v for k, v in pts.items() if v.ndim >= 1}
        p2 = _map_points(points, self.cam)
        z = {k: v[..., 2] for k, v in points.items()}
        layers = [(float(z["knee_l"] + z["hip_l"]) / 2 - 0.06, lambda: self._leg(cv, p2, "l")),
                  (float(z["knee_r"] + z["hip_r"]) / 2 - 0.06, lambda: self._leg(cv, p2, "r")),
                  (0.0, lambda: self._torso(cv, p2, float(pts["yaw"]))),
                  (0.01, lambda: self._head(cv, p2, pts)),
                  (float(z["elbow_l"]) + 0.02, lambda: self._arm(cv, p2, "l")),
                  (float(z["elbow_r"]) + 0.02, lambda: self._arm(cv, p2, "r"))]
        for _, draw in sorted(layers, key=lambda layer: layer[0]):
            draw()

    def _label(self, name: str) -> int:
        return skeleton.PARTS[skeleton.PART_NAMES.index(name)].label

    def _leg(self, cv: _Canvas, p2: dict, s: str) -> None:
        b, px, side = self.body, self.px, "left" if s == "l" else "right"
        pants = self.look.pants
        _capsule(cv, p2[f"hip_{s}"], p2[f"knee_{s}"], b.r_thigh[0] * px, b.r_thigh[1] * px, pants,
                 self._label(f"{side}_upper_leg"), self.pants_tex)
        _capsule(cv, p2[f"knee_{s}"], p2[f"ankle_{s}"], b.r_shin[0] * px, b.r_shin[1] * px, pants,
                 self._label(f"{side}_lower_leg"), self.pants_tex)
        toe = (p2[f"big_toe_{s}"] + p2[f"small_toe_{s}"]) / 2
        lower = self._label(f"{side}_lower_leg")
        _capsule(cv, p2[f"ankle_{s}"], p2[f"heel_{s}"], 0.026 * px, 0.024 * px, self.look.shoe, lower)
        _capsule(cv, p2[f"heel_{s}"], toe, 0.026 * px, 0.022 * px, self.look.shoe, lower)
        sole = np.array([0.0, 0.012 * px])
        _capsule(cv, p2[f"heel_{s}"] + sole, toe + sole, 0.01 * px, 0.01 * px, (0.2, 0.2, 0.2), lower)

    def _torso(self, cv: _Canvas, p2: dict, yaw: float) -> None:
        b, px = self.body, self.px
        neck = (p2["shoulder_l"] + p2["shoulder_r"]) / 2
        pelvis = (p2["hip_l"] + p2["hip_r"]) / 2
        axis = pelvis - neck
        length = float(np.linalg.norm(axis))
        turn = abs(np.cos(yaw)) + 0.35 * abs(np.sin(yaw))
        widths = np.array(b.torso_w) * px * turn
        r_sh = b.r_upper_arm[0] * px * 1.15
        lo = np.minimum(neck, pelvis) - widths.max() - r_sh
        hi = np.maximum(neck, pelvis) + widths.max() + r_sh
        g = cv.grid(lo, hi)
        if g is None:
            return
        box, X, Y = g
        ang = np.arctan2(axis[0], axis[1])        # 0 when upright; the local v axis runs down the torso
        w, s = _local(X, Y, neck, -ang)
        frac = s / length
        half = np.interp(frac, [0.0, 0.3, 0.62, 0.92, 1.12], [widths[0], widths[1], widths[2], widths[3], widths[3] * 0.92])
        dist = np.maximum(np.abs(w) - half, np.maximum(-s, s - 1.12 * length))
        # round shoulders, and the trapezius rising towards the neck
        collar = neck - axis / max(length, 1e-6) * (0.025 * px)
        dist = np.minimum(dist, _segment_distance(X, Y, p2["shoulder_r"], p2["shoulder_l"]) - r_sh)
        for s_ in ("l", "r"):
            dist = np.minimum(dist, _segment_distance(X, Y, p2[f"shoulder_{s_}"], collar) - 0.8 * r_sh)
        nx = np.clip(w / np.maximum(half, 1e-3), -1, 1)
        shade = _shade(nx, np.full_like(nx, -0.15), np.sqrt(1 - nx * nx))
        hem = frac < 0.84
        color = np.where(hem[..., None], np.asarray(self.look.shirt, np.float32), np.asarray(self.look.pants, np.float32))
        tex = np.where(hem, self.shirt_tex(s, w), self.pants_tex(s, w))
        cv.paint(box, dist, (shade * tex)[..., None] * color, self._label("torso"))
        # the neck (part of the head) over the collar: a bare neckline tells a detector it sees the front
        _capsule(cv, neck, p2["head"] + (neck - p2["head"]) * 0.35, b.r_neck * px, 0.9 * b.r_neck * px,
                 self.look.skin, self._label("head"), ambient=0.4)

    def _arm(self, cv: _Canvas, p2: dict, s: str) -> None:
        b, px, look, side = self.body, self.px, self.look, "left" if s == "l" else "right"
        sh, el, wr = p2[f"shoulder_{s}"], p2[f"elbow_{s}"], p2[f"wrist_{s}"]
        upper, lower = self._label(f"{side}_upper_arm"), self._label(f"{side}_lower_arm")
        hand = p2[f"hand_{s}"]
        self._hand(cv, hand, lower)
        if look.long_sleeves:
            _capsule(cv, sh, el, b.r_upper_arm[0] * px, b.r_upper_arm[1] * px, look.shirt, upper, self.shirt_tex)
            _capsule(cv, el, wr, b.r_forearm[0] * px, b.r_forearm[1] * px, look.shirt, lower, self.shirt_tex)
            return
        _capsule(cv, sh, el, b.r_upper_arm[0] * px, b.r_upper_arm[1] * px, look.skin, upper)
        _capsule(cv, el, wr, b.r_forearm[0] * px, b.r_forearm[1] * px, look.skin, lower)
        sleeve_end = sh + 0.5 * (el - sh)
        _capsule(cv, sh, sleeve_end, b.r_upper_arm[0] * px * 1.12, b.r_upper_arm[0] * px * 1.08, look.shirt,
                 upper, self.shirt_tex)

    def _hand(self, cv: _Canvas, hand: np.ndarray, label: int) -> None:
        b, px, skin = self.body, self.px, self.look.skin
        wrist = hand[0]
        palm_end = (hand[5] + hand[17]) / 2
        with cv.bytes_region(hand.min(0) - 2, hand.max(0) + 2) as region:
            if region is not None:
                rgb, labels, origin = region
                fingers = [_cv_points(hand[i:i + 4], origin) for i in (1, 5, 9, 13, 17)]
                width = max(1, int(round(0.014 * px)))
                cv2.polylines(rgb, fingers, False, _cv_color(np.asarray(skin) * 0.85), width, cv2.LINE_AA, 4)
                cv2.polylines(labels, fingers, False, label, width, cv2.LINE_8, 4)
        _capsule(cv, wrist + 0.25 * (palm_end - wrist), palm_end - 0.15 * (palm_end - wrist),
                 b.r_palm * px, b.r_palm * px * 0.95, skin, label)

    def _head(self, cv: _Canvas, p2: dict, pts: dict) -> None:
        b, px, look = self.body, self.px, self.look
        head_label = self._label("head")
        roll, yaw = float(pts["roll"]), float(pts["yaw"])
        a, hb = b.head_a * px, b.head_b * px * np.cos(_ELEVATION)
        for ear in p2["ear_shapes"]:
            _ellipse(cv, ear, 0.16 * a, 0.28 * hb, roll, look.skin, head_label)
        c = p2["head"]
        _ellipse(cv, c, a, hb, roll, look.skin, head_label)
        self._face(cv, p2["face"], a)
        self._hair(cv, c, a, hb, roll, yaw, head_label)

    def _face(self, cv: _Canvas, f: np.ndarray, a: float) -> None:
        """Eyes, brows, nose and mouth from the 68 face landmarks ``f: (68, 2)`` px; ``a`` head half-width px."""
        look = self.look
        with cv.bytes_region(f.min(0) - 2, f.max(0) + 2) as region:
            if region is None:
                return
            rgb, _, origin = region
            pts = _cv_points(f, origin)
            thin = max(1, int(round(0.08 * a)))
            aa = cv2.LINE_AA
            cv2.fillPoly(rgb, [pts[36:42], pts[42:48]], _cv_color((0.95, 0.94, 0.92)), aa, 4)
            for eye in (f[36:42], f[42:48]):
                centre = _cv_points(eye.mean(0), origin)
                cv2.circle(rgb, tuple(int(c) for c in centre), int(round(0.11 * a * 16)), _cv_color((0.2, 0.12, 0.07)), -1, aa, 4)
            lids = [pts[36:40], pts[42:46]]
            cv2.polylines(rgb, lids, False, _cv_color((0.12, 0.08, 0.06)), thin, aa, 4)
            cv2.polylines(rgb, [pts[17:22], pts[22:27]], False, _cv_color(np.asarray(look.hair) * 0.8), thin, aa, 4)
            skin_dark = np.asarray(look.skin) * 0.7
            cv2.polylines(rgb, [pts[28:31], pts[31:36]], False, _cv_color(skin_dark), thin, aa, 4)
            cv2.fillPoly(rgb, [pts[48:60]], _cv_color(look.lips), aa, 4)
            cv2.polylines(rgb, [pts[60:65]], False, _cv_color((0.3, 0.1, 0.1)), thin, aa, 4)

    def _hair(self, cv: _Canvas, c: np.ndarray, a: float, hb: float, roll: float, yaw: float, label: int) -> None:
        r = 1.3 * max(a, hb)
        g = cv.grid(c - r - (0.5 * hb if self.look.bun else 0), c + r)
        if g is None:
            return
        box, X, Y = g
        u, v = _local(X, Y, c, roll)
        hu, hv = u / a, v / hb
        k = np.sqrt((hu / 1.1) ** 2 + ((hv + 0.1) / 1.06) ** 2)
        dist = (k - 1) * min(a, hb)
        hairline = -0.5 + 0.55 * (hu - 0.8 * np.sin(yaw)) ** 4
        dist = np.maximum(dist, (hv - hairline) * hb)
        if self.look.bun:
            dist = np.minimum(dist, np.hypot(hu * a, (hv + 1.12) * hb) - 0.42 * a)
        shade = _shade(np.clip(hu, -1, 1), np.clip(hv, -1, 1), np.sqrt(np.clip(1 - k * k, 0, 1)), 0.55)
        strands = 1 + 0.12 * np.sin(hu * 23 + hv * 4)
        cv.paint(box, dist, (shade * strands)[..., None] * np.asarray(self.look.hair, np.float32), label)


# ----------------------------------------------------------------------------- the scene

def _value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise ``(size, size) float32`` in about [-1, 1] with ``cells`` features per side."""
    grid = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _fill_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color) -> None:
    s = img.shape[0]
    img[int(y0 * s):int(y1 * s), int(x0 * s):int(x1 * s)] = color


@functools.lru_cache(maxsize=8)
def _scene(role: str, size: int, seed: int) -> np.ndarray:
    """The role's empty scene ``(S, S, 3) float32`` RGB 0..1 at neutral lighting (read-only, cached)."""
    rng = np.random.default_rng([seed, ROLES.index(role), 7])
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    xx, yy = xx / s, yy / s
    fine = _value_noise(rng, s, max(s // 4, 8))
    broad = _value_noise(rng, s, 5)
    img = _personal_room(rng, xx, yy, fine, broad) if role == "personal" else _studio(rng, xx, yy, fine, broad)
    vignette = 1 - 0.18 * ((xx - 0.5) ** 2 + (yy - 0.45) ** 2)
    img = np.clip(img * vignette[..., None], 0, 1).astype(np.float32)
    img.setflags(write=False)
    return img


def _floor_coords(xx: np.ndarray, yy: np.ndarray, vp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Floor-plane coordinates (lateral, depth) under a pinhole view with vanishing point ``vp``."""
    below = np.maximum(yy - vp[1], 1e-3)
    return (xx - vp[0]) / below, 1.0 / below


def _personal_room(rng, xx, yy, fine, broad) -> np.ndarray:
    horizon = 0.6
    wall = np.array([0.66, 0.72, 0.78], np.float32)
    stripes = 1 + 0.035 * np.sign(np.sin(xx * 2 * np.pi * 14))
    img = wall * (stripes * (1 + 0.03 * fine + 0.05 * broad) * (1.05 - 0.15 * xx))[..., None]
    # a framed picture and a window
    _fill_rect(img, 0.07, 0.12, 0.33, 0.36, (0.30, 0.20, 0.12))
    picture = np.stack([0.35 + 0.4 * (1 - yy), 0.55 + 0.2 * (1 - yy), 0.75 + 0.0 * yy], -1)
    hills = yy > 0.27 + 0.03 * np.sin(xx * 40)
    picture[hills] = (0.30, 0.50, 0.22)
    sub = (slice(int(0.14 * xx.shape[0]), int(0.34 * xx.shape[0])), slice(int(0.09 * xx.shape[0]), int(0.31 * xx.shape[0])))
    img[sub] = picture[sub]
    _fill_rect(img, 0.70, 0.06, 0.95, 0.42, (0.92, 0.92, 0.90))
    sky = np.stack([0.55 + 0.3 * yy, 0.72 + 0.2 * yy, 0.92 + 0.0 * yy], -1)
    win = (slice(int(0.08 * xx.shape[0]), int(0.40 * xx.shape[0])), slice(int(0.72 * xx.shape[0]), int(0.93 * xx.shape[0])))
    img[win] = sky[win]
    _fill_rect(img, 0.815, 0.08, 0.835, 0.40, (0.92, 0.92, 0.90))
    _fill_rect(img, 0.72, 0.235, 0.93, 0.25, (0.92, 0.92, 0.90))
    # a plant in a pot
    pot = (np.abs(xx - 0.13) < 0.05 - 0.3 * (yy - 0.50)) & (yy > 0.50) & (yy < horizon + 0.02)
    img[pot] = (0.62, 0.32, 0.20)
    for i in range(7):
        cx, cy = 0.13 + rng.uniform(-0.07, 0.07), 0.44 + rng.uniform(-0.08, 0.05)
        leaf = ((xx - cx) / 0.025) ** 2 + ((yy - cy) / 0.05) ** 2 < 1
        img[leaf] = np.array([0.16, 0.42, 0.16]) * rng.uniform(0.8, 1.2)
    # wooden floor in perspective, and a skirting board
    lateral, depth = _floor_coords(xx, yy, (0.52, 0.30))
    plank = np.floor(lateral / 0.35)
    offset = (plank * 0.37) % 1.0
    board = np.floor(depth * 0.9 + offset)
    tone = 0.85 + 0.3 * ((np.sin(plank * 12.9898 + board * 78.233) * 43758.5453) % 1.0)
    grain = 1 + 0.06 * np.sin(lateral * 60 + 3 * fine)
    seam = ((lateral / 0.35) % 1.0 < 0.04) | ((depth * 0.9 + offset) % 1.0 < 0.02)
    wood = np.array([0.55, 0.36, 0.21], np.float32) * (tone * grain * np.where(seam, 0.7, 1.0))[..., None]
    floor = yy >= horizon
    img[floor] = wood[floor]
    skirting = (yy >= horizon - 0.025) & (yy < horizon)
    img[skirting] = (0.90, 0.89, 0.86)
    return img


def _studio(rng, xx, yy, fine, broad) -> np.ndarray:
    horizon = 0.55
    row = np.floor(yy / 0.045)
    col = np.floor(xx / 0.11 + 0.5 * (row % 2))
    brick_tone = 0.85 + 0.25 * ((np.sin(row * 91.7 + col * 47.3) * 43758.5453) % 1.0)
    mortar = ((yy / 0.045) % 1.0 < 0.12) | ((xx / 0.11 + 0.5 * (row % 2)) % 1.0 < 0.05)
    brick = np.array([0.70, 0.42, 0.32], np.float32) * (brick_tone * (1 + 0.06 * fine))[..., None]
    img = np.where(mortar[..., None], np.float32([0.82, 0.80, 0.76]), brick)
    img = img * (1 + 0.05 * broad)[..., None]
    # a poster and a mirror strip
    _fill_rect(img, 0.62, 0.10, 0.86, 0.40, (0.95, 0.85, 0.30))
    _fill_rect(img, 0.65, 0.14, 0.83, 0.22, (0.15, 0.15, 0.35))
    _fill_rect(img, 0.67, 0.27, 0.81, 0.36, (0.85, 0.20, 0.25))
    _fill_rect(img, 0.03, 0.15, 0.10, 0.52, (0.80, 0.85, 0.88))
    # grey tiles in perspective
    lateral, depth = _floor_coords(xx, yy, (0.45, 0.25))
    checker = (np.floor(lateral / 0.5) + np.floor(depth * 1.2)) % 2
    tiles = np.where(checker[..., None], np.float32([0.74, 0.73, 0.70]), np.float32([0.58, 0.58, 0.60]))
    tiles = tiles * (1 + 0.04 * fine)[..., None]
    floor = yy >= horizon
    img[floor] = tiles[floor]
    skirting = (yy >= horizon - 0.02) & (yy < horizon)
    img[skirting] = (0.25, 0.25, 0.27)
    return img


def true_background(role: str, size: int, seed: int) -> np.ndarray:
    """The empty scene of ``role`` at neutral lighting: ``(S, S, 3) uint8 RGB``."""
    _role(role)
    return _to_uint8(_scene(role, size, seed))


def _to_uint8(img: np.ndarray, gain: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """``img: (h, w, 3) float`` RGB 0..1, times a per-channel ``gain`` -> rounded, saturated uint8."""
    scaled = cv2.multiply(np.asarray(img, np.float32), tuple(255.0 * g for g in gain) + (0.0,))
    return cv2.convertScaleAbs(scaled)


# ----------------------------------------------------------------------------- frames

class DemoFrame(NamedTuple):
    frame: np.ndarray      # (S, S, 3) uint8 RGB
    keypoints: np.ndarray  # (133, 3) float32 x, y pixels, confidence
    mask: np.ndarray       # (S, S) uint8 0/255 true person mask
    parts: np.ndarray      # (S, S) uint8 0 background, 1..10 skeleton.PARTS labels


def _shadow(cv: _Canvas, pts: dict[str, np.ndarray], cam: _Camera) -> None:
    """A soft contact shadow on the floor, offset away from the light."""
    feet = np.stack([pts["ankle_l"], pts["ankle_r"]])
    centre = cam(np.array([feet[:, 0].mean() + 0.03, 0.0, -0.02]))
    a = (abs(feet[0, 0] - feet[1, 0]) / 2 + 0.17) * cam.scale
    b = 0.045 * cam.scale
    g = cv.grid(centre - [2 * a, 2 * b], centre + [2 * a, 2 * b])
    if g is None:
        return
    box, X, Y = g
    dark = 0.45 * np.exp(-((X - centre[0]) / a) ** 2 * 2 - ((Y - centre[1]) / b) ** 2 * 2)
    cv.rgb[box] *= (1 - dark)[..., None]


def _light_gain(t: float, phase: float) -> tuple[float, float, float]:
    """A slow drift of global brightness and colour temperature (RGB gain)."""
    w = np.sin(2 * np.pi * t / 11.0 + phase)
    return 1 + 0.06 * w + 0.015 * np.sin(2 * np.pi * t / 7.0), 1 + 0.05 * w, 1 + 0.04 * w


def _n_frames(seconds: float, fps: int, size: int) -> int:
    n = int(round(seconds * fps))
    if n < 1 or size < 32:
        raise DanceGenError("demo", f"need at least one frame of at least 32 px, got {n} frames of {size} px")
    return n


def true_keypoints(role: str, seconds: float, size: int, fps: int, seed: int) -> np.ndarray:
    """The keypoints ``(T, 133, 3) float32`` that :func:`render_video` yields, without drawing (cheap)."""
    spec = _role(role)
    curves = _choreography(role, _n_frames(seconds, fps, size), fps, seed)
    cam = _camera(spec, size)
    return np.stack([_keypoints_133(_pose_3d(spec.body, pose), cam) for pose in curves])


def render_video(role: str, seconds: float, size: int, fps: int, seed: int) -> Iterator[DemoFrame]:
    """Render ``round(seconds * fps)`` frames of ``role``'s dance, deterministically from ``seed``."""
    spec = _role(role)
    n = _n_frames(seconds, fps, size)
    curves = _choreography(role, n, fps, seed)
    scene = _scene(role, size, seed)
    cam = _camera(spec, size)
    rng = np.random.default_rng([seed, ROLES.index(role), 11])
    figure = _Figure(spec, cam, rng.uniform(-1, 1, (16, 16)).astype(np.float32))
    phase = float(rng.uniform(0, 2 * np.pi))
    for i in range(n):
        pts = _pose_3d(spec.body, curves[i])
        cv = _Canvas(scene.copy())
        _shadow(cv, pts, cam)
        figure.draw(cv, pts)
        frame = _to_uint8(cv.rgb, _light_gain(i / fps, phase))
        mask = np.where(cv.labels > 0, np.uint8(255), np.uint8(0))
        yield DemoFrame(frame, _keypoints_133(pts, cam), mask, cv.labels)


# ----------------------------------------------------------------------------- the stage

def _write_role(role: str, seconds: float, params: DemoParams, video: Path, truth: Path) -> None:
    s = params.size
    n = int(round(seconds * params.fps))
    img = dict(chunks=(1, s, s), compression="gzip", compression_opts=4)
    with VideoWriter(video, fps=params.fps) as writer, atomic_path(truth) as tmp, h5py.File(tmp, "w") as f:
        kp = f.create_dataset("keypoints", (n, skeleton.NUM_JOINTS, 3), np.float32)
        mask = f.create_dataset("mask", (n, s, s), np.uint8, **img)
        parts = f.create_dataset("parts", (n, s, s), np.uint8, **img)
        f.create_dataset("background", data=true_background(role, s, params.seed), compression="gzip")
        f.attrs.update(fps=params.fps, size=s, seed=params.seed, role=role, schema=skeleton.SCHEMA_NAME)
        frames = render_video(role, seconds, s, params.fps, params.seed)
        for t, fr in enumerate(tqdm(frames, total=n, desc=f"demo {role}", unit="frame")):
            writer.write(fr.frame)
            kp[t], mask[t], parts[t] = fr.keypoints, fr.mask, fr.parts


def write_demo(out_dir: str | Path, params: DemoParams) -> dict[str, Path]:
    """Render both roles into ``out_dir``: ``<role>.mp4`` and ``<role>_truth.h5``, and ``scene.png``
    (:func:`write_scene`); returns the paths by name."""
    out_dir = Path(out_dir)
    paths = {}
    for role, seconds in (("personal", params.personal_seconds), ("reference", params.reference_seconds)):
        video, truth = out_dir / f"{role}.mp4", out_dir / f"{role}_truth.h5"
        _write_role(role, seconds, params, video, truth)
        paths[role], paths[f"{role}_truth"] = video, truth
    paths["scene"] = write_scene(out_dir / "scene.png", params)
    return paths


def write_scene(path: str | Path, params: DemoParams) -> Path:
    """A new scene for the personal dancer, for the Fig. 9 composite (``infer.background_image``):
    the reference dancer's empty studio, as a ``size``² RGB PNG."""
    bgr = cv2.cvtColor(true_background("reference", params.size, params.seed), cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode(".png", bgr)
    if not ok:
        raise DanceGenError(path, "could not be encoded as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(png.tobytes())
    return Path(path)
