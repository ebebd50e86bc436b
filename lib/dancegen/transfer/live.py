"""``dancegen live``: drive a trained personal model from a camera, a video file or a stream, frame by frame.

Per frame: the central square of the source frame (:func:`dancegen.core.images.central_square`) →
MediaPipe in video (tracking) mode (``--detector``: Pose, body and feet only, or Holistic) →
transfer's smoothing and placement onto the target's body, for a stream
(:class:`dancegen.transfer.retarget.CausalSmoother` and
:class:`~dancegen.transfer.retarget.CausalPlacement`: only the frames seen so far) → the personal
training frame of nearest pose as I_in (of :class:`dancegen.model.personal.PersonalVideo`'s
training split) → the generators' inputs (P_ref the last K driving poses) → the generators (batch
1) → I_out, the target in their own room, or ``--scene`` composited.

Three threads form a pipeline (:class:`_Pipeline`), so that the work splits over two cores:
capture → detect and build the inputs → the nets, composite and write. Queues hold one frame each. A
camera is real time: a stage that is behind finds only the newest frame waiting (older ones are
dropped), so the latency stays near one frame per stage. ``--realtime`` does the same for a file
source, read at its own frame rate; otherwise every frame of a file is used.

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

from dancegen.body.distances import PosePool
from dancegen.body.posemaps import history_indices
from dancegen.core.config import InferParams, PoseParams, load_params
from dancegen.core.errors import DanceGenError
from dancegen.core.images import central_square
from dancegen.core.layout import VideoPaths, model_path
from dancegen.model.personal import PersonalVideo
from dancegen.model.variants import NAMES as VARIANT_NAMES
from dancegen.preprocess.detect import MEDIAPIPE_MIN_CONF, is_valid
from dancegen.preprocess.detect.mediapipe import HolisticDetector, PoseTracker
from dancegen.preprocess.video import VideoWriter
from dancegen.transfer.compositing import composite
from dancegen.transfer.infer import Renderer, open_renderer
from dancegen.transfer.retarget import CausalPlacement, CausalSmoother, body_frame
from dancegen.transfer.transfer import load_scene

_END = object()
DETECTORS = ("holistic", "pose")       # MediaPipe Holistic (body, feet, face, hands) | Pose (body, feet)


@dataclass
class LiveStats:
    """What a live run did: frames read, dropped and written, and the timings of the written ones."""

    read: int = 0
    dropped: int = 0
    written: int = 0
    seconds: float = 0.0
    latency_s: list[float] = field(default_factory=list)       # capture → output, per written frame
    # per written frame; detect and inputs share a thread, generate has the other
    stage_s: dict[str, list[float]] = field(default_factory=lambda: {"detect": [], "inputs": [], "generate": []})

    def line(self) -> str:
        fps = self.written / self.seconds if self.seconds else 0.0
        lat = np.array(self.latency_s) * 1000 if self.latency_s else np.zeros(1)
        ms = {k: 1000 * float(np.mean(v)) if v else 0.0 for k, v in self.stage_s.items()}
        bound = "detect + inputs" if ms["detect"] + ms["inputs"] > ms["generate"] else "generate"
        return (f"{self.written} frames in {self.seconds:.1f} s: {fps:.1f} frames/s; latency p50 "
                f"{np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms; "
                f"detect {ms['detect']:.0f} + inputs {ms['inputs']:.0f} ms, generate {ms['generate']:.0f} ms "
                f"per frame (bound by {bound}); {self.dropped} of {self.read} frames dropped")


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


@dataclass
class _Item:
    captured: float
    square: np.ndarray                 # (S, S, 3) the source's central square
    inputs: tuple | None = None        # the generators' inputs (:meth:`Renderer.inputs`) of its driving pose


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
    size: int = 0           # output side H: the nets run at the model's R, composed at H; 0 = R
    detector: str = "pose"       # one of DETECTORS


class LiveDriving:
    """The detect stage's pose work, the same steps as transfer's (:mod:`dancegen.transfer.retarget`):
    a detected pose in the source's central square (already at the personal frame's size) →
    :class:`CausalSmoother` → :class:`CausalPlacement` onto the target's body → the personal training
    frame of nearest pose as I_in, and P_ref of the last ``K`` driving poses (indexed by
    :func:`dancegen.body.posemaps.history_indices`, as transfer does)."""

    def __init__(self, video: PersonalVideo, infer: InferParams, min_conf: float, K: int):
        self.train_frames = video.require_training_frames()
        pool = video.training_poses                       # (N, 133, 3) the I_in candidates' poses
        self.pool = PosePool(pool, min_conf)
        target = body_frame(pool, min_conf) if infer.retarget else None
        if infer.retarget and target is None:
            raise DanceGenError("params.yaml", "cannot retarget: no personal training frame shows a whole "
                                "limb or the torso; set infer.retarget: false")
        self.size, self.min_conf = video.size, min_conf
        self.smooth = CausalSmoother(infer.smooth_window, infer.smooth_order, infer.max_gap, min_conf)
        self.place = CausalPlacement(target, video.size, video.size, min_conf)
        self.K = K
        self.recent: deque[np.ndarray] = deque(maxlen=K)    # (133, 3) driving poses, oldest first

    def pose(self, keypoints: np.ndarray) -> np.ndarray:
        """Detected ``(133, 3)`` keypoints → the driving pose ``(133, 3)`` in the personal frame."""
        return self.place(self.smooth(keypoints))

    def input_frame(self, pose: np.ndarray) -> int:
        """The personal training frame whose pose is nearest to the driving ``pose``."""
        return int(self.train_frames[self.pool.nearest(pose[None])[0][0]])

    def job(self, pose: np.ndarray) -> tuple[int, np.ndarray]:
        """The renderer's job of the next driving ``pose``: (t_in, P_ref ``(K, 133, 3)``)."""
        self.recent.append(pose)
        poses = np.stack(self.recent)                        # (n ≤ K, 133, 3), oldest first
        return self.input_frame(pose), poses[history_indices(len(poses) - 1, np.ones(len(poses), bool), self.K)]


