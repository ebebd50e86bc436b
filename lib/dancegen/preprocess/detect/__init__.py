"""Pose detection for one video: canonical keypoints, person mask and 10-part parsing per frame.

:func:`detect_video` streams a frames file (:class:`dancegen.core.store.FrameStore`) through a backend
and writes a pose file (:class:`dancegen.core.store.PoseWriter`):

* ``mediapipe`` — MediaPipe Holistic tracks the body, face and hands and gives the person mask;
* ``openpose_json`` / ``alphapose_json`` — keypoints imported from another detector's output
  (``pose.json[<video>]``), taken from the source video's pixels and frame rate into the extracted
  frames; the person mask comes from MediaPipe selfie segmentation, as the JSON has none.

A frame is valid when the person's torso was found (:func:`is_valid`); frames without one are kept,
marked invalid with empty mask and parsing, and counted in the summary. A video is refused when no
frame shows a person; who else is in view, and the verdict on it, is :mod:`dancegen.preprocess.detect.people`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from dancegen.preprocess import video
from dancegen.core.arrays import true_runs
from dancegen.core.config import PoseParams
from dancegen.preprocess.detect import alphapose_json, openpose_json
from dancegen.preprocess.detect.mediapipe import (DETECTOR_NAME, DETECTOR_VERSION, HolisticDetector, PoseFinder,
                                       SelfieSegmenter)
from dancegen.preprocess.detect.people import TORSO_JOINTS, find_other, same_person, verdict
from dancegen.preprocess.crowd import ATTR
from dancegen.core.errors import DanceGenError
from dancegen.preprocess.parsing import parse_parts
from dancegen.core.store import FrameStore, PoseWriter

# Confidence the four torso joints need for a frame to count as showing the person. MediaPipe's
# visibility is a calibrated "in view" probability; OpenPose/AlphaPose scores are heatmap peaks,
# which sit lower for joints that are plainly there.
MEDIAPIPE_MIN_CONF = 0.5
JSON_MIN_CONF = 0.2

# The look for someone else runs on a few frames a second (a static pose detection costs about as
# much as a tracked Holistic frame).
CROWD_CHECKS_PER_SECOND = 5


def is_valid(keypoints: np.ndarray, size: int, min_conf: float) -> bool:
    """Whether ``keypoints: (133, 3)`` show a person: both shoulders and hips found inside the frame.

    The torso carries the part transforms, the pose normalisation and the parsing, so a frame where
    it is missing or cut off by the frame's edge is of no use for training or as a reference.
    """
    torso = keypoints[list(TORSO_JOINTS)]
    inside = (torso[:, :2] >= 0.0) & (torso[:, :2] <= size)
    return bool(np.all(torso[:, 2] >= min_conf) and np.all(inside))


@dataclass(frozen=True)
class DetectSummary:
    """What :func:`detect_video` found. ``valid: (T,) bool``; ``warning``: who else was in view."""

    valid: np.ndarray
    seconds: float
    warning: str | None = None

    @property
    def n_frames(self) -> int:
        return len(self.valid)

    @property
    def n_invalid(self) -> int:
        return int(np.count_nonzero(~self.valid))

    @property
    def longest_gap(self) -> tuple[int, int] | None:
        """``(first, last)`` frame of the longest run without a person, or None."""
        runs = [(start, stop - 1) for start, stop in true_runs(~self.valid)]
        return max(runs, key=lambda r: r[1] - r[0]) if runs else None

    def line(self) -> str:
        text = f"{self.n_invalid} of {self.n_frames} frames without a person"
        gap = self.longest_gap
        if gap is not None:
            text += f"; longest gap frames {gap[0]}-{gap[1]} ({gap[1] - gap[0] + 1} frames)"
        return text + f"; {1000.0 * self.seconds / max(self.n_frames, 1):.0f} ms/frame"


def _json_path(pose_params: PoseParams, video_name: str) -> Path:
    if video_name not in pose_params.json:
        raise DanceGenError("params.yaml", f"'pose.json' has no entry for video '{video_name}' "
                            f"(needed by pose.backend {pose_params.backend})")
    return Path(pose_params.json[video_name])


def source_to_frames(keypoints: np.ndarray, crop, size: int) -> np.ndarray:
    """Keypoints in source-video pixels → pixels of the extracted ``size``² frame.

    ``keypoints: (..., 133, 3)``; ``crop = (x0, y0, side)``, the square the frames were cut from.
    Undetected points (confidence 0) stay (0, 0, 0).
    """
    x0, y0, side = (float(c) for c in crop)
    out = keypoints.astype(np.float32).copy()
    out[..., 0] = (keypoints[..., 0] - x0) * size / side
    out[..., 1] = (keypoints[..., 1] - y0) * size / side
    out[keypoints[..., 2] <= 0] = 0.0
    return out


def resample_to_frames(keypoints: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-source-frame ``keypoints: (N, 133, 3)`` → ``(n_frames, 133, 3)``, nearest in time.

    Assumes the N source frames and the n_frames extracted ones span the same stretch of time at
    constant rates (the extract stage resamples the whole source video), so the source rate is
    N / n_frames × the extracted rate and frame t shows source frame round(t · N / n_frames).
    """
    src = np.minimum(np.round(np.arange(n_frames) * len(keypoints) / n_frames).astype(int), len(keypoints) - 1)
    return keypoints[src]


