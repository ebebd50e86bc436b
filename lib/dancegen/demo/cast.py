"""Who dances in the demo and how: the two roles' bodies, looks, cameras and moves, and the choreography."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from dancegen.core.errors import DanceGenError


ROLES = ("personal", "reference")


ELEVATION = np.deg2rad(12.0)               # camera looks down a little, so the floor and feet show


LIGHT = np.array([-0.40, -0.50, 0.77])     # towards the light, (x right, y down, z to camera)


LIGHT = LIGHT / np.linalg.norm(LIGHT)


SIDE = {"l": 1.0, "r": -1.0}               # the person's left is the image's right when frontal


@dataclass(frozen=True)
class Body:
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


def _normalised(body: Body) -> Body:
    total = body.ankle_h + body.shin + body.thigh + body.torso + body.neck + 2 * body.head_b
    scaled = {}
    for f in dataclasses.fields(body):
        v = getattr(body, f.name)
        scaled[f.name] = tuple(x / total for x in v) if isinstance(v, tuple) else v / total
    return Body(**scaled)


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
class Role:
    body: Body
    look: _Look
    height: float    # standing height as a fraction of the frame side
    floor: float     # y of the floor under the feet, fraction of the side
    centre: float    # x of the stance centre, fraction of the side
    moves: tuple[str, ...]


_ROLES = {
    "personal": Role(
        body=_normalised(Body(
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
    "reference": Role(
        body=_normalised(Body(
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


def role_spec(role: str) -> Role:
    if role not in _ROLES:
        raise DanceGenError("demo", f"unknown role '{role}'; known: {', '.join(ROLES)}")
    return _ROLES[role]


POSE_KEYS = ("sway", "drop", "lean", "yaw", "tilt", "l_abd", "l_flex", "l_elb", "r_abd", "r_flex",
              "r_elb", "l_foot", "r_foot", "l_lift", "r_lift")


"""Pose parameters (units of height and radians). ``sway``: pelvis offset from between the feet;
``drop``: pelvis lowered (knee bend); ``lean``: upper body roll, + to the image right; ``yaw``: turn;
``tilt``: head roll; ``*_abd``: upper arm angle from hanging (pi = straight up), in the body plane;
``*_flex``: arm raised towards the camera; ``*_elb``: forearm angle beyond the upper arm;
``*_foot``: ankle x offset from rest; ``*_lift``: ankle raised."""


_REST = {k: 0.0 for k in POSE_KEYS} | {"l_abd": 0.2, "r_abd": 0.2, "l_flex": 0.05, "r_flex": 0.05,
                                        "l_elb": 0.15, "r_elb": 0.15}


Keyframes = list[tuple[float, dict[str, float]]]   # (seconds since the previous key, pose overrides)


def _arms(l_abd: float, r_abd: float, l_elb: float = 0.2, r_elb: float = 0.2, flex: float = 0.05) -> dict:
    return {"l_abd": l_abd, "r_abd": r_abd, "l_elb": l_elb, "r_elb": r_elb, "l_flex": flex, "r_flex": flex}


def _wave(side: str) -> Keyframes:
    up = {f"{side}_abd": 1.65, f"{side}_elb": 0.35, "tilt": 0.06 * SIDE[side]}
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


def choreography(role: str, n_frames: int, fps: int, seed: int) -> np.ndarray:
    """Smooth pose curves ``(T, P) float64``, columns in :data:`POSE_KEYS` order.

    A random order of the role's moves, then random repeats of them (so the end of a long video
    revisits earlier poses), each with jittered amplitude and tempo, interpolated monotonically
    (PCHIP) between keyframes, plus a little idle sway.
    """
    spec = role_spec(role)
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
            values.append({k: _REST[k] + amp * (pose.get(k, _REST[k]) - _REST[k]) for k in POSE_KEYS})
    keys = np.array([[v[k] for k in POSE_KEYS] for v in values])
    t = np.arange(n_frames) / fps
    curves = PchipInterpolator(np.array(times), keys, axis=0)(t)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    curves[:, POSE_KEYS.index("sway")] += 0.006 * np.sin(2 * np.pi * t / 3.1 + phase[0])
    curves[:, POSE_KEYS.index("tilt")] += 0.03 * np.sin(2 * np.pi * t / 4.3 + phase[1])
    return curves
