"""``dancegen live``: drive a trained personal model from a camera, a video file or a stream, frame by frame.

Per frame: the central square of the source frame → MediaPipe Holistic in video (tracking) mode →
a causal smoothing of the keypoints (:class:`CausalSmoother`) → retargeting onto the target's
body (:mod:`dancegen.transfer.retarget`, the source's body measured over the frames seen so far) → the
personal training frame of nearest pose as I_in (a pose index built once at start) → the
generators (batch 1) → I_out, the target in their own room, or ``--scene`` composited.

Three threads form a pipeline, so that detection and generation run at once on two cores (both
release the GIL): capture → detect → generate and write. Queues hold one frame each. A camera is
real time: a stage that is behind finds only the newest frame waiting (older ones are dropped),
so the latency stays near one frame per stage. ``--realtime`` does the same for a file source,
read at its own frame rate; otherwise every frame of a file is used.

Outputs: a window (OpenCV, where a display exists), an mp4 (``--out``), and/or raw ``rgb24``
frames on stdout (``--stdout``, for ``ffmpeg -f rawvideo -pix_fmt rgb24 -s RxR -i -``). At the
end (and every ``--stats-every`` seconds) it prints frames/s and capture → output latency
(p50 / p95), and the mean time of each stage, which says what bounds the rate.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.signal import savgol_coeffs

from dancegen.preprocess.background import load_background
from dancegen.transfer.compositing import composite
from dancegen.core.config import load_params
from dancegen.preprocess.detect import MEDIAPIPE_MIN_CONF, is_valid
from dancegen.preprocess.detect.mediapipe import HolisticDetector
from dancegen.core.errors import DanceGenError
from dancegen.core.images import compute_device, resize_area
from dancegen.transfer.infer import generate, load_model
from dancegen.model.inputs import InputBuilder
from dancegen.core.layout import VideoPaths, model_path
from dancegen.preprocess.pairs import split_frames, valid_in
from dancegen.transfer.retarget import body_frame, retarget, size_ratio
from dancegen.core.store import FrameStore, PoseStore
from dancegen.body.distances import nearest_poses
from dancegen.transfer.transfer import load_scene
from dancegen.preprocess.video import VideoWriter

_END = object()
# The source's body is measured again every this many detected frames (robust medians over them).
_REMEASURE_EVERY = 15
_MEASURE_FRAMES = 300


@dataclass
class LiveStats:
    """What a live run did: frames read, dropped and written, and the timings of the written ones."""

    read: int = 0
    dropped: int = 0
    written: int = 0
    seconds: float = 0.0
    latency_s: list[float] = field(default_factory=list)       # capture → output, per written frame
    stage_s: dict[str, list[float]] = field(default_factory=lambda: {"detect": [], "generate": []})

    def line(self) -> str:
        fps = self.written / self.seconds if self.seconds else 0.0
        lat = np.array(self.latency_s) * 1000 if self.latency_s else np.zeros(1)
        stages = {k: 1000 * float(np.mean(v)) if v else 0.0 for k, v in self.stage_s.items()}
        bound = max(stages, key=stages.get)
        return (f"{self.written} frames in {self.seconds:.1f} s: {fps:.1f} frames/s; latency p50 "
                f"{np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms; "
                f"detect {stages['detect']:.0f} ms, generate {stages['generate']:.0f} ms per frame "
                f"(bound by {bound}); {self.dropped} of {self.read} frames dropped")


class Source:
    """Frames from a camera index, a video file or an ffmpeg-readable URL (OpenCV), as
    ``(capture time, (H, W, 3) uint8 RGB)``; ``realtime`` paces a file at its frame rate, dropping
    frames while the reader is behind."""

    def __init__(self, spec: str, realtime: bool):
        self.spec, self.camera = spec, spec.isdigit()
        target = int(spec) if self.camera else spec
        if not self.camera and "://" not in spec and not Path(spec).is_file():
            raise DanceGenError(spec, "not found (give a camera index, a video file or a stream URL)")
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            what = f"camera {spec}" if self.camera else "this video or stream"
            raise DanceGenError(spec, f"cannot open {what}")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and np.isfinite(fps) and 1 <= fps <= 240 else 30.0
        self.realtime = realtime and not self.camera
        self.dropped = 0
        self._start, self._index = None, 0

    def read(self) -> tuple[float, np.ndarray] | None:
        if self.realtime:
            now = time.perf_counter()
            if self._start is None:
                self._start = now
            due = self._start + self._index / self.fps
            if now < due:
                time.sleep(due - now)
            else:
                while time.perf_counter() > self._start + (self._index + 1) / self.fps:
                    if not self.capture.grab():      # behind: skip a frame without decoding it
                        return None
                    self._index += 1
                    self.dropped += 1
        ok, bgr = self.capture.read()
        if not ok:
            return None
        self._index += 1
        return time.perf_counter(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


def central_square(frame: np.ndarray, size: int) -> np.ndarray:
    """The central square of ``frame: (H, W, 3)``, resized to ``(size, size, 3)``."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return resize_area(np.ascontiguousarray(frame[y:y + side, x:x + side]), size)


