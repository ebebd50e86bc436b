"""Frames of the demo videos with their ground truth, and the demo stage's files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from dancegen.body import skeleton
from dancegen.core.config import DemoParams
from dancegen.demo.body import Camera, camera_of, keypoints_133, pose_3d
from dancegen.demo.cast import ROLES, choreography, role_spec
from dancegen.demo.drawing import Canvas, Figure
from dancegen.demo.scene import scene_image, to_pixels, true_background
from dancegen.core.errors import DanceGenError
from dancegen.core.store import atomic_path
from dancegen.preprocess.video import VideoWriter


class DemoFrame(NamedTuple):
    frame: np.ndarray      # (S, S, 3) uint8 RGB
    keypoints: np.ndarray  # (133, 3) float32 x, y pixels, confidence
    mask: np.ndarray       # (S, S) uint8 0/255 true person mask
    parts: np.ndarray      # (S, S) uint8 0 background, 1..10 skeleton.PARTS labels


def _shadow(cv: Canvas, pts: dict[str, np.ndarray], cam: Camera) -> None:
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
    spec = role_spec(role)
    curves = choreography(role, _n_frames(seconds, fps, size), fps, seed)
    cam = camera_of(spec, size)
    return np.stack([keypoints_133(pose_3d(spec.body, pose), cam) for pose in curves])


def render_video(role: str, seconds: float, size: int, fps: int, seed: int) -> Iterator[DemoFrame]:
    """Render ``round(seconds * fps)`` frames of ``role``'s dance, deterministically from ``seed``."""
    spec = role_spec(role)
    n = _n_frames(seconds, fps, size)
    curves = choreography(role, n, fps, seed)
    scene = scene_image(role, size, seed)
    cam = camera_of(spec, size)
    rng = np.random.default_rng([seed, ROLES.index(role), 11])
    figure = Figure(spec, cam, rng.uniform(-1, 1, (16, 16)).astype(np.float32))
    phase = float(rng.uniform(0, 2 * np.pi))
    for i in range(n):
        pts = pose_3d(spec.body, curves[i])
        cv = Canvas(scene.copy())
        _shadow(cv, pts, cam)
        figure.draw(cv, pts)
        frame = to_pixels(cv.rgb, _light_gain(i / fps, phase))
        mask = np.where(cv.labels > 0, np.uint8(255), np.uint8(0))
        yield DemoFrame(frame, keypoints_133(pts, cam), mask, cv.labels)


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