def _frames_attr(frames: FrameStore, key: str):
    if key not in frames.attrs:
        raise DanceGenError(frames.path, f"has no '{key}' attribute, needed to align imported keypoints "
                            "(re-run the extract stage)")
    return frames.attrs[key]


def load_json_keypoints(pose_params: PoseParams, video_name: str, frames: FrameStore) -> np.ndarray:
    """Imported keypoints aligned to the frames file: ``(T, 133, 3)`` in extracted-frame pixels.

    The JSON must describe every frame of the source video (OpenPose: one file per frame; AlphaPose:
    frame indices below the source's frame count, frames without anyone may be absent).
    """
    path = _json_path(pose_params, video_name)
    source = _frames_attr(frames, "source")
    crop = _frames_attr(frames, "crop")
    n_source = video.probe(source).n_frames
    if pose_params.backend == "openpose_json":
        per_frame = openpose_json.read_openpose_folder(path)
        if len(per_frame) != n_source:
            raise DanceGenError(path, f"has {len(per_frame)} frames but the source video {source} "
                                f"has {n_source}")
    else:
        per_frame = alphapose_json.read_alphapose_file(path, n_source)
    return resample_to_frames(source_to_frames(per_frame, crop, frames.size), len(frames))


def detect_video(frames_path: str | Path, out_path: str | Path, pose_params: PoseParams,
                 video_name: str, parsing_min_conf: float) -> DetectSummary:
    """Detect the main dancer in every frame of ``frames_path`` and write the pose file ``out_path``,
    whose parsing takes keypoints below ``parsing_min_conf`` (``posemap.min_conf``) as missing.

    Frames where the tracker jumped to someone else are kept but marked invalid. Raises
    :class:`DanceGenError` (and writes nothing) when no frame shows a person. The frames where
    someone else was seen are recorded in the pose file (:mod:`dancegen.preprocess.crowd`; the pairs stage
    refuses a personal video with too many) and reported in ``DetectSummary.warning``.

    With ``pose_params.workers`` > 1 the frames are cut into that many consecutive runs (none shorter
    than MIN_RUN_SECONDS), each detected by its own process with its own MediaPipe graphs, and the
    runs' pose files are joined in frame order. Each run starts tracking afresh, so keypoints differ
    from one process's within a few frames after each seam (benchmarks/README.md measures it).
    """
    started = time.perf_counter()
    with FrameStore(frames_path) as frames:
        n, size, fps = len(frames), frames.size, frames.fps
    if n == 0:
        raise DanceGenError(frames_path, "has no frames")
    bounds = run_bounds(n, fps, pose_params.workers)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_path.name}.tmp-", dir=out_path.parent) as tmp:
        parts = [Path(tmp) / f"run{i}.h5" for i in range(len(bounds))]
        if len(bounds) == 1:
            found = [_detect_run(frames_path, parts[0], pose_params, video_name, parsing_min_conf, (0, n))]
        else:
            context = multiprocessing.get_context("spawn")   # MediaPipe's graphs do not survive a fork
            with ProcessPoolExecutor(len(bounds), mp_context=context) as pool:
                jobs = [pool.submit(_detect_run, frames_path, part, pose_params, video_name, parsing_min_conf,
                                    span, i)
                        for i, (part, span) in enumerate(zip(parts, bounds))]
                found = [job.result() for job in jobs]
        valid, checked, jumped = (np.concatenate([getattr(f, k) for f in found])
                                  for k in ("valid", "checked", "jumped"))
        sightings = np.concatenate([f.sightings for f in found]).reshape(-1, 3)
        record, warning = verdict(frames_path, valid, checked, sightings, _check_every(fps), jumped)
        if len(parts) == 1:
            with h5py.File(parts[0], "a") as f:
                f.attrs[ATTR] = record.to_json()
            os.replace(parts[0], out_path)
        else:
            _join_pose_files(parts, out_path, size, fps, found[0].detector, {ATTR: record.to_json()})
    return DetectSummary(valid=valid, seconds=time.perf_counter() - started, warning=warning)