class CausalSmoother:
    """Keypoint tracks smoothed with only the frames seen so far: a Savitzky–Golay fit over the last
    ``window`` frames, evaluated at the newest (order ≤ 1: a causal fit's end point is noisy at higher
    orders). A joint missing for at most ``max_gap`` frames keeps its last position."""

    def __init__(self, window: int, order: int, max_gap: int, min_conf: float):
        self.window, self.max_gap, self.min_conf = max(1, window), max_gap, min_conf
        self.order = min(order, 1)
        self.history: deque[np.ndarray] = deque(maxlen=self.window)
        self.missing: np.ndarray | None = None

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """``(133, 3)`` detected keypoints → ``(133, 3)`` smoothed ones (missing joints: confidence 0)."""
        kps = keypoints.astype(np.float32).copy()
        seen = kps[:, 2] >= self.min_conf
        if self.missing is None:
            self.missing = np.zeros(len(kps), int)
        self.missing = np.where(seen, 0, self.missing + 1)
        if self.history:
            last = self.history[-1]
            hold = ~seen & (self.missing <= self.max_gap) & (last[:, 2] > 0)
            kps[hold] = last[hold]
        self.history.append(kps)
        n = len(self.history)
        if n < 3 or self.window < 3:
            return kps
        w = n if n % 2 else n - 1
        coeffs = savgol_coeffs(w, min(self.order, w - 1), pos=w - 1, use="dot")
        track = np.stack(list(self.history)[-w:])                    # (w, 133, 3), oldest first
        present = (track[..., 2] > 0).all(0)
        out = kps.copy()
        out[present, :2] = np.tensordot(coeffs, track[:, present, :2], axes=1)
        return out


class Retargeter:
    """Reference poses onto the target's body (:func:`dancegen.transfer.retarget.retarget`), the source's
    body measured over its last detected frames and measured again every few of them. The source's
    keypoints come from its central square already at the personal frame's ``size``, so without
    retargeting (off, or before the source's body is measured) they pass as they are."""

    def __init__(self, target_poses: np.ndarray, size: int, min_conf: float, enabled: bool):
        self.target = body_frame(target_poses, min_conf)
        if enabled and self.target is None:
            raise DanceGenError("params.yaml", "cannot retarget: no personal training frame shows a whole "
                                "limb or the torso; set infer.retarget: false")
        self.size, self.min_conf, self.enabled = size, min_conf, enabled
        self.seen: deque[np.ndarray] = deque(maxlen=_MEASURE_FRAMES)
        self.ref, self._since = None, 0

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return keypoints
        self.seen.append(keypoints)
        self._since += 1
        if self.ref is None or self._since >= _REMEASURE_EVERY:
            measured = body_frame(np.stack(self.seen), self.min_conf)
            if measured is not None and size_ratio(measured, self.target) is not None:
                self.ref, self._since = measured, 0
        if self.ref is None:
            return keypoints
        return retarget(keypoints[None], self.ref, self.target, self.size, self.min_conf)[0]


@dataclass
class _Item:
    captured: float
    square: np.ndarray                 # (S, S, 3) the source's central square
    pose: np.ndarray | None = None     # (133, 3) the driving pose in the personal frame
    t_in: int = 0                      # the personal training frame used as I_in


