"""Video I/O through ffmpeg (ffmpeg-python): frame streams in and out, never whole videos in RAM.

Frames are ``(H, W, 3) uint8 RGB`` everywhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import ffmpeg
import numpy as np

from dancegen.errors import DanceGenError
from dancegen.store import atomic_path


def require_ffmpeg() -> None:
    """Fail with one line when the ffmpeg binary is missing."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise DanceGenError("ffmpeg", "not found on PATH: install it (Debian: apt-get install ffmpeg)")


class VideoWriter:
    """Encode frames to an H.264 mp4 as they come; the file appears only when complete.

    ``with VideoWriter(path, fps=30) as w: w.write(frame)`` — ``frame: (H, W, 3) uint8 RGB``; the
    size is taken from the first frame (odd sizes are padded by one pixel for yuv420p).
    """

    def __init__(self, path: str | Path, fps: float = 30.0, crf: int = 18):
        require_ffmpeg()
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self._ctx = atomic_path(self.path)
        self._proc = None
        self.n_frames = 0

    def __enter__(self) -> "VideoWriter":
        self._tmp = self._ctx.__enter__()
        return self

    def _start(self, h: int, w: int) -> None:
        self._shape = (h, w, 3)
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=self.fps)
        stream = stream.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")
        stream = ffmpeg.output(stream, str(self._tmp), format="mp4", vcodec="libx264", pix_fmt="yuv420p",
                               crf=self.crf, r=self.fps, movflags="+faststart")
        self._proc = stream.overwrite_output().global_args("-loglevel", "error").run_async(
            pipe_stdin=True, pipe_stderr=True)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._proc is None:
            self._start(frame.shape[0], frame.shape[1])
        elif frame.shape != self._shape:
            raise ValueError(f"frame size changed from {self._shape} to {frame.shape}")
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.n_frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        err = b""
        try:
            if self._proc is not None:
                self._proc.stdin.close()
                err = self._proc.stderr.read()
                code = self._proc.wait()
                if code != 0 and exc_type is None:
                    raise DanceGenError(self.path, f"ffmpeg failed to encode: {err.decode(errors='replace').strip()[-300:]}")
            elif exc_type is None:
                raise DanceGenError(self.path, "no frames were written")
        except BaseException as e:
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        self._ctx.__exit__(exc_type, exc, tb)
        return False