# A run of frames detected by one process is at least this long: tracking restarts at each seam.
MIN_RUN_SECONDS = 2.0


def run_bounds(n_frames: int, fps: float, workers: int) -> list[tuple[int, int]]:
    """``[(first, stop), ...]``: ``n_frames`` cut into at most ``workers`` consecutive runs of nearly
    equal length, none shorter than MIN_RUN_SECONDS."""
    runs = max(1, min(workers, int(n_frames // max(1.0, MIN_RUN_SECONDS * fps))))
    edges = np.linspace(0, n_frames, runs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _check_every(fps: float) -> int:
    return max(1, round(fps / CROWD_CHECKS_PER_SECOND))


@dataclass
class _Run:
    """What one process found on its frames (global frame numbers ``first`` … ``first + len - 1``)."""

    detector: str
    valid: np.ndarray       # (n,) bool: shows the main dancer
    checked: np.ndarray     # (n,) bool: looked at for someone else
    jumped: np.ndarray      # (n,) bool: the tracker had jumped to someone else
    sightings: np.ndarray   # (n_checked, 3) torso x, y, length of someone else; NaN rows: nobody


def _detect_run(frames_path: str | Path, out_path: str | Path, pose_params: PoseParams, video_name: str,
                parsing_min_conf: float, span: tuple[int, int], position: int = 0) -> _Run:
    """Detect frames ``first`` … ``stop - 1`` (``span``) of ``frames_path`` into the pose file ``out_path``
    (those frames only), tracking from ``first`` on."""
    first, stop = span
    threshold = pose_params.mask_threshold
    with contextlib.ExitStack() as stack:
        frames = stack.enter_context(FrameStore(frames_path))
        if pose_params.backend == "mediapipe":
            holistic = stack.enter_context(HolisticDetector(pose_params))
            selfie = stack.enter_context(SelfieSegmenter())
            detector, min_conf = DETECTOR_NAME, MEDIAPIPE_MIN_CONF

            def detect(t: int, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return holistic.detect(frame)
        else:
            imported = load_json_keypoints(pose_params, video_name, frames)
            selfie = stack.enter_context(SelfieSegmenter())
            detector, min_conf = f"{pose_params.backend}+mediapipe-selfie", JSON_MIN_CONF

            def detect(t: int, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return imported[t], selfie.segment(frame)
        finder = stack.enter_context(PoseFinder(pose_params))
        writer = stack.enter_context(PoseWriter(out_path, frames.size, frames.fps, detector, DETECTOR_VERSION))
        every = _check_every(frames.fps)
        n = stop - first
        valid, checked, jumped = (np.zeros(n, bool) for _ in range(3))
        sightings, last = [], None   # last: (t, keypoints) where the main dancer was last seen
        bar = tqdm(range(first, stop), desc=f"detect {video_name}", unit="frame", position=position)
        for t in bar:
            frame, i = frames[t], t - first
            keypoints, person = detect(t, frame)
            valid[i] = is_valid(keypoints, frames.size, min_conf)
            if valid[i] and last is not None and not same_person(last[1], (t - last[0]) / frames.fps, keypoints):
                valid[i], jumped[i] = False, True
            if valid[i]:
                last = (t, keypoints)
            mask = np.round(person * 255.0).astype(np.uint8) if valid[i] else np.zeros(person.shape, np.uint8)
            writer.append(keypoints, valid[i], mask, parse_parts(mask, keypoints, threshold, parsing_min_conf))
            if valid[i] and t % every == 0:
                checked[i] = True
                other = find_other(finder, selfie, frame, keypoints, person, threshold, MEDIAPIPE_MIN_CONF)
                sightings.append(np.full(3, np.nan, np.float32) if other is None else other)
    return _Run(detector, valid, checked, jumped, np.array(sightings, np.float32).reshape(-1, 3))


def _join_pose_files(parts: list[Path], out_path: Path, size: int, fps: float, detector: str, attrs: dict) -> None:
    """Append the pose files ``parts`` (consecutive runs of frames) into one pose file ``out_path``
    with the file attributes ``attrs`` besides PoseWriter's."""
    with PoseWriter(out_path, size, fps, detector, DETECTOR_VERSION) as writer:
        writer.note(**attrs)
        for part in parts:
            with h5py.File(part, "r") as f:
                for t in range(len(f["valid"])):
                    writer.append(f["keypoints"][t], f["valid"][t], f["mask"][t], f["parsing"][t])
