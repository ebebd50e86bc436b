"""Who is in view: following the main dancer, finding anyone else, and the verdict on a video.

The main dancer is whoever the tracking detector follows, as long as it stays near where it was
(:func:`same_person`). A few frames a second the main dancer is hidden and a single-image pose
detection looks at the rest (:func:`find_other`); what it finds counts as a *sighting* only when a
person segmentation agrees that a body is there (pose detectors readily see a person in furniture:
in a cluttered garage MediaPipe Pose found whole "skeletons" on a motorbike where the segmentation
saw 0–4 % person) and its size is plausible beside the main dancer.
:func:`confirmed` keeps the sightings seen at a consistent place over consecutive checks, and
:func:`verdict` sums them up as the pose file's record and a warning line (:mod:`dancegen.preprocess.crowd`:
a personal video with a second person in a large share of its checked frames is refused later, by
the pairs stage; a reference video never is).
"""

from __future__ import annotations

import cv2
import numpy as np

from dancegen.body import skeleton
from dancegen.preprocess.crowd import OthersInView, frame_ranges
from dancegen.preprocess.detect.mediapipe import PoseFinder, SelfieSegmenter
from dancegen.core.errors import DanceGenError
from dancegen.body.skeleton import J

TORSO_JOINTS = (J["left_shoulder"], J["right_shoulder"], J["left_hip"], J["right_hip"])
# The torso as a polygon: shoulders, then hips in reverse order.
TORSO_RING = (J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"])

# The detected person's box grows by this × the torso length; inside it the main dancer's own
# mask, grown by MASK_GROW × the torso length, is hidden (hair, motion blur, clothes).
BOX_MARGIN = 0.25
MASK_GROW = 0.15
# A sighting's torso, where the main dancer is not, must be this much person by the segmentation.
MIN_SUPPORT = 0.5
# ... and span at least this many pixels there (a torso hidden behind the main dancer is no evidence).
MIN_TORSO_PIXELS = 20
# Its torso length relative to the main dancer's: someone further back is smaller, not 3× smaller.
SIZE_RANGE = (0.4, 2.5)
# Sightings in consecutive checks are the same person when their torso centres are within this ×
# the torso length of each other; a person must be seen in CONFIRM_RUN consecutive checks.
CONFIRM_SHIFT = 1.0
CONFIRM_RUN = 2
# The main dancer's torso centre moves at most FOLLOW_JUMP torso lengths between frames, plus
# FOLLOW_SPEED torso lengths per second since it was last seen; further away is someone else.
FOLLOW_JUMP = 0.5
FOLLOW_SPEED = 3.0


def torso_centre(keypoints: np.ndarray) -> np.ndarray:
    """``(x, y)`` mean of the four torso joints of ``keypoints: (133, 3)``."""
    return keypoints[list(TORSO_JOINTS), :2].mean(axis=0)


def same_person(previous: np.ndarray, seconds: float, keypoints: np.ndarray) -> bool:
    """Whether ``keypoints`` (133, 3) may be the person seen at ``previous`` ``seconds`` before.

    Trackers lose a dancer and pick up whoever is most prominent; a torso that moved further than a
    dancer moves in that time is someone else.
    """
    scale = skeleton.body_scale(previous) or 0.0
    reach = scale * (FOLLOW_JUMP + FOLLOW_SPEED * seconds)
    return bool(np.linalg.norm(torso_centre(keypoints) - torso_centre(previous)) <= reach)


def person_box(keypoints: np.ndarray, size: int) -> tuple[slice, slice]:
    """Rows and columns of the box around every detected keypoint, grown by BOX_MARGIN."""
    pts = keypoints[keypoints[:, 2] > 0, :2]
    grow = BOX_MARGIN * (skeleton.body_scale(keypoints) or 0.0)
    x0, y0 = np.clip(np.floor(pts.min(0) - grow), 0, size).astype(int)
    x1, y1 = np.clip(np.ceil(pts.max(0) + grow), 0, size).astype(int)
    return slice(y0, y1), slice(x0, x1)


def main_region(keypoints: np.ndarray, person: np.ndarray, threshold: float) -> np.ndarray:
    """``(S, S) bool``: where the main dancer at ``keypoints`` is, from ``person: (S, S)`` in [0, 1].

    The person mask within the dancer's box, grown; the whole box where the mask is empty there.
    A mask that marks everyone (selfie segmentation) is cut to the box, so others outside it stay.
    """
    size = person.shape[0]
    rows, cols = person_box(keypoints, size)
    box = np.zeros(person.shape, bool)
    box[rows, cols] = True
    mask = (person >= threshold) & box
    if not mask.any():
        return box
    grow = max(1, round(MASK_GROW * (skeleton.body_scale(keypoints) or 0.0)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & box


def torso_support(other: np.ndarray, people: np.ndarray, main: np.ndarray, threshold: float) -> tuple[float, int]:
    """Share of the torso of ``other: (133, 3)`` outside ``main`` that ``people: (S, S)`` marks as
    person, and how many pixels that torso has there."""
    ring = np.zeros(people.shape, np.uint8)
    cv2.fillPoly(ring, [np.round(other[list(TORSO_RING), :2]).astype(np.int32)], 1)
    where = ring.astype(bool) & ~main
    n = int(where.sum())
    return (float(np.mean(people[where] >= threshold)) if n else 0.0), n


def find_other(finder: PoseFinder, segmenter: SelfieSegmenter, frame: np.ndarray, keypoints: np.ndarray,
               person: np.ndarray, threshold: float, min_conf: float) -> np.ndarray | None:
    """The torso ``(x, y, length)`` of someone besides the main dancer in ``frame: (S, S, 3)``, or None.

    ``keypoints: (133, 3)`` and ``person: (S, S)`` in [0, 1] (cut at ``threshold``) are the main
    dancer's. The main dancer is painted grey and MediaPipe Pose (one person per image, the most
    prominent) looks at the rest; the segmenter, on that same picture, must see a body where it
    found one (on the whole frame it often misses a person standing half behind the main dancer).
    """
    size = frame.shape[0]
    main = main_region(keypoints, person, threshold)
    hidden = frame.copy()
    hidden[main] = 127
    other = finder.find(hidden)
    if not np.all(other[list(TORSO_JOINTS), 2] >= min_conf):
        return None
    # Only the centre must be in the frame: the square is cut around the main dancer, and a person
    # beside them often stands half outside it (a shoulder past the edge is still a person).
    cx, cy = torso_centre(other)
    if not (0 <= cx < size and 0 <= cy < size) or main[int(cy), int(cx)]:
        return None
    length = skeleton.body_scale(other) or 0.0
    ratio = length / max(skeleton.body_scale(keypoints) or 0.0, 1e-6)
    if not SIZE_RANGE[0] <= ratio <= SIZE_RANGE[1]:
        return None
    support, pixels = torso_support(other, segmenter.segment(hidden), main, threshold)
    if support < MIN_SUPPORT or pixels < MIN_TORSO_PIXELS:
        return None
    return np.array([cx, cy, length], np.float32)


def confirmed(sightings: np.ndarray) -> np.ndarray:
    """Which of the checks' ``sightings: (N, 3)`` (torso x, y, length; NaN where nobody) are confirmed.

    A sighting is confirmed when it belongs to a run of at least CONFIRM_RUN consecutive checks
    whose torsos are each within CONFIRM_SHIFT torso lengths of the previous one. ``(N,) bool``.
    """
    seen = ~np.isnan(sightings[:, 0])
    linked = np.zeros(len(sightings), bool)   # linked[i]: check i continues the sighting of i - 1
    for i in range(1, len(sightings)):
        if seen[i] and seen[i - 1]:
            shift = np.linalg.norm(sightings[i, :2] - sightings[i - 1, :2])
            linked[i] = shift <= CONFIRM_SHIFT * max(sightings[i, 2], sightings[i - 1, 2])
    out = np.zeros(len(sightings), bool)
    start = 0
    for i in range(1, len(sightings) + 1):
        if i == len(sightings) or not linked[i]:
            if seen[start] and i - start >= CONFIRM_RUN:
                out[start:i] = True
            start = i
    return out


def verdict(where, valid: np.ndarray, checked: np.ndarray, sightings: np.ndarray, step: int,
            others: np.ndarray | None = None) -> tuple[OthersInView, str | None]:
    """Sum up a video's per-frame findings → (the record for its pose file, the warning line or None).

    ``valid: (T,) bool`` frames showing the main dancer; ``checked: (T,) bool`` frames looked at for
    someone else, ``step`` frames apart; ``sightings: (n_checked, 3)`` what :func:`find_other` found
    there (NaN rows: nobody); ``others: (T,) bool`` frames where the tracker had jumped to someone
    else (left invalid). Raises :class:`DanceGenError` naming ``where`` for a video without the main
    dancer. Whether the sightings refuse the video depends on its role: :mod:`dancegen.preprocess.crowd`.
    """
    if not valid.any():
        raise DanceGenError(where, f"no person detected in any of the {len(valid)} frames")
    record = OthersInView(int(checked.sum()), int(step), np.flatnonzero(checked)[confirmed(sightings)].tolist())
    notes = [record.line()] if record.frames else []
    if others is not None and others.any():
        jumped = np.flatnonzero(others).tolist()
        notes.append(f"{len(jumped)} frames showed someone else and are left out (frames "
                     f"{frame_ranges(jumped, 1)})")
    if record.too_many():
        notes.append("too many for a personal video, which the pairs stage refuses")
    return record, "; ".join(notes) or None
