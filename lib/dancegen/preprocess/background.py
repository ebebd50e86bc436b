"""The fixed background image B of a personal video (paper section 3.4).

B is the average of all frames with the person masked out; pixels the person covers in every frame
are filled by inpainting from the rest.

Background directory ``data/background/<video>/``
  ``background.png``  (S, S, 3) RGB — B
  ``coverage.png``    (S, S) gray — fraction of the used frames in which each pixel was uncovered, × 255
  ``stats.json``      ``n_frames``, ``n_frames_used`` (valid detections), ``inpainted_fraction``
                      (fraction of pixels never uncovered, hence inpainted)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from tqdm import tqdm

from dancegen.core.errors import DanceGenError
from dancegen.core.images import write_png
from dancegen.core.store import FrameStore, PoseStore, atomic_path, check_consistent

INPAINT_RADIUS = 5   # px of known neighbourhood TELEA draws on for each filled pixel


def _uncovered(mask: np.ndarray, kernel: np.ndarray | None, threshold: float) -> np.ndarray:
    """``mask: (S, S) uint8`` person probability × 255 → ``(S, S) bool`` safely-background pixels."""
    person = (mask >= threshold * 255).astype(np.uint8)   # as dancegen.model.inputs.person_region
    if kernel is not None:
        person = cv2.dilate(person, kernel)
    return person == 0


def masked_average(samples: Iterable[tuple[np.ndarray, np.ndarray]], dilate_px: int,
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Average frames where the person is absent; fill what is never seen.

    ``samples`` yields ``(frame: (S, S, 3) uint8 RGB, mask: (S, S) uint8 person probability × 255)``
    one at a time. The person is where the mask is at least ``threshold`` (a probability), grown by
    ``dilate_px`` so that soft edges and halos stay out of B.

    Returns ``background: (S, S, 3) uint8 RGB`` and ``coverage: (S, S) float32`` in [0, 1], the
    fraction of frames in which each pixel was uncovered; pixels with coverage 0 are inpainted.
    """
    kernel = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1,) * 2)
              if dilate_px > 0 else None)
    sums = counts = None
    n = 0
    for frame, mask in samples:
        if sums is None:
            sums = np.zeros(frame.shape, np.float64)
            counts = np.zeros(frame.shape[:2], np.float64)
        seen = _uncovered(mask, kernel, threshold)
        sums += frame * seen[..., None]
        counts += seen
        n += 1
    if n == 0:
        raise ValueError("no frames to average")
    if not counts.any():
        raise ValueError("the person covers every pixel in every frame; nothing to average")
    mean = sums / np.maximum(counts, 1)[..., None]
    background = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    holes = (counts == 0).astype(np.uint8)
    if holes.any():
        background = cv2.inpaint(background, holes, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return background, (counts / n).astype(np.float32)


def estimate_background(frames: FrameStore, pose: PoseStore, dilate_px: int,
                        threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """B of one video: :func:`masked_average` over the frames whose detection is valid.

    Frames are streamed from the store. Invalid frames are skipped because a person may be in them
    undetected. Raises :class:`DanceGenError` naming the pose file when the files disagree or no
    frame is usable.
    """
    check_consistent(frames, pose)
    used = np.flatnonzero(pose.valid)
    if len(used) == 0:
        raise DanceGenError(pose.path, "has no valid detection, so the person cannot be masked out of any frame")
    samples = ((frames[t], pose.mask(t)) for t in tqdm(used, desc="background", unit="frame", leave=False))
    try:
        return masked_average(samples, dilate_px, threshold)
    except ValueError as err:
        raise DanceGenError(pose.path, str(err)) from None


def make_background(frames_path: str | Path, pose_path: str | Path, out_dir: str | Path, dilate_px: int,
                    threshold: float) -> None:
    """The background stage: :func:`estimate_background` of one video, written by :func:`save_background`."""
    with FrameStore(frames_path) as frames, PoseStore(pose_path) as pose:
        image, coverage = estimate_background(frames, pose, dilate_px, threshold)
        n_frames, n_used = len(pose), int(np.count_nonzero(pose.valid))
    save_background(out_dir, image, coverage, n_frames, n_used)


def save_background(out_dir: str | Path, background: np.ndarray, coverage: np.ndarray,
                    n_frames: int, n_frames_used: int) -> None:
    """Write the background directory (layout in the module docstring); it appears whole or not at all."""
    out_dir = Path(out_dir)
    stats = {
        "n_frames": int(n_frames),
        "n_frames_used": int(n_frames_used),
        "inpainted_fraction": float(np.mean(coverage == 0)),
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_png(tmp / "background.png", background)
        write_png(tmp / "coverage.png", np.clip(np.rint(coverage * 255), 0, 255).astype(np.uint8))
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        # os.replace cannot overwrite a non-empty directory: drop the old one only once the new is complete.
        if out_dir.exists():
            shutil.rmtree(out_dir)


def load_background(out_dir: str | Path) -> np.ndarray:
    """``background.png`` of a background directory as ``(S, S, 3) uint8 RGB``."""
    path = Path(out_dir) / "background.png"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DanceGenError(path, "not found or not an image (run the background stage first: dvc repro)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