class _Generation:
    """The generate stage's work: an item's inputs → the renderer (batch 1; the nets at R, the output
    at the live size) → the output frame, or the person composited over ``scene``."""

    def __init__(self, renderer: Renderer, scene: np.ndarray | None, edge_blur: float):
        self.renderer, self.scene = renderer, scene
        # infer.edge_blur is in pixels of the model's resolution R: the same edge at any output size.
        self.edge_blur = edge_blur * renderer.size / renderer.builder.resolution

    def __call__(self, item: _Item) -> np.ndarray:
        """The ``(H, H, 3) uint8 RGB`` output of ``item``."""
        gen = self.renderer.render(item.inputs)
        if self.scene is None:
            return gen.final[0]
        return composite(gen.person[0], gen.matte[0], self.scene, self.edge_blur)


def _open_detector(name: str, params: PoseParams) -> HolisticDetector | PoseTracker:
    """Live's keypoint detector (keypoints only, no person mask): ``name`` of :data:`DETECTORS`."""
    if name not in DETECTORS:
        raise DanceGenError("--detector", f"unknown detector '{name}' (known: {', '.join(DETECTORS)})")
    return HolisticDetector(params, segmentation=False) if name == "holistic" else PoseTracker(params)


class _Pipeline:
    """One run's three stages: capture and detect on their own threads, generate and write on the
    caller's; queues of one item between them, where from a live source the newest item wins."""

    def __init__(self, run: LiveRun, source: Source, stats: LiveStats):
        self.run, self.source, self.stats = run, source, stats
        self.captured: queue.Queue = queue.Queue(maxsize=1)
        self.detected: queue.Queue = queue.Queue(maxsize=1)
        self.stop, self.errors = threading.Event(), []
        self.newest_wins = source.camera or run.realtime
        self.started = time.perf_counter()

    def _put(self, q: queue.Queue, item) -> None:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def _hand_on(self, q: queue.Queue, item: _Item) -> None:
        """Pass ``item`` to the next stage; from a live source the newest frame wins."""
        if self.newest_wins:
            try:
                q.get_nowait()
                self.stats.dropped += 1
            except queue.Empty:
                pass
        self._put(q, item)

    def capture(self, size: int) -> None:
        """Thread: each source frame's central square at ``size``² on to detection, until the source
        ends or ``max_frames`` were read."""
        try:
            while not self.stop.is_set() and (self.run.max_frames == 0 or self.stats.read < self.run.max_frames):
                got = self.source.read()
                if got is None:
                    break
                self.stats.read += 1
                self._hand_on(self.captured, _Item(got[0], central_square(got[1], size)))
        except Exception as err:                  # reported by the main thread
            self.errors.append(err)
        finally:
            self._put(self.captured, _END)

    def detect(self, pose_params: PoseParams, driving: LiveDriving, renderer: Renderer) -> None:
        """Thread: keypoints of each captured frame → its driving pose → the generators' inputs, on
        to generation; a frame without a valid detection reuses the last driving pose (dropped
        before the first)."""
        try:
            with _open_detector(self.run.detector, pose_params) as detector:
                last = None
                while (item := self.captured.get()) is not _END and not self.stop.is_set():
                    began = time.perf_counter()
                    keypoints, _ = detector.detect(item.square)
                    if is_valid(keypoints, driving.size, MEDIAPIPE_MIN_CONF):
                        last = driving.pose(keypoints)
                    if last is None:              # nobody seen yet: nothing to drive with
                        self.stats.dropped += 1
                        continue
                    detected = time.perf_counter()
                    item.inputs = renderer.inputs([driving.job(last)])
                    self.stats.stage_s["detect"].append(detected - began)
                    self.stats.stage_s["inputs"].append(time.perf_counter() - detected)
                    self._hand_on(self.detected, item)
        except Exception as err:
            self.errors.append(err)
        finally:
            self._put(self.detected, _END)

    def generate(self, output: _Generation, sinks: Sinks, log) -> None:
        """Main thread: generate and write each detected frame until detection ends or the window is
        closed; the stats line every ``stats_every`` seconds."""
        last_report = self.started
        with torch.inference_mode():
            while (item := self.detected.get()) is not _END:
                began = time.perf_counter()
                frame = output(item)
                self.stats.stage_s["generate"].append(time.perf_counter() - began)
                if not sinks.write(frame):
                    break
                self.stats.written += 1
                self.stats.latency_s.append(time.perf_counter() - item.captured)
                if self.run.stats_every and time.perf_counter() - last_report >= self.run.stats_every:
                    self.stats.seconds = time.perf_counter() - self.started
                    log(f"[live] {self.stats.line()}")
                    last_report = time.perf_counter()

    def drive(self, pose_params: PoseParams, driving: LiveDriving, output: _Generation, sinks: Sinks, log) -> None:
        """Run the three stages to the end; the sinks are closed after (the source by whoever opened it)."""
        threads = [threading.Thread(target=self.capture, args=(driving.size,), daemon=True),
                   threading.Thread(target=self.detect, args=(pose_params, driving, output.renderer), daemon=True)]
        self.started = time.perf_counter()
        for thread in threads:
            thread.start()
        failed = True
        try:
            self.generate(output, sinks, log)
            failed = bool(self.errors)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=5)
            sinks.close(failed)
        self.stats.dropped += self.source.dropped
        self.stats.read += self.source.dropped    # frames the source passed over count as read
        self.stats.seconds = time.perf_counter() - self.started


