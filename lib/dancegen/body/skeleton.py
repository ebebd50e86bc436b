"""The canonical whole-body keypoint schema, defined once: COCO-WholeBody, 133 points.

Layout of every keypoint array in the project:
``keypoints: (..., 133, 3) float32`` — x, y in pixels of the extracted square frame (origin top-left),
and a confidence in [0, 1]; a joint that was not detected has confidence 0 (and x = y = 0).

Index ranges (COCO-WholeBody order, so AlphaPose/DWPose whole-body output maps 1:1):
  0–16   body (COCO-17)        17–22  feet (6)
  23–90  face (68, iBUG/dlib)  91–111 left hand (21)   112–132 right hand (21)
"Left" and "right" are the person's own.

On top of the points the paper's method needs
  * the 10 body parts of section 3.1 (head, torso, 4 arm parts, 4 leg parts), each with the joints
    whose segment drives its affine transform and its pose-map shape, and
  * the 5 landmark groups of section 3.2 (face, left/right hand, left/right foot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMA_NAME = "coco_wholebody_133"

BODY_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FOOT_NAMES = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
FACE_NAMES = tuple(f"face_{i}" for i in range(68))
HAND_POINT_NAMES = (
    "wrist", "thumb1", "thumb2", "thumb3", "thumb4", "index1", "index2", "index3", "index4",
    "middle1", "middle2", "middle3", "middle4", "ring1", "ring2", "ring3", "ring4",
    "pinky1", "pinky2", "pinky3", "pinky4",
)
JOINT_NAMES: tuple[str, ...] = (
    BODY_NAMES + FOOT_NAMES + FACE_NAMES
    + tuple(f"left_hand_{n}" for n in HAND_POINT_NAMES)
    + tuple(f"right_hand_{n}" for n in HAND_POINT_NAMES)
)
NUM_JOINTS = len(JOINT_NAMES)
assert NUM_JOINTS == 133

J = {name: i for i, name in enumerate(JOINT_NAMES)}

BODY = slice(0, 17)
FEET = slice(17, 23)
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)

# Bones of the COCO-17 body plus feet, for drawing skeletons.
BODY_EDGES: tuple[tuple[int, int], ...] = tuple(
    (J[a], J[b]) for a, b in (
        ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
        ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"),
        ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"), ("left_eye", "right_eye"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
        ("right_eye", "right_ear"), ("left_ankle", "left_big_toe"), ("left_ankle", "left_heel"),
        ("left_big_toe", "left_small_toe"), ("right_ankle", "right_big_toe"),
        ("right_ankle", "right_heel"), ("right_big_toe", "right_small_toe"),
    )
)


@dataclass(frozen=True)
class Part:
    """One of the 10 body parts of section 3.1.

    ``start``/``end`` name the segment used for the part's affine transform and pose map: for limbs
    the two joints; for the torso and the head, virtual points (midpoints) computed by
    :func:`part_segments`. ``shape`` is the pose-map primitive (3.2): a rectangle or a circle.
    """

    name: str
    label: int  # value in parsing maps; 0 is background
    shape: str  # "rect" | "circle"


PARTS: tuple[Part, ...] = (
    Part("head", 1, "circle"),
    Part("torso", 2, "rect"),
    Part("left_upper_arm", 3, "rect"),
    Part("left_lower_arm", 4, "rect"),
    Part("right_upper_arm", 5, "rect"),
    Part("right_lower_arm", 6, "rect"),
    Part("left_upper_leg", 7, "rect"),
    Part("left_lower_leg", 8, "rect"),
    Part("right_upper_leg", 9, "rect"),
    Part("right_lower_leg", 10, "rect"),
)
PART_NAMES = tuple(p.name for p in PARTS)
NUM_PARTS = len(PARTS)

# Limb segments: part name -> (start joint, end joint).
LIMB_JOINTS: dict[str, tuple[int, int]] = {
    "left_upper_arm": (J["left_shoulder"], J["left_elbow"]),
    "left_lower_arm": (J["left_elbow"], J["left_wrist"]),
    "right_upper_arm": (J["right_shoulder"], J["right_elbow"]),
    "right_lower_arm": (J["right_elbow"], J["right_wrist"]),
    "left_upper_leg": (J["left_hip"], J["left_knee"]),
    "left_lower_leg": (J["left_knee"], J["left_ankle"]),
    "right_upper_leg": (J["right_hip"], J["right_knee"]),
    "right_lower_leg": (J["right_knee"], J["right_ankle"]),
}
HEAD_JOINTS = tuple(J[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))

# The 5 landmark groups of section 3.2, in channel order.
LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    "face": tuple(range(FACE.start, FACE.stop)),
    "left_hand": tuple(range(LEFT_HAND.start, LEFT_HAND.stop)),
    "right_hand": tuple(range(RIGHT_HAND.start, RIGHT_HAND.stop)),
    "left_foot": (J["left_ankle"], J["left_big_toe"], J["left_small_toe"], J["left_heel"]),
    "right_foot": (J["right_ankle"], J["right_big_toe"], J["right_small_toe"], J["right_heel"]),
}
NUM_LANDMARK_GROUPS = len(LANDMARK_GROUPS)


def _mid(kp: np.ndarray, a: int, b: int, min_conf: float) -> np.ndarray | None:
    """Midpoint of joints a and b of ``kp: (133, 3)``, or None when either is missing."""
    if kp[a, 2] < min_conf or kp[b, 2] < min_conf:
        return None
    return (kp[a, :2] + kp[b, :2]) / 2.0


def part_segments(kp: np.ndarray, min_conf: float = 0.3) -> dict[str, tuple[np.ndarray, np.ndarray, float] | None]:
    """The driving segment of each part in one frame.

    ``kp: (133, 3)`` x, y, confidence in pixels. Returns part name -> (start xy, end xy, width px)
    or None when its joints are missing. Limbs use their two joints; the torso runs from the
    shoulder midpoint (neck) to the hip midpoint with the shoulder/hip span as width; the head runs
    from the neck to the centre of the detected face joints, with a width from the ear/eye span.
    Widths of limbs are a fraction of the torso length so they scale with the body.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray, float] | None] = {}
    neck = _mid(kp, J["left_shoulder"], J["right_shoulder"], min_conf)
    pelvis = _mid(kp, J["left_hip"], J["right_hip"], min_conf)
    if neck is not None and pelvis is not None:
        shoulder_w = float(np.linalg.norm(kp[J["left_shoulder"], :2] - kp[J["right_shoulder"], :2]))
        hip_w = float(np.linalg.norm(kp[J["left_hip"], :2] - kp[J["right_hip"], :2]))
        torso_len = float(np.linalg.norm(neck - pelvis))
        out["torso"] = (neck, pelvis, max(shoulder_w, hip_w, 0.35 * torso_len))
    else:
        torso_len = None
        out["torso"] = None
    scale = torso_len if torso_len else body_scale(kp, min_conf)

    head_pts = [kp[i, :2] for i in HEAD_JOINTS if kp[i, 2] >= min_conf]
    if head_pts and neck is not None:
        centre = np.mean(head_pts, axis=0)
        span = max((float(np.linalg.norm(a - b)) for a in head_pts for b in head_pts), default=0.0)
        width = max(span * 1.3, 0.35 * (scale or 0.0), 1.0)
        out["head"] = (neck, centre, width)
    else:
        out["head"] = None

    for name, (a, b) in LIMB_JOINTS.items():
        if kp[a, 2] >= min_conf and kp[b, 2] >= min_conf and scale:
            frac = 0.28 if "upper_leg" in name else 0.22 if "leg" in name or "upper_arm" in name else 0.18
            out[name] = (kp[a, :2].astype(np.float64), kp[b, :2].astype(np.float64), frac * scale)
        else:
            out[name] = None
    return out


