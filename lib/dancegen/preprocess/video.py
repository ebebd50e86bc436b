"""Video I/O through ffmpeg (ffmpeg-python): frame streams in and out, never whole videos in RAM.

Frames are ``(H, W, 3) uint8 RGB`` everywhere. Reading: :func:`probe` validates a file once and
returns a :class:`VideoInfo`; :func:`read_frames` streams it resampled, cropped and resized;
:func:`sample_frames` decodes a few small frames spread over it; :func:`read_audio` takes its sound
track, aligned to its first frame. Writing: :class:`VideoWriter`, with that sound muxed in.
"""

from __future__ import annotations

import collections
import math
import shutil
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from dancegen.core.errors import DanceGenError
from dancegen.core.store import atomic_path


def require_ffmpeg() -> None:
    """Fail with one line when the ffmpeg binary is missing."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise DanceGenError("ffmpeg", "not found on PATH: install it (Debian: apt-get install ffmpeg)")


class VideoWriter:
    """Encode frames to an H.264 mp4 as they come; the file appears only when complete.

    ``with VideoWriter(path, fps=30) as w: w.write(frame)`` — ``frame: (H, W, 3) uint8 RGB``; the
    size is taken from the first frame (odd sizes are padded by one pixel for yuv420p). ``audio``:
    an audio file's bytes whose time 0 is the first frame (:func:`read_audio`); it is muxed in as
    AAC, trimmed — or padded with silence — to the video's duration.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, crf: int = 18, audio: bytes | None = None):
        require_ffmpeg()
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self.audio = audio
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
                if self.audio is not None and exc_type is None:
                    self._mux_audio()
            elif exc_type is None:
                raise DanceGenError(self.path, "no frames were written")
        except BaseException as e:
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        self._ctx.__exit__(exc_type, exc, tb)
        return False

    def _mux_audio(self) -> None:
        """Replace the encoded video by itself plus :attr:`audio`, cut to exactly the frames' duration."""
        with tempfile.TemporaryDirectory(dir=self._tmp.parent) as work:
            video, sound = Path(work) / "video.mp4", Path(work) / "audio"
            self._tmp.replace(video)
            sound.write_bytes(self.audio)
            out = ffmpeg.output(ffmpeg.input(str(video)).video, ffmpeg.input(str(sound)).audio.filter("apad"),
                                str(self._tmp), format="mp4", vcodec="copy", acodec="aac", audio_bitrate="192k",
                                t=f"{self.n_frames / self.fps:.6f}", movflags="+faststart")
            try:
                out.overwrite_output().global_args("-nostdin", "-loglevel", "error").run(capture_stderr=True)
            except ffmpeg.Error as err:
                raise DanceGenError(self.path, f"ffmpeg failed to add the sound: {_last_line(err.stderr)}") from None


def read_audio(info: VideoInfo) -> bytes | None:
    """The video's first audio track as the bytes of an AAC .m4a file whose time 0 is the video's
    first frame (the one :func:`read_frames` yields first), or None when it has no sound.

    Containers may start the sound before or after the pictures; the difference of the two streams'
    start times is cut off or padded with silence so that frame k and the sound at k / fps agree.
    """
    meta = _ffprobe(info.path)
    audio = [s for s in meta["streams"] if s.get("codec_type") == "audio"]
    if not audio:
        return None
    video = next(s for s in meta["streams"] if int(s["index"]) == info.stream)
    lead = _start_time(video) - _start_time(audio[0])   # seconds of sound before the first frame
    stream = ffmpeg.input(str(info.path.resolve()))[str(audio[0]["index"])].filter("asetpts", "PTS-STARTPTS")
    if lead > 0:
        stream = stream.filter("atrim", start=f"{lead:.6f}").filter("asetpts", "PTS-STARTPTS")
    elif lead < 0:
        stream = stream.filter("adelay", delays=f"{round(-lead * 1000)}", all=1)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "audio.m4a"
        try:
            ffmpeg.output(stream, str(out), format="mp4", acodec="aac", audio_bitrate="192k").overwrite_output() \
                .global_args("-nostdin", "-loglevel", "error").run(capture_stderr=True)
        except ffmpeg.Error as err:
            raise DanceGenError(info.path, f"ffmpeg could not read its sound: {_last_line(err.stderr)}") from None
        return out.read_bytes()


def _start_time(stream: dict) -> float:
    try:
        return float(stream.get("start_time", 0.0))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class VideoInfo:
    """A validated video file, from :func:`probe`.

    ``width`` × ``height`` is the frame as displayed — turned by the rotation in its metadata and with
    non-square pixels stretched square — which is the frame that crops refer to.
    """

    path: Path
    stream: int            # index of the video stream in the file
    width: int
    height: int
    fps: float             # average source rate (a variable-rate source has no single one)
    duration: float        # seconds
    n_frames: int          # source frames, from the container's index or counted
    rotation: int          # display rotation in degrees from the metadata, 0 when none
    sample_aspect: float   # stored pixel width / height, 1.0 for square pixels

    def expected_frames(self, fps: float) -> int:
        """How many frames :func:`read_frames` yields at ``fps``, give or take one."""
        return max(1, round(self.duration * fps))


