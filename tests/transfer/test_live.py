"""`dancegen live` on a video file as the source: every frame comes out, the rates are reported,
and bad sources or model files are one-line errors; its driving poses are transfer's."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO_ROOT, make_video

from dancegen.body import skeleton
from dancegen.core.config import InferParams, PairsParams
from dancegen.preprocess.background import save_background
from dancegen.demo import render_video, true_background
from dancegen.model.generators import GeneratorConfig, Generators, pose_channels, save_generators
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import make_pairs, write_split
from dancegen.core.store import FrameWriter, PoseStore, PoseWriter
from dancegen.preprocess.video import VideoWriter
from dancegen.transfer import command
from dancegen.transfer.live import LiveDriving
from dancegen.transfer.retarget import REMEASURE_EVERY, jitter
from dancegen.transfer.transfer import driving_poses

REPO = REPO_ROOT
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
    make_pairs(np.ones(N, bool), PairsParams(0.85, 10, 4, seed=0, near_fraction=0.0), 0.3, "me").to_csv(data / "pairs" / "me.csv", index=False)
    write_split(data / "pairs" / "me.split.json", N, 0.85)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(videos={"me": "data/raw/me.mp4"}, personal=["me"], reference=[])
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    torch.manual_seed(0)
    g = Generators(GeneratorConfig("ours", pose_channels(params["posemap"]["K"]), ngf=4, n_downsample=2,
                                   n_blocks=1, n_local_blocks=1, upsample="transpose", compose="paper"))
    g.enhance()
    save_generators(data / "models" / "me" / "ours" / "model.pt", g, R, {"variant": "ours", "steps": 0})
    with VideoWriter(root / "dance.mp4", FPS) as w:
        for fr in render_video("reference", 2.0, 320, FPS, seed=0):
            w.write(np.pad(fr.frame, ((0, 0), (40, 40), (0, 0)), mode="edge"))     # 400 × 320, not square
    return root


def live(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dancegen.transfer.command", "live", "--video", "me", *args],
                          cwd=workspace, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def failing_live(workspace, monkeypatch, capsys):
    """`dancegen live --video me ARGS` run in this process (its imports paid once), for a run that
    must fail: its exit code is 1; returns the last line it wrote to stderr."""
    threads = torch.get_num_threads()       # live takes one thread; the next tests get theirs back
    monkeypatch.chdir(workspace)

    def run(*args: str) -> str:
        with pytest.raises(SystemExit) as done:
            command.main(["live", "--video", "me", *args])
        assert done.value.code == 1
        return capsys.readouterr().err.strip().splitlines()[-1]
    yield run
    torch.set_num_threads(threads)


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


def test_the_holistic_detector_drives_every_frame(workspace):
    # --detector holistic: face and hands too, as the model was trained (the default is body-only Pose)
    done = live(workspace, "--source", "dance.mp4", "--out", "holistic.mp4", "--detector", "holistic")
    assert done.returncode == 0, done.stderr[-2000:]
    report = [line for line in done.stdout.splitlines() if line.startswith("[live]")]
    assert len(report) == 1 and report[0].startswith("[live] 60 frames in ") and "0 of 60 frames dropped" in report[0]
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
                            "-of", "csv=p=0", "holistic.mp4"], cwd=workspace, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "60"


def test_the_output_size_option_renders_at_that_size(workspace, failing_live):
    done = subprocess.run([sys.executable, "-m", "dancegen.transfer.command", "live", "--video", "me", "--source",
                           "dance.mp4", "--stdout", "--max-frames", "4", "--size", str(2 * R)], cwd=workspace,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout) == 4 * (2 * R) ** 2 * 3
    too_big = failing_live("--source", "dance.mp4", "--stdout", "--max-frames", "4", "--size", str(2 * S))
    assert too_big.endswith(
        f"'infer.size' {2 * S} must lie between the model's resolution {R} and the frames' size {S} (0: the frames' size)")


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
def test_a_bad_source_is_a_one_line_error(workspace, failing_live, source, message):
    (workspace / "junk.mp4").write_text("not a video")
    assert failing_live("--source", source, "--out", "bad.mp4") == f"[live] error: {message}"
    assert not (workspace / "bad.mp4").exists()


def test_a_model_file_of_the_wrong_kind_is_a_one_line_error(workspace, failing_live):
    wrong = workspace / "data" / "not_a_model.pt"
    torch.save({"weights": torch.zeros(3)}, wrong)
    error = failing_live("--source", "dance.mp4", "--out", "bad.mp4", "--model", str(wrong))
    assert error.startswith(f"[live] error: {wrong}: not a dancegen model file")


def test_nowhere_to_show_the_result_is_a_one_line_error(workspace, failing_live):
    assert "nowhere to show the result" in failing_live("--source", "dance.mp4", "--window", "off")


def write_reference(path: Path, keypoints: np.ndarray, size: int) -> None:
    """A pose file of ``keypoints: (T, 133, 3)``, every frame a valid detection (no masks)."""
    blank = np.zeros((size, size), np.uint8)
    with PoseWriter(path, size, FPS, "demo", "truth") as writer:
        for kps in keypoints:
            writer.append(kps, True, blank, blank)


@pytest.mark.parametrize("retarget", [True, False])
def test_live_drives_with_transfers_poses_and_smooths_away_the_jitter(tmp_path, retarget):
    """One reference with 1 px of detector noise, through transfer's driving_poses (the whole video
    known) and live's streaming path (frame by frame): once live has measured the source's body
    again, the two differ only by live's causal smoothing, far less than retargeting moves the
    poses; live's smoothing takes away most of the jitter."""
    size, min_conf = 128, 0.3
    personal = make_video(tmp_path / "personal", size=size)
    rng = np.random.default_rng(0)
    clean = np.stack([f.keypoints for f in render_video("reference", 4.0, size, FPS, seed=0)]).astype(np.float32)
    noisy = clean.copy()
    noisy[..., :2] += rng.normal(0, 1.0, noisy[..., :2].shape).astype(np.float32)
    write_reference(tmp_path / "reference.h5", noisy, size)
    infer = replace(InferParams(), retarget=retarget)
    with PersonalVideo(personal) as video, PoseStore(tmp_path / "reference.h5") as reference:
        offline = driving_poses(reference, video.training_poses, video.size, infer, min_conf)
        live = LiveDriving(video, infer, min_conf, K=3)
        streamed = np.stack([live.pose(kps) for kps in noisy])           # (T, 133, 3)
    body, warm = slice(0, skeleton.FEET.stop), slice(REMEASURE_EVERY, None)
    gap = np.linalg.norm(offline.poses[warm, body, :2] - streamed[warm, body, :2], axis=-1)
    # seen: mean 1.2 / p95 2.6 px retargeted, 0.8 / 1.6 px only rescaled
    assert gap.mean() < 2.0 and np.percentile(gap, 95) < 4.0
    moved = np.linalg.norm(offline.poses[:, body, :2] - clean[:, body, :2], axis=-1).mean()
    if retarget:                      # the retargeting is live's too: it moves the poses ~11 px
        assert moved > 8.0 and live.place.placement.scale == pytest.approx(offline.scale, rel=0.05)
    else:
        assert moved < 1.0 and offline.scale is None and live.place.placement.scale is None
    present = noisy[..., 2] >= min_conf
    live_jitter = jitter(streamed[warm], present[warm])               # seen: 0.28 of the raw poses'
    assert offline.jitter_smoothed < live_jitter < 0.4 * offline.jitter_raw
