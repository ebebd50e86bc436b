"""On-disk layouts of the per-video caches, and atomic writes.

Frames file ``data/frames/<video>.h5``
  ``frames``  (T, S, S, 3) uint8 RGB, chunked one frame per chunk, lossless (gzip level 1)
  ``audio``   (n,) uint8 — only when the source has sound: the bytes of an AAC .m4a file whose
              time 0 is frame 0 (:func:`dancegen.preprocess.video.read_audio`), so frame t sounds at t / fps
  ``surround`` (h, w, 3) uint8 RGB — the whole source frame without its person (median of frames
              spread over the video, longer side at most 1024 px), for full-frame output
  attrs: ``fps`` (float, the rate of ``frames``), ``size`` (S), ``source`` (path), ``source_size`` [W, H],
         ``crop`` [x0, y0, side] — the square taken from the source, in source pixels (may extend
         past the source's edges, where it is padded)

Pose file ``data/pose/<video>.h5``
  ``keypoints`` (T, 133, 3) float32 x, y, confidence — COCO-WholeBody order (:mod:`dancegen.body.skeleton`),
                pixels of the extracted frame
  ``valid``     (T,) bool — a person was detected with enough body joints
  ``mask``      (T, S, S) uint8 — person probability × 255 (0 where the frame is invalid)
  ``parsing``   (T, S, S) uint8 — 0 background, 1..10 the parts of :data:`dancegen.body.skeleton.PARTS`
  attrs: ``schema`` (= skeleton.SCHEMA_NAME), ``joint_names`` / ``part_names`` (JSON lists),
         ``detector``, ``detector_version``, ``size``, ``fps``, ``n_valid``

Everything is written to ``<path>.tmp-<pid>`` and renamed into place only when complete, so a
failed or killed stage never leaves a half-written artifact under the real name.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from dancegen.body import skeleton
from dancegen.core.errors import DanceGenError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new empty directory beside ``path``; it replaces the directory ``path`` only if the
    block succeeds (the old one is removed just before, since a rename cannot overwrite a full one)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        yield tmp
        if path.exists():
            import shutil

            shutil.rmtree(path)


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise DanceGenError(path, "not found (run the stage that makes it first: dvc repro)")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DanceGenError(path, f"not a readable HDF5 file ({err})") from None


class FrameWriter:
    """Streams frames into a frames file; memory stays one frame deep.

    Use as a context manager: the file appears under its real name only on a clean exit.
    """

    def __init__(self, path: str | Path, size: int, fps: float, audio: bytes | None = None,
                 surround: np.ndarray | None = None, **attrs):
        self.path = Path(path)
        self.size = size
        self._audio, self._surround = audio, surround
        self._ctx = atomic_path(self.path)
        self._attrs = dict(attrs, fps=float(fps), size=int(size))
        self._n = 0

    def __enter__(self) -> "FrameWriter":
        tmp = self._ctx.__enter__()
        self._file = h5py.File(tmp, "w")
        s = self.size
        self._ds = self._file.create_dataset(
            "frames", shape=(0, s, s, 3), maxshape=(None, s, s, 3), dtype=np.uint8,
            chunks=(1, s, s, 3), compression="gzip", compression_opts=1,
        )
        if self._audio is not None:
            self._file.create_dataset("audio", data=np.frombuffer(self._audio, np.uint8))
        if self._surround is not None:
            self._file.create_dataset("surround", data=self._surround, compression="gzip", compression_opts=1)
        return self

    def append(self, frame: np.ndarray) -> None:
        """``frame: (S, S, 3) uint8 RGB``."""
        if frame.shape != (self.size, self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.size}, {self.size}, 3) uint8, got {frame.shape} {frame.dtype}")
        self._ds.resize(self._n + 1, axis=0)
        self._ds[self._n] = frame
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            for k, v in self._attrs.items():
                self._ds.attrs[k] = v
            self._file.close()
        finally:
            self._ctx.__exit__(exc_type, exc, tb)
        return False


class FrameStore:
    """Random access to a frames file: ``store[t] -> (S, S, 3) uint8 RGB``; ``len(store) = T``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        if "frames" not in self._file:
            raise DanceGenError(self.path, "has no 'frames' dataset (not a dancegen frames file)")
        self._ds = self._file["frames"]
        self.fps = float(self._ds.attrs.get("fps", 30.0))
        self.size = int(self._ds.shape[1])
        self.attrs = dict(self._ds.attrs)

    def __len__(self) -> int:
        return int(self._ds.shape[0])

    @property
    def audio(self) -> bytes | None:
        """The sound of the frames (an .m4a file's bytes, time 0 at frame 0), None when silent."""
        return self._file["audio"][:].tobytes() if "audio" in self._file else None

    @property
    def surround(self) -> np.ndarray | None:
        """``(h, w, 3) uint8 RGB``: the whole source frame without the person, None when not recorded."""
        return self._file["surround"][:] if "surround" in self._file else None

    def __getitem__(self, t) -> np.ndarray:
        return self._ds[t]

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(len(self)):
            yield self._ds[t]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "FrameStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoseWriter:
    """Streams per-frame detections into a pose file (layout in the module docstring)."""

    def __init__(self, path: str | Path, size: int, fps: float, detector: str, detector_version: str):
        self.path = Path(path)
        self.size = size
        self._ctx = atomic_path(self.path)
        self._attrs = {
            "schema": skeleton.SCHEMA_NAME,
            "joint_names": json.dumps(skeleton.JOINT_NAMES),
            "part_names": json.dumps(skeleton.PART_NAMES),
            "detector": detector,
            "detector_version": detector_version,
            "size": int(size),
            "fps": float(fps),
        }
        self._n = 0
        self._n_valid = 0

    def __enter__(self) -> "PoseWriter":
        tmp = self._ctx.__enter__()
        self._file = h5py.File(tmp, "w")
        s, nj = self.size, skeleton.NUM_JOINTS
        f = self._file
        self._kp = f.create_dataset("keypoints", (0, nj, 3), maxshape=(None, nj, 3), dtype=np.float32,
                                    chunks=(64, nj, 3))
        self._valid = f.create_dataset("valid", (0,), maxshape=(None,), dtype=bool, chunks=(1024,))
        img = dict(maxshape=(None, s, s), dtype=np.uint8, chunks=(1, s, s), compression="gzip",
                   compression_opts=1)
        self._mask = f.create_dataset("mask", (0, s, s), **img)
        self._parsing = f.create_dataset("parsing", (0, s, s), **img)
        return self

    def append(self, keypoints: np.ndarray, valid: bool, mask: np.ndarray, parsing: np.ndarray) -> None:
        """``keypoints: (133, 3) float32``, ``mask: (S, S) uint8`` 0..255, ``parsing: (S, S) uint8`` 0..10."""
        t = self._n
        for ds in (self._kp, self._valid, self._mask, self._parsing):
            ds.resize(t + 1, axis=0)
        self._kp[t] = keypoints
        self._valid[t] = bool(valid)
        self._mask[t] = mask
        self._parsing[t] = parsing
        self._n += 1
        self._n_valid += int(bool(valid))

    def note(self, **attrs) -> None:
        """File attributes to write with the others (``dancegen.preprocess.crowd.ATTR``: who else was in view)."""
        self._attrs.update(attrs)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            for k, v in dict(self._attrs, n_valid=self._n_valid).items():
                self._file.attrs[k] = v
            self._file.close()
        finally:
            self._ctx.__exit__(exc_type, exc, tb)
        return False