class Sinks:
    """Where output frames go: a window, an mp4 file, raw RGB on stdout."""

    def __init__(self, out: Path | None, stdout: bool, window: bool, fps: float):
        self.window, self.stdout = window, stdout
        self.writer = VideoWriter(out, fps).__enter__() if out else None

    def write(self, frame: np.ndarray) -> bool:
        """Write one ``(H, W, 3) uint8 RGB`` frame; False when the window was closed (q / Esc)."""
        if self.writer is not None:
            self.writer.write(frame)
        if self.stdout:
            sys.stdout.buffer.write(np.ascontiguousarray(frame).tobytes())
        if self.window:
            cv2.imshow("dancegen live", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                return False
        return True

    def close(self, failed: bool) -> None:
        """Finish the outputs; with ``failed`` (or nothing written) the mp4 is not left behind."""
        if self.writer is not None:
            if failed or self.writer.n_frames == 0:
                stopped = RuntimeError("live run stopped")
                self.writer.__exit__(RuntimeError, stopped, None)
            else:
                self.writer.__exit__(None, None, None)
        if self.stdout:
            sys.stdout.buffer.flush()
        if self.window:
            cv2.destroyAllWindows()


@dataclass(frozen=True)
class LiveRun:
    """What one live run drives, and where its frames go."""

    source: str
    model: Path
    personal: VideoPaths
    out: Path | None = None
    stdout: bool = False
    window: bool = False
    realtime: bool = False
    max_frames: int = 0
    stats_every: float = 0.0
    scene: Path | None = None


def run_live(run: LiveRun, params, log=print) -> LiveStats:
    """Drive the model of ``run`` from its source until the source ends (or ``max_frames``); returns
    the stats, also printed through ``log``."""
    torch.set_num_threads(1)                  # generation has one core; detection the other
    device = compute_device()
    generators, resolution, _ = load_model(run.model, device)
    spec, infer = params.inputs, params.infer
    min_conf = spec.posemap.min_conf
    scene = load_scene(run.scene, resolution) if run.scene else None
    stats = LiveStats()
    with FrameStore(run.personal.frames) as frames, PoseStore(run.personal.pose) as pose:
        train_frames = valid_in(pose.valid, split_frames(len(pose), params.pairs.train_fraction)[0])
        if not len(train_frames):
            raise DanceGenError(run.personal.pose, "has no valid frame in the training split to take I_in from")
        pool = pose.keypoints[train_frames]
        builder = InputBuilder(frames, pose, load_background(run.personal.background), resolution, spec)
        source = Source(run.source, run.realtime)
        smoother = CausalSmoother(infer.smooth_window, infer.smooth_order, infer.max_gap, min_conf)
        place = Retargeter(pool, pose.size, min_conf, infer.retarget)
        sinks = Sinks(run.out, run.stdout, run.window, source.fps)
        captured: queue.Queue = queue.Queue(maxsize=1)
        detected: queue.Queue = queue.Queue(maxsize=1)
        stop, errors = threading.Event(), []

        def put(q: queue.Queue, item) -> None:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    pass

        live_source = source.camera or run.realtime

        def hand_on(q: queue.Queue, item: _Item) -> None:
            """Pass ``item`` to the next stage; from a live source the newest frame wins."""
            if live_source:
                try:
                    q.get_nowait()
                    stats.dropped += 1
                except queue.Empty:
                    pass
            put(q, item)

        def capture_loop() -> None:
            try:
                while not stop.is_set() and (run.max_frames == 0 or stats.read < run.max_frames):
                    got = source.read()
                    if got is None:
                        break
                    stats.read += 1
                    hand_on(captured, _Item(got[0], central_square(got[1], pose.size)))
            except Exception as err:                  # reported by the main thread
                errors.append(err)
            finally:
                put(captured, _END)

        def detect_loop() -> None:
            try:
                with HolisticDetector(params.pose, segmentation=False) as holistic:   # keypoints only
                    last = None
                    while True:
                        item = captured.get()
                        if item is _END or stop.is_set():
                            break
                        began = time.perf_counter()
                        keypoints, _ = holistic.detect(item.square)
                        if is_valid(keypoints, pose.size, MEDIAPIPE_MIN_CONF):
                            last = place(smoother(keypoints))
                        if last is None:              # nobody seen yet: nothing to drive with
                            stats.dropped += 1
                            continue
                        item.pose = last
                        item.t_in = int(train_frames[nearest_poses(last[None], pool, min_conf)[0][0]])
                        stats.stage_s["detect"].append(time.perf_counter() - began)
                        hand_on(detected, item)
            except Exception as err:
                errors.append(err)
            finally:
                put(detected, _END)

        threads = [threading.Thread(target=f, daemon=True) for f in (capture_loop, detect_loop)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        history: deque[np.ndarray] = deque(maxlen=spec.posemap.K)
        last_report = started
        failed = True
        try:
            with torch.inference_mode():
                while True:
                    item = detected.get()
                    if item is _END:
                        break
                    began = time.perf_counter()
                    history.appendleft(item.pose)
                    poses = list(history) + [history[-1]] * (spec.posemap.K - len(history))
                    gen = generate(generators, [builder.sample(item.t_in, np.stack(poses))], device)
                    frame = gen.final[0] if scene is None else composite(gen.person[0], gen.matte[0], scene,
                                                                         infer.edge_blur)
                    stats.stage_s["generate"].append(time.perf_counter() - began)
                    if not sinks.write(frame):
                        break
                    stats.written += 1
                    stats.latency_s.append(time.perf_counter() - item.captured)
                    if run.stats_every and time.perf_counter() - last_report >= run.stats_every:
                        stats.seconds = time.perf_counter() - started
                        log(f"[live] {stats.line()}")
                        last_report = time.perf_counter()
            failed = bool(errors)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)
            source.close()
            sinks.close(failed)
        stats.dropped += source.dropped
        stats.read += source.dropped              # frames the source passed over count as read
        stats.seconds = time.perf_counter() - started
    if errors:
        err = errors[0]
        if isinstance(err, DanceGenError):
            raise err
        raise DanceGenError(run.source, f"live run stopped: {type(err).__name__}: {err}")
    if stats.written == 0:
        raise DanceGenError(run.source, f"no frame with a person in {stats.read} frames read: nothing was transferred")
    log(f"[live] {stats.line()}")
    return stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True,
                        help="a camera index (0), a video file or an ffmpeg-readable URL (rtsp://, http://)")
    parser.add_argument("--video", required=True, help="the personal video the model was trained on (params.yaml)")
    parser.add_argument("--variant", default="ours", help="ours | ours_baseline | pix2pixhd (default: ours)")
    parser.add_argument("--model", type=Path, help="the model file (default: data/models/VIDEO/VARIANT/model.pt)")
    parser.add_argument("--out", type=Path, help="write the result to this mp4")
    parser.add_argument("--stdout", action="store_true", help="write raw rgb24 frames to stdout")
    parser.add_argument("--window", choices=("auto", "on", "off"), default="auto",
                        help="show the result in a window (auto: when a display exists and no other output)")
    parser.add_argument("--realtime", action="store_true",
                        help="read a file source at its frame rate, dropping frames while behind")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many source frames (0: all)")
    parser.add_argument("--stats-every", type=float, default=0.0, help="print the rates every N seconds")
    parser.add_argument("--scene", type=Path, help="composite the person over this image instead of their room")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    params.personal_video(args.video)         # an unknown name fails here, naming params.yaml
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    window = args.window == "on" or (args.window == "auto" and display and not (args.out or args.stdout))
    if not (window or args.out or args.stdout):
        raise DanceGenError(args.source, "nowhere to show the result: no display; give --out FILE.mp4 or --stdout")
    model = args.model or model_path(args.video, args.variant)
    run = LiveRun(args.source, model, VideoPaths.of(args.video), args.out, args.stdout, window, args.realtime,
                  args.max_frames, args.stats_every, args.scene)
    # With frames on stdout, the report goes to stderr.
    run_live(run, params, log=lambda line: print(line, file=sys.stderr if args.stdout else sys.stdout, flush=True))