def run_live(run: LiveRun, params, log=print) -> LiveStats:
    """Drive the model of ``run`` from its source until the source ends (or ``max_frames``); returns
    the stats, also printed through ``log``."""
    torch.set_num_threads(1)                  # generation has one core; detection the other
    spec, infer = params.inputs, params.infer
    source = Source(run.source, run.realtime)     # a bad source fails before the model is loaded
    try:
        with PersonalVideo(run.personal) as video:
            renderer, _ = open_renderer(run.model, video, spec, run.size or None, infer.engine)
            scene = load_scene(run.scene, renderer.size) if run.scene else None
            driving = LiveDriving(video, infer, spec.posemap.min_conf, spec.posemap.K)
            output = _Generation(renderer, scene, infer.edge_blur)
            pipeline = _Pipeline(run, source, LiveStats())
            pipeline.drive(params.pose, driving, output, Sinks(run.out, run.stdout, run.window, source.fps), log)
    finally:
        source.close()
    stats = pipeline.stats
    if pipeline.errors:
        err = pipeline.errors[0]
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
    parser.add_argument("--variant", default="ours", choices=VARIANT_NAMES, help="the trained variant (default: ours)")
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
    parser.add_argument("--size", type=int, default=0,
                        help="output side in pixels, up to the personal frames' size: the nets run at the model's "
                             "resolution and their fields are applied at this size (default: the model's resolution)")
    parser.add_argument("--detector", choices=DETECTORS, default="pose",
                        help="pose (default): MediaPipe Pose, body and feet only, the face and hand pose maps left "
                             "empty (measured: -0.001 to -0.002 foreground SSIM), ~2.5x less CPU than holistic: "
                             "body, feet, face and hands, as the model was trained")
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
                  args.max_frames, args.stats_every, args.scene, args.size, args.detector)
    # With frames on stdout, the report goes to stderr.
    run_live(run, params, log=lambda line: print(line, file=sys.stderr if args.stdout else sys.stdout, flush=True))
