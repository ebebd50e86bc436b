"""Frames per second of the detect stage with 1 and with 2 worker processes, on the real clips,
and how far the 2-process keypoints drift from the 1-process ones around the seam.

.venv/bin/python benchmarks/detect_speed.py --clips woman basketball --repeats 2 [--loops 4]

Each clip is cut and resized as the extract stage does (params.yaml's extract settings) into a
scratch frames file once; then detect_video runs with pose.workers = 1 and 2, alternating, so both
see the same machine load. Wall-clock seconds include starting the worker processes (each imports
MediaPipe and builds its graphs); "cores busy" is the CPU time of the process and its workers over
the wall time. Prints one line per run and a summary per clip.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from dancegen.preprocess import framing

from dancegen.body import skeleton

from dancegen.preprocess import video
from dancegen.core.config import load_params
from dancegen.preprocess.detect import detect_video, run_bounds
from dancegen.core.store import FrameWriter, PoseStore

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CLIPS = {"woman": "unianimate_dance_woman.mp4", "basketball": "iper_basketball_dance_man.mp4",
         "fashion": "ubc_fashion_91bxAN6BjAS.mp4"}


def frames_file(clip: str, work: Path, size: int, fps: float, probe: int, margin: float, loops: int) -> Path:
    """The clip as the extract stage cuts it, played ``loops`` times over (a longer video: the
    workers' start-up, about 2 s, weighs less, as it does on a few-minute personal video)."""
    path = work / f"{clip}.h5"
    info = video.probe(SHARED / CLIPS[clip])
    crop = framing.person_square(info, probe, margin)
    frames = list(video.read_frames(info, fps, size, crop))
    with FrameWriter(path, size, fps) as w:
        for _ in range(loops):
            for frame in frames:
                w.append(frame)
    return path


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--loops", type=int, default=1, help="play each clip this many times over")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    ex = params.extract
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for clip in args.clips:
            frames = frames_file(clip, work, ex.size, ex.fps, ex.probe_frames, ex.margin, args.loops)
            seconds = {1: [], 2: []}
            for _ in range(args.repeats):
                for workers in (1, 2):
                    pose = dataclasses.replace(params.pose, workers=workers)
                    began, cpu = time.perf_counter(), _cpu_seconds()
                    summary = detect_video(frames, work / f"pose{workers}.h5", pose, clip, params.posemap.min_conf)
                    seconds[workers].append(time.perf_counter() - began)
                    busy = (_cpu_seconds() - cpu) / seconds[workers][-1]
                    print(f"[{clip}] workers {workers}: {summary.n_frames} frames in {seconds[workers][-1]:.1f} s "
                          f"({summary.n_frames / seconds[workers][-1]:.1f} frames/s, {busy:.2f} cores busy)", flush=True)
            with PoseStore(work / "pose1.h5") as a, PoseStore(work / "pose2.h5") as b:
                n = len(a)
                shift = np.linalg.norm(a.keypoints[:, skeleton.BODY, :2] - b.keypoints[:, skeleton.BODY, :2],
                                       axis=-1).mean(1)
                both = a.valid[:] & b.valid[:]
            seam = run_bounds(n, ex.fps, 2)[-1][0]
            after = [f"{shift[seam + k]:.2f}" for k in range(0, 10) if seam + k < n]
            far = shift[seam + 30:][both[seam + 30:]]
            best1, best2 = min(seconds[1]), min(seconds[2])
            print(f"[{clip}] {n} frames at {ex.size}²: {n / best1:.1f} frames/s with 1 process, {n / best2:.1f} "
                  f"with 2 ({best1 / best2:.2f}×; best of {args.repeats}). Body keypoint shift 2 vs 1 process "
                  f"(px, mean over joints): before the seam max {shift[:seam].max():.2f}; frames seam+0..9: "
                  f"{' '.join(after)}; from seam+30 on mean {far.mean() if far.size else float('nan'):.2f}, "
                  f"max {far.max() if far.size else float('nan'):.2f}", flush=True)


if __name__ == "__main__":
    main()
