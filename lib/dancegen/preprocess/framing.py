"""Choosing the square a video is cropped to: find where the person is, then frame them; and the
scene around that square (:func:`surroundings`), for putting results back into the whole frame.

A crop is ``(x0, y0, side)`` in displayed source pixels (:class:`dancegen.preprocess.video.VideoInfo`); it may
extend past the frame's edges, where :func:`dancegen.preprocess.video.read_frames` fills it black.
"""

from __future__ import annotations

import math

import mediapipe as mp
import numpy as np

from dancegen.core.errors import DanceGenError
from dancegen.preprocess.video import VideoInfo, sample_frames

# Small probe frames keep the probe cheap; at 640 px a person standing in a landscape 1080p shot is
# still over 300 px tall, more than the 256 px that MediaPipe's landmark model looks at.
PROBE_MAX_SIDE = 640
MIN_VISIBILITY = 0.5   # landmarks MediaPipe thinks are less likely in view do not shape the box
SURROUND_FRAMES = 15
SURROUND_MAX_SIDE = 1024


def person_square(info: VideoInfo, probe_frames: int, margin: float) -> tuple[int, int, int]:
    """The square crop ``(x0, y0, side)`` around the person seen in ``probe_frames`` sampled frames."""
    return square_around(person_box(info, probe_frames), margin, info.width, info.height)


def surroundings(info: VideoInfo, n: int = SURROUND_FRAMES, max_side: int = SURROUND_MAX_SIDE) -> np.ndarray:
    """The source's whole frame without its moving person: the per-pixel median of ``n`` frames spread
    over the video, the longer side at most ``max_side`` → ``(h, w, 3) uint8 RGB``. Only its part
    outside the crop is ever shown, where the person seldom is."""
    frames, _ = sample_frames(info, n, max_side)
    return np.median(frames, axis=0).round().astype(np.uint8)


def person_box(info: VideoInfo, probe_frames: int) -> tuple[float, float, float, float]:
    """``(x_min, y_min, x_max, y_max)`` in source pixels: the union over the sampled frames of the
    person's confident body landmarks, clipped to the frame."""
    frames, _ = sample_frames(info, probe_frames, PROBE_MAX_SIDE)
    points = []   # x, y in [0, 1] of the frame, from every frame where a person was found
    # model_complexity=1 is the only pose model shipped inside the wheel; the others download.
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for frame in frames:
            found = pose.process(frame).pose_landmarks
            if found is not None:
                points += [(lm.x, lm.y) for lm in found.landmark if lm.visibility >= MIN_VISIBILITY]
    xy = np.array(points, dtype=np.float64).reshape(-1, 2)   # (n, 2)
    if len(xy) == 0:
        raise DanceGenError(info.path, f"no person found in any of {len(frames)} sampled frames")
    lo = np.clip(xy.min(axis=0), 0.0, 1.0) * (info.width, info.height)
    hi = np.clip(xy.max(axis=0), 0.0, 1.0) * (info.width, info.height)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def square_around(box: tuple[float, float, float, float], margin: float, width: int,
                  height: int) -> tuple[int, int, int]:
    """The square a user expects for a person in ``box`` in a ``width`` × ``height`` frame.

    The box grows by ``margin`` × its longer side on every side, but not past the frame (padding
    adds no picture). The square is the smallest that holds it and is never smaller than the frame's
    short side, so a landscape shot keeps its full height. It is centred on the box, then shifted to
    stay inside the frame — or, where it is larger than the frame along an axis, to cover the whole
    frame along that axis, the rest being padded.
    """
    x_min, y_min, x_max, y_max = box
    grow = margin * max(x_max - x_min, y_max - y_min)
    x_min, y_min = max(0.0, x_min - grow), max(0.0, y_min - grow)
    x_max, y_max = min(float(width), x_max + grow), min(float(height), y_max + grow)
    side = max(math.ceil(max(x_max - x_min, y_max - y_min)), min(width, height))
    return (_place(side, (x_min + x_max) / 2, width), _place(side, (y_min + y_max) / 2, height), side)


def _place(side: int, centre: float, extent: int) -> int:
    """Start of a ``side``-long span centred on ``centre``, kept inside ``[0, extent)`` when it fits
    and covering all of it when it does not."""
    start = round(centre - side / 2)
    return int(min(max(start, min(0, extent - side)), max(0, extent - side)))
