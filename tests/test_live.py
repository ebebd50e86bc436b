"""`dancegen live` on a video file as the source: every frame comes out, the rates are reported,
and bad sources or model files are one-line errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dancegen.body import skeleton
from dancegen.preprocess.background import save_background
from dancegen.demo import render_video, true_background
from dancegen.transfer.live import CausalSmoother
from dancegen.model.generators import GeneratorConfig, Generators, pose_channels, save_generators
from dancegen.preprocess.pairs import make_pairs
from dancegen.core.store import FrameWriter, PoseWriter
from dancegen.preprocess.video import VideoWriter

REPO = Path(__file__).resolve().parents[1]
S, R, N, FPS = 256, 64, 40, 30


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A project folder with one personal video 'me' (its data as the stages leave it), an untrained
    tiny model of it, and a 2-second reference video file."""
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    with FrameWriter(data / "frames" / "me.h5", S, FPS) as frames, \
            PoseWriter(data / "pose" / "me.h5", S, FPS, "truth", "0") as pose:
        for fr in render_video("personal", N / FPS, S, FPS, seed=0):
            frames.append(fr.frame)
            pose.append(fr.keypoints, True, fr.mask, fr.parts)
    save_background(data / "background" / "me", true_background("personal", S, 0), np.ones((S, S), np.float32), N, N)
    (data / "pairs").mkdir()
    make_pairs(np.ones(N, bool), 0.85, 10, 4, seed=0, source="me").to_csv(data / "pairs" / "me.csv", index=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(videos={"me": "data/raw/me.mp4"}, personal=["me"], reference=[])
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    torch.manual_seed(0)
    g = Generators(GeneratorConfig("ours", pose_channels(params["posemap"]["K"]), ngf=4, n_downsample=2,
                                   n_blocks=1, n_local_blocks=1))
    g.enhance()
    save_generators(data / "models" / "me" / "ours" / "model.pt", g, R, {"variant": "ours", "steps": 0})
    with VideoWriter(root / "dance.mp4", FPS) as w:
        for fr in render_video("reference", 2.0, 320, FPS, seed=0):
            w.write(np.pad(fr.frame, ((0, 0), (40, 40), (0, 0)), mode="edge"))     # 400 × 320, not square
    return root


def live(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dancegen.transfer.command", "live", "--video", "me", *args],
                          cwd=workspace, capture_output=True, text=True, timeout=300)


def test_a_video_file_as_the_source_gives_every_frame_and_a_throughput_report(workspace):
    done = live(workspace, "--source", "dance.mp4", "--out", "out.mp4")
    assert done.returncode == 0, done.stderr[-2000:]
    report = [line for line in done.stdout.splitlines() if line.startswith("[live]")]
    assert len(report) == 1 and report[0].startswith("[live] 60 frames in "), done.stdout
    for part in ("frames/s; latency p50 ", " ms, p95 ", "ms per frame (bound by ", "0 of 60 frames dropped"):
        assert part in report[0]
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                            "stream=nb_read_frames,width,height", "-of", "csv=p=0", "out.mp4"],
                           cwd=workspace, capture_output=True, text=True, check=True).stdout.strip()
    assert probe == f"{R},{R},60"


def test_frames_on_stdout_are_raw_rgb(workspace):
    done = subprocess.run([sys.executable, "-m", "dancegen.transfer.command", "live", "--video", "me", "--source",
                           "dance.mp4", "--stdout", "--max-frames", "10"], cwd=workspace, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout) == 10 * R * R * 3
    assert b"[live] 10 frames in" in done.stderr


@pytest.mark.parametrize("source, message", [
    ("7", "7: cannot open camera 7"),
    ("nowhere.mp4", "nowhere.mp4: not found (give a camera index, a video file or a stream URL)"),
    ("junk.mp4", "junk.mp4: cannot open this video or stream"),
])
def test_a_bad_source_is_a_one_line_error(workspace, source, message):
    (workspace / "junk.mp4").write_text("not a video")
    done = live(workspace, "--source", source, "--out", "bad.mp4")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == f"[live] error: {message}", done.stderr
    assert not (workspace / "bad.mp4").exists()


def test_a_model_file_of_the_wrong_kind_is_a_one_line_error(workspace):
    wrong = workspace / "data" / "not_a_model.pt"
    torch.save({"weights": torch.zeros(3)}, wrong)
    done = live(workspace, "--source", "dance.mp4", "--out", "bad.mp4", "--model", str(wrong))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"[live] error: {wrong}: not a dancegen model file")


def test_nowhere_to_show_the_result_is_a_one_line_error(workspace):
    done = live(workspace, "--source", "dance.mp4", "--window", "off")
    assert done.returncode == 1 and "nowhere to show the result" in done.stderr


def test_the_causal_smoother_follows_a_steady_motion_and_holds_a_short_gap():
    smooth = CausalSmoother(window=9, order=3, max_gap=2, min_conf=0.3)
    kps = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    kps[:, 2] = 1.0
    rng = np.random.default_rng(0)
    out = []
    for t in range(30):
        frame = kps.copy()
        frame[:, 0] = 10 + 2.0 * t + rng.normal(0, 1.0, skeleton.NUM_JOINTS)   # 2 px/frame plus noise
        if t in (20, 21):
            frame[0, 2] = 0.0                                                # joint 0 missing twice
        out.append(smooth(frame))
    late = np.stack(out[10:])
    error = late[:, 1:, 0] - (10 + 2.0 * np.arange(10, 30))[:, None]
    assert abs(error.mean()) < 0.3 and error.std() < 0.9          # no lag on a steady motion, less noise
    assert out[20][0, 2] == 1.0 and out[21][0, 2] == 1.0           # the short gap is held
