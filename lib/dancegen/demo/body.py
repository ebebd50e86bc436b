"""The figure posed in 3-D (joints, face, hands, feet) and its 133 COCO-WholeBody keypoints through the camera."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from dancegen.body import skeleton
from dancegen.demo.cast import Body, ELEVATION, POSE_KEYS, Role, SIDE


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


def _hand_points(wrist: np.ndarray, along: np.ndarray, lateral: np.ndarray, body: Body) -> np.ndarray:
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


def map_points(pts: dict[str, np.ndarray], fn: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """Apply ``fn: (N, 3) -> (N, k)`` to all point arrays of ``pts`` (``(3,)`` or ``(n, 3)``) in one call."""
    arrays = [np.atleast_2d(v) for v in pts.values()]
    mapped = np.split(fn(np.concatenate(arrays)), np.cumsum([len(a) for a in arrays])[:-1])
    return {k: m[0] if v.ndim == 1 else m for (k, v), m in zip(pts.items(), mapped)}


def pose_3d(body: Body, pose: np.ndarray) -> dict[str, np.ndarray]:
    """3-D joint positions for one pose row (see :data:`POSE_KEYS`).

    World frame in units of height: x to the image right, y down (floor at 0), z towards the
    camera. Returns named points ``(3,)`` (``hand_l``/``hand_r``/``face`` are ``(n, 3)``) and the
    head's ``roll``/``yaw`` as 0-d arrays.
    """
    p = dict(zip(POSE_KEYS, pose))
    out: dict[str, np.ndarray] = {}
    for s in "lr":
        out[f"ankle_{s}"] = np.array([SIDE[s] * body.stance_half + p[f"{s}_foot"], -(body.ankle_h + p[f"{s}_lift"]), 0.0])
    pelvis = np.array([(out["ankle_l"][0] + out["ankle_r"][0]) / 2 + p["sway"], -body.hip_h + p["drop"], 0.0])
    hip_yaw = 0.7 * p["yaw"]     # the pelvis turns less than the shoulders
    reach = 0.995 * (body.thigh + body.shin)
    for s in "lr":
        off = _rot_y(np.array([SIDE[s] * body.hip_half, 0.0, 0.0]), hip_yaw)
        dx, dz = pelvis[0] + off[0] - out[f"ankle_{s}"][0], off[2]
        pelvis[1] = max(pelvis[1], out[f"ankle_{s}"][1] - np.sqrt(max(reach ** 2 - dx ** 2 - dz ** 2, 1e-6)))
    for s in "lr":
        hip = pelvis + _rot_y(np.array([SIDE[s] * body.hip_half, 0.0, 0.0]), hip_yaw)
        bend = _rot_y(np.array([SIDE[s] * 0.45, 0.0, 1.0]), hip_yaw)
        out[f"hip_{s}"] = hip
        out[f"knee_{s}"] = _knee(hip, out[f"ankle_{s}"], body.thigh, body.shin, bend)
        out.update(_foot(out[f"ankle_{s}"], s, hip_yaw, body))
    out["pelvis"] = pelvis

    # upper body in the torso frame (origin at the pelvis), then lean, turn and place
    upper: dict[str, np.ndarray] = {"neck": np.array([0.0, -body.torso, 0.0])}
    for s in "lr":
        sh = np.array([SIDE[s] * body.shoulder_half, -body.torso, 0.0])
        abd, flex, elb = p[f"{s}_abd"], p[f"{s}_flex"], p[f"{s}_elb"]
        d1 = np.array([SIDE[s] * np.sin(abd) * np.cos(flex), np.cos(abd) * np.cos(flex), np.sin(flex)])
        phi = abd + elb
        d2 = np.array([SIDE[s] * np.sin(phi) * np.cos(flex), np.cos(phi) * np.cos(flex), np.sin(flex)])
        lateral = np.array([SIDE[s] * np.cos(phi), -np.sin(phi), 0.0])
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
    out.update(map_points(upper, lambda v: _rot_y(_rot_z(v, p["lean"]), p["yaw"]) + pelvis))
    out["roll"], out["yaw"] = np.array(p["lean"] + p["tilt"]), np.array(p["yaw"])
    return out


def _foot(ankle: np.ndarray, s: str, yaw: float, body: Body) -> dict[str, np.ndarray]:
    """Heel and toes of a shoe on the floor, turned out a little."""
    fwd = _rot_y(np.array([SIDE[s] * np.sin(0.3), 0.0, np.cos(0.3)]), yaw)
    out_dir = _rot_y(np.array([SIDE[s] * np.cos(0.3), 0.0, -np.sin(0.3)]), yaw)
    lift = ankle[1] + body.ankle_h         # < 0 when the foot is raised
    sole = np.array([ankle[0], lift, ankle[2]])
    return {f"heel_{s}": sole + fwd * -0.035 + np.array([0, -0.008, 0]),
            f"big_toe_{s}": sole + fwd * 0.12 - out_dir * 0.015 + np.array([0, -0.01, 0]),
            f"small_toe_{s}": sole + fwd * 0.095 + out_dir * 0.028 + np.array([0, -0.01, 0])}


_BODY_POINTS = ("nose", "eye_l", "eye_r", "ear_l", "ear_r", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r",
                "wrist_l", "wrist_r", "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r",
                "big_toe_l", "small_toe_l", "heel_l", "big_toe_r", "small_toe_r", "heel_r")


class Camera(NamedTuple):
    """Orthographic, looking down by :data:`ELEVATION`: world (units of height) to pixels."""

    cx: float
    floor: float
    scale: float    # pixels per unit height

    def __call__(self, p: np.ndarray) -> np.ndarray:
        """``p: (..., 3)`` world -> ``(..., 2)`` pixels."""
        y = p[..., 1] * np.cos(ELEVATION) + p[..., 2] * np.sin(ELEVATION)
        return np.stack([self.cx + p[..., 0] * self.scale, self.floor + y * self.scale], -1)


def camera_of(spec: Role, size: int) -> Camera:
    return Camera(spec.centre * size, spec.floor * size, spec.height * size)


def _named_3d(pts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    face = pts["face"]
    return pts | {"nose": face[30], "eye_r": face[36:42].mean(0), "eye_l": face[42:48].mean(0),
                  "ear_r": pts["ears"][0], "ear_l": pts["ears"][1]}


def keypoints_133(pts: dict[str, np.ndarray], cam: Camera) -> np.ndarray:
    """The COCO-WholeBody keypoints ``(133, 3) float32`` (x, y pixels, confidence 1) of a posed figure."""
    named = _named_3d(pts)
    world = np.concatenate([np.stack([named[n] for n in _BODY_POINTS]), pts["face"], pts["hand_l"], pts["hand_r"]])
    kp = np.ones((skeleton.NUM_JOINTS, 3), np.float32)
    kp[:, :2] = cam(world)
    return kp
