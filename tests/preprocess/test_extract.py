"""The extract stage: choosing the square around the person, and the stage end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dancegen.core.errors import DanceGenError
from dancegen.preprocess.framing import person_box, person_square, square_around, surroundings
from dancegen.core.store import FrameWriter
from dancegen.preprocess.video import VideoWriter, probe, read_frames
from conftest import REPO_ROOT, SHARED_DATA

REPO = REPO_ROOT
DATA = SHARED_DATA
WOMAN = DATA / "unianimate_dance_woman.mp4"   # portrait 692×1108, 16 fps, 150 frames
needs_clips = pytest.mark.skipif(not WOMAN.is_file(), reason="real clips in ../shared/data are absent")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def contains(square: tuple[int, int, int], box) -> bool:
    x0, y0, side = square
    return x0 <= box[0] and y0 <= box[1] and box[2] <= x0 + side and box[3] <= y0 + side


@pytest.mark.parametrize("box, size, square", [
    # small person in a landscape shot: full height, centred on the person
    ((900, 400, 1000, 700), (1920, 1080), (410, 0, 1080)),
    # near the left edge: the square stays inside the frame
    ((10, 200, 110, 900), (1920, 1080), (0, 0, 1080)),
    # tall person in a portrait shot: full height, padded both sides, person centred
    ((91, 71, 605, 1079), (692, 1108), (-208, 0, 1108)),
    # off-centre in a portrait shot: still covers the whole width, padded mostly on the far side
    ((400, 100, 690, 1000), (692, 1108), (-76, 0, 1108)),
    # a person lying down, wider than the frame is tall: padded above and below
    ((20, 150, 620, 340), (640, 360), (0, -110, 640)),
])
def test_square_around(box, size, square):
    assert square_around(box, 0.15, *size) == square
    x0, y0, side = square
    for start, extent in ((x0, size[0]), (y0, size[1])):
        # inside the frame when it fits, covering the whole frame when it does not
        assert (0 <= start <= extent - side) if side <= extent else (start <= 0 and start + side >= extent)


def test_margin_grows_the_box_within_the_frame():
    x0, y0, side = square_around((100, 100, 200, 140), 0.5, 400, 300)
    assert side == 300 and contains((x0, y0, side), (50, 50, 250, 190))


@needs_clips
def test_portrait_clip_gets_a_padded_square_around_the_whole_person():
    info = probe(WOMAN)
    box = person_box(info, 8)
    x0, y0, side = square_around(box, 0.15, info.width, info.height)
    assert box[3] - box[1] > 0.8 * info.height         # she fills the frame's height
    assert contains((x0, y0, side), box)
    assert (y0, side) == (0, info.height)             # full height, no black above or below
    assert x0 < 0 and x0 + side > info.width           # padded left and right


def test_person_square_on_a_demo_render(tmp_path):
    demo = pytest.importorskip("dancegen.demo")
    # The 256² render placed off-centre in a wider gray canvas, so the square has somewhere to go.
    canvas = np.full((256, 480, 3), 128, np.uint8)
    masks = []
    with VideoWriter(tmp_path / "demo.mp4", fps=30) as writer:
        for rendered in demo.render_video("personal", 1.0, 256, 30, 0):
            canvas[:, 112:368] = rendered.frame
            writer.write(canvas)
            masks.append(rendered.mask)
    ys, xs = np.nonzero(np.max(masks, axis=0))
    truth = (xs.min() + 112, ys.min(), xs.max() + 113, ys.max() + 1)   # the person's pixels, all frames
    info = probe(tmp_path / "demo.mp4")
    box = person_box(info, 6)
    # landmarks sit inside the body (give or take MediaPipe's few pixels), and span most of it
    assert all(np.abs(np.subtract(box, truth)) < 0.1 * (truth[3] - truth[1]))
    assert box[0] > truth[0] - 8 and box[1] > truth[1] - 8 and box[2] < truth[2] + 8 and box[3] < truth[3] + 8
    square = person_square(info, 6, 0.15)
    assert square[2] == 256 and contains(square, truth)


def test_no_person_is_an_error_naming_the_file(tmp_path):
    bars = tmp_path / "bars.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1", "-pix_fmt", "yuv420p", str(bars))
    with pytest.raises(DanceGenError, match=r"bars\.mp4: no person found in any of 4 sampled frames"):
        person_square(probe(bars), 4, 0.15)


def test_failing_decode_leaves_no_frames_file(tmp_path):
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=3", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", str(whole))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "frames" / "cut.h5"
    with pytest.raises(DanceGenError, match="decoded only"):
        with FrameWriter(out, 32, 30) as writer:
            for frame in read_frames(probe(cut), 30, 32, (20, 0, 120)):
                writer.append(frame)
    assert list(out.parent.iterdir()) == []


def run_stage(workdir: Path, videos: dict[str, Path]) -> subprocess.CompletedProcess:
    lines = ["videos:"] + [f"  {name}: {path}" for name, path in videos.items()]
    lines += ["personal: []", "reference: []", "extract:", "  size: 64", "  probe_frames: 6"]
    (workdir / "params.yaml").write_text("\n".join(lines) + "\n")
    name = next(iter(videos))
    return subprocess.run([sys.executable, str(REPO / "stages" / "extract.py"), name], cwd=workdir,
                          capture_output=True, text=True, timeout=300)


@needs_clips
def test_stage_writes_the_frames_file(tmp_path):
    clip = tmp_path / "woman.mp4"   # the first 2 s (32 frames at 16 fps), to keep the test short
    ffmpeg("-i", str(WOMAN), "-frames:v", "32", "-an", "-c:v", "libx264", "-preset", "ultrafast", str(clip))
    done = run_stage(tmp_path, {"woman": clip})
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "data" / "frames").iterdir()] == ["woman.h5"]
    with h5py.File(tmp_path / "data" / "frames" / "woman.h5") as f:
        frames = f["frames"]
        assert abs(frames.shape[0] - 60) <= 1 and frames.shape[1:] == (64, 64, 3)
        attrs = dict(frames.attrs)
        assert attrs["source"] == str(clip) and list(attrs["source_size"]) == [692, 1108]
        assert attrs["fps"] == 30.0 and attrs["size"] == 64
        x0, y0, side = attrs["crop"]
        assert 692 < side <= 1108 and 0 <= y0 <= 1108 - side and x0 < 0   # taller than wide: padded sides
        # the padded strips left and right stay black, the picture between them does not
        pad = round(-x0 / side * 64)
        middle = frames[30]
        assert middle[:, : pad - 1].max() == 0 and middle[:, pad + 1: 64 - pad - 1].mean() > 60


def test_stage_failures_are_one_line_and_leave_nothing(tmp_path):
    bars = tmp_path / "bars.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1", "-pix_fmt", "yuv420p", str(bars))
    for name, path, problem in (("bars", bars, "no person found in any of 6 sampled frames"),
                                ("gone", tmp_path / "gone.mp4", "not found")):
        done = run_stage(tmp_path, {name: path})
        assert done.returncode == 1
        assert done.stderr.strip().splitlines()[-1] == f"[extract] error: {path}: {problem}"
        assert not (tmp_path / "data" / "frames").exists() or not any((tmp_path / "data" / "frames").iterdir())


def test_surroundings_are_the_scene_without_what_moves(tmp_path):
    # a white box crossing a gray scene: no pixel is covered in more than a few of the sampled frames
    path = tmp_path / "moving.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=96x64:d=2:r=30[bg];color=c=white:s=12x12:d=2:r=30[box];"
           "[bg][box]overlay=x='t*40':y=20", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path))
    scene = surroundings(probe(path), 15, 48)
    assert scene.shape == (32, 48, 3)
    assert (np.abs(scene.astype(int) - 128).max(-1) <= 4).mean() > 0.99