class PoseStore:
    """Read access to a pose file. ``keypoints``/``valid`` are loaded (small); masks per frame."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        missing = {"keypoints", "valid", "mask", "parsing"} - set(self._file)
        if missing:
            raise DanceGenError(self.path, f"is not a dancegen pose file (missing {sorted(missing)})")
        schema = self._file.attrs.get("schema", "")
        if schema != skeleton.SCHEMA_NAME:
            raise DanceGenError(self.path, f"keypoint schema is '{schema}', expected '{skeleton.SCHEMA_NAME}'")
        self.keypoints: np.ndarray = self._file["keypoints"][:]   # (T, 133, 3) float32
        self.valid: np.ndarray = self._file["valid"][:]           # (T,) bool
        self.size = int(self._file.attrs["size"])
        self.fps = float(self._file.attrs["fps"])
        self.attrs = dict(self._file.attrs)

    def __len__(self) -> int:
        return len(self.valid)

    def mask(self, t) -> np.ndarray:
        """``(S, S) uint8`` person probability × 255 (or ``(n, S, S)`` for a slice)."""
        return self._file["mask"][t]

    def parsing(self, t) -> np.ndarray:
        """``(S, S) uint8`` part labels 0..10 (or ``(n, S, S)`` for a slice)."""
        return self._file["parsing"][t]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "PoseStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_consistent(frames: FrameStore, pose: PoseStore) -> None:
    """Raise DanceGenError when a pose file does not describe its frames file (other count or size)."""
    if len(frames) != len(pose) or frames.size != pose.size:
        raise DanceGenError(pose.path, f"has {len(pose)} frames of {pose.size}² but "
                            f"{frames.path} has {len(frames)} of {frames.size}² (re-run detect)")