def body_scale(kp: np.ndarray, min_conf: float = 0.3) -> float | None:
    """A robust size of the body in pixels (for normalising distances), or None without joints.

    ``kp: (133, 3)``. Uses the torso length (neck to pelvis) when both are present, otherwise the
    diagonal of the bounding box of the confident body joints.
    """
    neck = _mid(kp, J["left_shoulder"], J["right_shoulder"], min_conf)
    pelvis = _mid(kp, J["left_hip"], J["right_hip"], min_conf)
    if neck is not None and pelvis is not None:
        d = float(np.linalg.norm(neck - pelvis))
        if d > 1e-3:
            return d
    body = kp[BODY][kp[BODY, 2] >= min_conf, :2]
    if len(body) >= 2:
        d = float(np.linalg.norm(body.max(0) - body.min(0)))
        return d if d > 1e-3 else None
    return None


def normalize_body(kp: np.ndarray, min_conf: float = 0.3) -> tuple[np.ndarray, np.ndarray] | None:
    """Body joints centred on their pelvis (or centroid) and divided by :func:`body_scale`.

    ``kp: (133, 3)`` → (``xy: (17, 2)`` normalised, ``present: (17,)`` bool), or None when the
    body has no scale. Used for nearest-pose search and pose novelty.
    """
    scale = body_scale(kp, min_conf)
    if scale is None:
        return None
    body = kp[BODY]
    present = body[:, 2] >= min_conf
    pelvis = _mid(kp, J["left_hip"], J["right_hip"], min_conf)
    centre = pelvis if pelvis is not None else body[present, :2].mean(0)
    return (body[:, :2] - centre) / scale, present