def probe(path: str | Path) -> VideoInfo:
    """Validate ``path`` as a video of at least 2 frames and describe it; problems raise DanceGenError."""
    require_ffmpeg()
    path = Path(path)
    if not path.exists():
        raise DanceGenError(path, "not found")
    if not path.is_file():
        raise DanceGenError(path, "is not a file")
    if path.stat().st_size == 0:
        raise DanceGenError(path, "is empty (0 bytes)")
    meta = _ffprobe(path)
    stream = _video_stream(path, meta)
    n_frames = _frame_count(path, stream)
    if n_frames < 2:
        raise DanceGenError(path, f"has only {n_frames} frame{'' if n_frames == 1 else 's'}; "
                                  "a video needs at least 2")
    fps = _positive(stream.get("avg_frame_rate")) or _positive(stream.get("r_frame_rate"))
    duration = _positive(stream.get("duration")) or _positive(meta["format"].get("duration"))
    if fps is None and duration is None:
        raise DanceGenError(path, "has neither a frame rate nor a duration")
    width, height, rotation, aspect = _display_geometry(stream)
    return VideoInfo(path=path, stream=int(stream["index"]), width=width, height=height,
                     fps=fps or n_frames / duration, duration=duration or n_frames / fps,
                     n_frames=n_frames, rotation=rotation, sample_aspect=aspect)


def read_frames(info: VideoInfo, fps: float, size: int, crop: tuple[int, int, int]) -> Iterator[np.ndarray]:
    """Stream the video as ``(size, size, 3) uint8 RGB`` frames at ``fps``.

    ``crop = (x0, y0, side)`` is a square in displayed source pixels; where it extends past the frame
    it is filled black. Output frames are chosen by timestamp (each tick of the ``fps`` clock shows
    the source frame on screen at that moment), so variable-rate sources keep their timing. One
    ffmpeg process decodes, resamples, crops and scales; this side holds one frame at a time.
    A stream that ends well short of the video's duration (a truncated file) raises DanceGenError
    after its last frame, so a writer wrapping the loop discards what it got.
    """
    side = crop[2]
    stream = _input(info).filter("fps", fps=fps, round="near")
    if info.sample_aspect != 1.0:
        stream = stream.filter("scale", info.width, info.height).filter("setsar", 1)
    stream = _crop_and_pad(stream, info, crop)
    stream = stream.filter("scale", size, size, flags="area" if side >= size else "lanczos")
    n = 0
    for frame in _decode(info.path, stream, size, size):
        n += 1
        yield frame
    # ffmpeg ends a truncated file early without an error; a short stream must not pass as whole.
    expected = info.expected_frames(fps)
    if n < max(1, int(0.9 * expected)):
        raise DanceGenError(info.path, f"decoded only {n} of the {expected} frames its duration promises "
                                       "(truncated or damaged file?)")


def sample_frames(info: VideoInfo, n: int, max_side: int) -> tuple[np.ndarray, float]:
    """Decode ``n`` frames spread evenly over the video, shrunk so the longer side is at most ``max_side``.

    Returns ``frames: (m, h, w, 3) uint8 RGB`` and ``scale`` = w / ``info.width``; m < n only when the
    video has fewer than n frames or a seek finds nothing to decode. Each frame is its own seek when
    that decodes fewer frames than one pass over the whole video (sparse keyframes make seeks dear).
    """
    scale = min(1.0, max_side / max(info.width, info.height))
    w, h = max(1, round(info.width * scale)), max(1, round(info.height * scale))
    picks = sorted({int(info.n_frames * (i + 0.5) / n) for i in range(n)})
    # Half a frame early, so that a seek (which lands on the first frame at or after it) hits frame k.
    times = [max(0.0, (k - 0.5) / info.fps) for k in picks]
    if _seek_cost(info, times) < info.n_frames:
        frames = [frame for t in times for frame in _decode(
            info.path, _input(info, ss=f"{t:.4f}").filter("scale", w, h, flags="area"), w, h, vframes=1)]
    else:
        chosen = "+".join(f"eq(n,{k})" for k in picks)
        stream = _input(info).filter("select", chosen).filter("scale", w, h, flags="area")
        frames = list(_decode(info.path, stream, w, h))
    if not frames:
        raise DanceGenError(info.path, f"none of {n} sampled frames could be decoded")
    return np.stack(frames), w / info.width


def _seek_cost(info: VideoInfo, times: list[float]) -> float:
    """Frames decoded to reach ``times`` by seeking: each seek starts at the keyframe before it."""
    packets = _ffprobe(info.path, select_streams=str(info.stream), show_entries="packet=pts_time,flags")
    # The start counts as a keyframe: a seek before the first listed one decodes from there.
    keyframes = np.sort([0.0] + [float(p["pts_time"]) for p in packets.get("packets", [])
                                 if "K" in p.get("flags", "") and _positive(p.get("pts_time"))])
    before = keyframes[np.searchsorted(keyframes, times, side="right") - 1]
    return float(np.sum(np.asarray(times) - before) * info.fps)


