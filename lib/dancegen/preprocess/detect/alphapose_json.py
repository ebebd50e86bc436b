"""Import an AlphaPose results file (``alphapose-results.json``) into the canonical 133-point schema.

The file is a list of detections ``{"image_id", "keypoints": [x, y, score] * N, "score", ...}``,
any number per image, and none for an image where nobody was found. ``image_id`` names the frame:
an int or a file name such as ``"12.jpg"`` / ``"000012.png"``, counted from 0 (AlphaPose's own
video mode numbers frames so). Supported layouts by N:

* 133 — COCO-WholeBody, the canonical order itself;
* 136 — Halpe-136: COCO body 0–16, head 17, neck 18, hip 19, feet 20–25 (left big toe, right big
  toe, left small toe, right small toe, left heel, right heel), face 26–93, left hand 94–114,
  right hand 115–135;
* 26 — Halpe-26: the body and feet of Halpe-136.

Coordinates are pixels of the source video.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from dancegen.body import skeleton
from dancegen.core.errors import DanceGenError

# Halpe feet → canonical feet order (left big toe, left small toe, left heel, right big toe, ...).
_HALPE_FEET = (20, 22, 24, 21, 23, 25)
_HALPE_BODY_FEET = tuple(range(17)) + _HALPE_FEET
# Source index of every canonical point per layout (-1: the layout lacks it).
LAYOUTS: dict[int, tuple[int, ...]] = {
    133: tuple(range(133)),
    136: _HALPE_BODY_FEET + tuple(range(26, 136)),
    26: _HALPE_BODY_FEET + (-1,) * (skeleton.NUM_JOINTS - len(_HALPE_BODY_FEET)),
}
assert all(len(v) == skeleton.NUM_JOINTS for v in LAYOUTS.values())
_DIGITS = re.compile(r"(\d+)")


def frame_index(image_id, path: Path) -> int:
    """``image_id`` (int, ``"12.jpg"``, ``"000012.png"``) → frame index."""
    if isinstance(image_id, int) and not isinstance(image_id, bool) and image_id >= 0:
        return image_id
    if isinstance(image_id, str):
        numbers = _DIGITS.findall(Path(image_id).stem)
        if numbers:
            return int(numbers[-1])
    raise DanceGenError(path, f"image_id {image_id!r} names no frame number")


def to_keypoints(flat, path: Path) -> np.ndarray:
    """A detection's flat ``keypoints`` list → ``(133, 3)`` in source pixels."""
    try:
        pts = np.asarray(flat, np.float64)
    except (TypeError, ValueError):
        raise DanceGenError(path, "a detection's 'keypoints' is not a list of numbers") from None
    n = len(pts) // 3 if pts.ndim == 1 and len(pts) % 3 == 0 else None
    if n not in LAYOUTS:
        raise DanceGenError(path, f"a detection has {pts.size} keypoint values; expected 3 × 133 "
                            "(COCO-WholeBody), 3 × 136 (Halpe-136) or 3 × 26 (Halpe-26)")
    src = np.asarray(LAYOUTS[n])
    pts = pts.reshape(n, 3)
    kp = np.where((src >= 0)[:, None], pts[np.maximum(src, 0)], 0.0).astype(np.float32)
    kp[kp[:, 2] <= 0] = 0.0
    return kp


def read_alphapose_file(path: str | Path, n_frames: int) -> np.ndarray:
    """The highest-scoring person of every frame → ``(n_frames, 133, 3)`` in source pixels.

    ``n_frames`` is the source video's frame count; frames the file does not mention are all 0.
    """
    path = Path(path)
    try:
        detections = json.loads(path.read_text())
    except FileNotFoundError:
        raise DanceGenError(path, "not found (expected an AlphaPose results JSON)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DanceGenError(path, f"not readable AlphaPose JSON ({err})") from None
    if not isinstance(detections, list) or not all(isinstance(d, dict) for d in detections):
        raise DanceGenError(path, "must be a list of detections (AlphaPose's --format default output)")
    keypoints = np.zeros((n_frames, skeleton.NUM_JOINTS, 3), np.float32)
    best = np.full(n_frames, -np.inf)
    for det in detections:
        if "image_id" not in det or "keypoints" not in det:
            raise DanceGenError(path, "a detection lacks 'image_id' or 'keypoints'")
        t = frame_index(det["image_id"], path)
        if t >= n_frames:
            raise DanceGenError(path, f"names frame {t} but the source video has {n_frames} frames")
        score = det.get("score", 0.0)
        if not isinstance(score, (int, float)):
            raise DanceGenError(path, f"score {score!r} of frame {t} is not a number")
        kp = to_keypoints(det["keypoints"], path)
        if score > best[t]:
            best[t] = score
            keypoints[t] = kp
    return keypoints
