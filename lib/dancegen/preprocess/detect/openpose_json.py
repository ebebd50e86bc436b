"""Import OpenPose's per-frame JSON output (``--write_json``) into the canonical 133-point schema.

A folder holds one ``<name>_<frame number>_keypoints.json`` per video frame. Each lists ``people``
with flat ``[x, y, score] * N`` arrays: ``pose_keypoints_2d`` (BODY_25, or the older COCO-18 when
it has 18 points), ``face_keypoints_2d`` (70: the 68 iBUG points, then both pupils) and
``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d`` (21, the same order as COCO-WholeBody).
Coordinates are pixels of the source video; OpenPose writes (0, 0, 0) for a missing point.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from dancegen.body import skeleton
from dancegen.core.errors import DanceGenError

# Source index for each COCO-17 body joint, then the 6 feet points (left big toe, left small toe,
# left heel, right big toe, right small toe, right heel); -1 where the layout has none.
BODY_25_TO_CANONICAL = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11,
                        19, 20, 21, 22, 23, 24)
COCO_18_TO_CANONICAL = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10,
                        -1, -1, -1, -1, -1, -1)
_BODY_LAYOUTS = {25: BODY_25_TO_CANONICAL, 18: COCO_18_TO_CANONICAL}
_FRAME_NUMBER = re.compile(r"(\d+)_keypoints\.json$")


def _points(person: dict, key: str, counts: tuple[int, ...], path: Path) -> np.ndarray | None:
    """``(N, 3)`` from the flat array ``person[key]``, None when absent or empty."""
    flat = person.get(key)
    if not flat:
        return None
    try:
        pts = np.asarray(flat, np.float64)
    except (TypeError, ValueError):
        raise DanceGenError(path, f"'{key}' is not a list of numbers") from None
    if pts.ndim != 1 or len(pts) % 3 or len(pts) // 3 not in counts:
        expected = " or ".join(map(str, counts))
        raise DanceGenError(path, f"'{key}' has {len(pts)} values; expected 3 × {expected}")
    return pts.reshape(-1, 3)


def _box_area(body: np.ndarray) -> float:
    found = body[body[:, 2] > 0, :2]
    if len(found) < 2:
        return 0.0
    return float(np.prod(found.max(0) - found.min(0)))


def person_to_keypoints(person: dict, path: Path) -> np.ndarray:
    """One OpenPose ``people`` entry → ``keypoints: (133, 3)`` in source pixels."""
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    body = _points(person, "pose_keypoints_2d", tuple(_BODY_LAYOUTS), path)
    if body is not None:
        for out, src in enumerate(_BODY_LAYOUTS[len(body)]):
            if src >= 0:
                kp[out] = body[src]
    face = _points(person, "face_keypoints_2d", (70, 68), path)
    if face is not None:
        kp[skeleton.FACE] = face[:68]
    for key, where in (("hand_left_keypoints_2d", skeleton.LEFT_HAND),
                       ("hand_right_keypoints_2d", skeleton.RIGHT_HAND)):
        hand = _points(person, key, (21,), path)
        if hand is not None:
            kp[where] = hand
    kp[kp[:, 2] <= 0] = 0.0
    return kp


def read_openpose_frame(path: Path) -> np.ndarray:
    """One ``*_keypoints.json`` → ``(133, 3)`` of its largest person (all 0 when nobody)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DanceGenError(path, f"not readable OpenPose JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise DanceGenError(path, "has no 'people' list (not OpenPose --write_json output)")
    people = [p for p in data["people"] if isinstance(p, dict)]
    if len(people) != len(data["people"]):
        raise DanceGenError(path, "'people' holds entries that are not objects")
    if not people:
        return np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    candidates = [person_to_keypoints(p, path) for p in people]
    # OpenPose does not order people by size; the dancer is the one taking up the most room.
    return max(candidates, key=lambda kp: _box_area(kp[: skeleton.FEET.stop]))


def read_openpose_folder(folder: str | Path) -> np.ndarray:
    """All frames of an OpenPose JSON folder, in frame order → ``(N, 133, 3)`` source pixels.

    Frames are ordered by the number before ``_keypoints.json``; the numbers must run without gaps.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DanceGenError(folder, "not found (expected a folder of OpenPose *_keypoints.json files)")
    numbered = []
    for path in folder.glob("*_keypoints.json"):
        match = _FRAME_NUMBER.search(path.name)
        if match is None:
            raise DanceGenError(path, "has no frame number before '_keypoints.json'")
        numbered.append((int(match.group(1)), path))
    if not numbered:
        raise DanceGenError(folder, "holds no *_keypoints.json files")
    numbered.sort()
    numbers = np.array([n for n, _ in numbered])
    gaps = np.flatnonzero(np.diff(numbers) != 1)
    if len(gaps):
        a, b = numbered[gaps[0]][1], numbered[gaps[0] + 1][1]
        raise DanceGenError(folder, f"frame numbers do not run on from {a.name} to {b.name} "
                            "(a missing or repeated frame)")
    return np.stack([read_openpose_frame(path) for _, path in numbered])