def _ffprobe(path: Path, **options) -> dict:
    try:
        return ffmpeg.probe(str(path.resolve()), **options)
    except ffmpeg.Error as err:
        reason = _last_line(err.stderr).replace(f"{path.resolve()}: ", "")
        raise DanceGenError(path, f"not a readable video ({reason})") from None


def _last_line(stderr: bytes | None) -> str:
    lines = [ln.strip() for ln in (stderr or b"").decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _video_stream(path: Path, meta: dict) -> dict:
    # Cover art in audio files shows up as a one-picture video stream; it is not a video.
    for stream in meta["streams"]:
        if stream.get("codec_type") == "video" and not stream.get("disposition", {}).get("attached_pic"):
            return stream
    raise DanceGenError(path, "has no video stream (not a video)")


def _frame_count(path: Path, stream: dict) -> int:
    listed = str(stream.get("nb_frames", ""))
    if listed.isdigit() and int(listed) > 0:
        return int(listed)
    # Containers without a frame index (Matroska, WebM, still images): count packets, demuxing only.
    counted = _ffprobe(path, count_packets=None, select_streams=str(stream["index"]))
    return int(counted["streams"][0].get("nb_read_packets", 0))


def _positive(text: str | None) -> float | None:
    """A rate like '30000/1001' or a duration like '9.375' as a float; None when absent or not > 0."""
    try:
        value = float(Fraction(str(text)))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 and math.isfinite(value) else None


def _display_geometry(stream: dict) -> tuple[int, int, int, float]:
    """``(width, height, rotation, sample_aspect)`` of the frames ffmpeg hands to the filters."""
    rotation = stream.get("tags", {}).get("rotate", 0)
    for side_data in stream.get("side_data_list", []):
        rotation = side_data.get("rotation", rotation)
    rotation = int(round(float(rotation))) % 360
    width, height = int(stream["width"]), int(stream["height"])
    aspect = _positive(str(stream.get("sample_aspect_ratio", "1:1")).replace(":", "/")) or 1.0
    if rotation in (90, 270):  # ffmpeg turns the frames upright before filtering
        width, height, aspect = height, width, 1.0 / aspect
    if aspect > 1.0:
        width = round(width * aspect)
    elif aspect < 1.0:
        height = round(height / aspect)
    return width, height, rotation, aspect


def _input(info: VideoInfo, **options):
    # An absolute path keeps names with ':' from being read as an ffmpeg protocol.
    return ffmpeg.input(str(info.path.resolve()), **options)[str(info.stream)]


def _crop_and_pad(stream, info: VideoInfo, crop: tuple[int, int, int]):
    """Cut the part of the square that lies inside the frame, convert it to RGB, pad it to the square."""
    x0, y0, side = crop
    left, top = max(0, x0), max(0, y0)
    right, bottom = min(info.width, x0 + side), min(info.height, y0 + side)
    if side < 1 or right <= left or bottom <= top:
        raise ValueError(f"crop {crop} does not overlap the {info.width}x{info.height} frame")
    # Cropping before the RGB conversion spares converting pixels that are thrown away; exact=1
    # keeps odd offsets (4:2:0 chroma then shifts by at most half a pixel) instead of rounding them.
    stream = stream.filter("crop", right - left, bottom - top, left, top, exact=1).filter("format", "rgb24")
    if (right - left, bottom - top) != (side, side):
        stream = stream.filter("pad", side, side, left - x0, top - y0, color="black")
    return stream


def _decode(path: Path, stream, width: int, height: int, **output_options) -> Iterator[np.ndarray]:
    """Run ``stream`` to raw RGB on a pipe and yield ``(height, width, 3) uint8`` frames as they come."""
    frame_bytes = width * height * 3
    # The filters already resampled: passthrough stops ffmpeg from dropping or duplicating again.
    out = ffmpeg.output(stream, "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough",
                        **output_options)
    proc = out.global_args("-nostdin", "-loglevel", "error").run_async(pipe_stdout=True, pipe_stderr=True)
    # Drained on the side so a chatty decoder cannot fill the pipe and stall both processes.
    tail: collections.deque = collections.deque(maxlen=20)
    drain = threading.Thread(target=tail.extend, args=(proc.stderr,), daemon=True)
    drain.start()
    try:
        while True:
            buf = bytearray(frame_bytes)
            got = proc.stdout.readinto(buf)
            if got < frame_bytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
        code = proc.wait()
        drain.join()
    finally:
        if proc.poll() is None:  # the consumer stopped early
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if code != 0 or got:
        reason = _last_line(b"".join(tail)) if code != 0 else "the last frame was cut short"
        raise DanceGenError(path, f"ffmpeg could not decode it: {reason}")
