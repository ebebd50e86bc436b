import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dancegen import demo

from dancegen.body import skeleton
from dancegen.core.config import TrainSPParams
from dancegen.core.errors import DanceGenError
from dancegen.core.layout import VideoPaths
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import write_split
from dancegen.model.nets.sp_encoder import N_SP_PARTS, SP_JOINTS, SPNet, load_sp, save_sp
from dancegen.core.store import FrameWriter, PoseWriter
from dancegen.train.sp import (JOINT_MIRROR, LABEL_MIRROR, augment, fit, heatmap_targets, score_sp,
                               load_set, peak_positions, resize_parsing, split_indices, train_sp)
from conftest import REPO_ROOT

REPO = REPO_ROOT
INVALID = (40, 41, 290)        # frames the fixture's "detector" missed
TINY = TrainSPParams(resolution=64, width=8, iters=300, batch_size=8, lr=3e-3)
# On a machine shared by other jobs, two OpenMP threads per process make these tiny convolutions
# 10-100x slower than one (threads spin waiting for each other), so the tests run on one.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 10 s, 128² demo dance with its true keypoints and parsing as the detect stage's labels."""
    root = tmp_path_factory.mktemp("clip")
    frames, pose = root / "frames.h5", root / "pose.h5"
    with FrameWriter(frames, 128, 30) as fw, PoseWriter(pose, 128, 30, "demo-truth", "0") as pw:
        for t, f in enumerate(demo.render_video("personal", 10, 128, 30, seed=0)):
            fw.append(f.frame)
            if t in INVALID:
                empty = np.zeros_like(f.parts)
                pw.append(np.zeros_like(f.keypoints), False, empty, empty)
            else:
                pw.append(f.keypoints, True, f.mask, f.parts)
    write_split(root / "split.json", 300, 0.85)
    return frames, pose


def personal(clip: tuple[Path, Path]) -> PersonalVideo:
    """The clip opened as a personal video (its split beside its files; no pairs or plate needed)."""
    frames, pose = clip
    return PersonalVideo(VideoPaths(frames, pose, frames.parent / "pairs.csv", frames.parent / "split.json",
                                    frames.parent / "background"))


@pytest.mark.parametrize("side", [16, 64, 96, 144])
def test_shapes_at_several_resolutions(side):
    net = SPNet(width=8).eval()
    x = torch.rand(2, 3, side, side) * 2 - 1
    with torch.no_grad():
        logits, heatmaps = net(x)
        pose_feats, parse_feats = net.features(x)
    assert logits.shape == (2, N_SP_PARTS, side // 2, side // 2)
    assert heatmaps.shape == (2, len(SP_JOINTS), side // 2, side // 2)
    expected = [(2, 16, side // 4, side // 4), (2, 32, side // 8, side // 8), (2, 32, side // 16, side // 16)]
    assert [tuple(f.shape) for f in pose_feats] == expected
    assert [tuple(f.shape) for f in parse_feats] == expected


def test_non_square_input_and_bad_sizes():
    net = SPNet(width=4).eval()
    pose_feats, parse_feats = net.features(torch.zeros(1, 3, 32, 80))
    assert pose_feats[-1].shape == (1, 16, 2, 5) and parse_feats[0].shape == (1, 8, 8, 20)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.zeros(1, 3, 40, 40))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net.features(torch.zeros(1, 1, 32, 32))


def test_joint_and_part_schema():
    names = [skeleton.JOINT_NAMES[j] for j in SP_JOINTS]
    assert len(names) == 23 and names[0] == "nose" and names[-1] == "right_heel"
    assert N_SP_PARTS == 11
    mirrored = [names[i] for i in JOINT_MIRROR.tolist()]
    assert mirrored[names.index("left_wrist")] == "right_wrist"
    assert mirrored[names.index("right_big_toe")] == "left_big_toe"
    assert mirrored[names.index("nose")] == "nose"
    labels = {p.name: p.label for p in skeleton.PARTS}
    assert LABEL_MIRROR[0] == 0 and LABEL_MIRROR[labels["head"]] == labels["head"]
    assert LABEL_MIRROR[labels["torso"]] == labels["torso"]
    assert LABEL_MIRROR[labels["left_lower_arm"]] == labels["right_lower_arm"]
    assert LABEL_MIRROR[labels["right_upper_leg"]] == labels["left_upper_leg"]


def test_save_load_round_trip_is_frozen_and_identical(tmp_path):
    torch.manual_seed(0)
    net = SPNet(width=8)
    net.train()
    net(torch.rand(4, 3, 32, 32))      # moves the batch-norm running statistics off their defaults
    net.eval()
    path = tmp_path / "sp.pt"
    save_sp(path, net, {"params": {"resolution": 64}, "note": "x"})
    loaded = load_sp(path)
    assert loaded.meta == {"params": {"resolution": 64}, "note": "x"}
    assert not loaded.training and all(not p.requires_grad for p in loaded.parameters())
    loaded.train()                      # as a parent module switching to training would
    assert not loaded.training
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        for a, b in zip(sum(net.features(x), []), sum(loaded.features(x), []), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(net(x), loaded(x), rtol=0, atol=0)
    # Frozen weights, but L_SP's gradient still reaches the generated image.
    y = x.clone().requires_grad_(True)
    sum(f.abs().mean() for f in loaded.features(y)[0]).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_missing_or_corrupt_checkpoint(tmp_path):
    with pytest.raises(DanceGenError, match=r"nope\.pt: not found"):
        load_sp(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(DanceGenError, match=r"bad\.pt: not a readable SPNet checkpoint"):
        load_sp(bad)
    good = tmp_path / "good.pt"
    save_sp(good, SPNet(width=4), {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DanceGenError, match=r"truncated\.pt"):
        load_sp(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(DanceGenError, match=r"other\.pt: not an SPNet checkpoint"):
        load_sp(other)


def test_heatmap_targets_decode_back_to_the_keypoints():
    kp = torch.tensor([[[10.3, 20.7, 1.0], [33.3, 40.1, 0.9], [5.0, 5.0, 0.1], [70.0, 3.0, 1.0]]])
    target, weight = heatmap_targets(kp, 64, 32, sigma_fraction=0.0625)
    assert target.shape == (1, 4, 32, 32) and target.max() <= 1.0
    assert weight.tolist() == [[1.0, 1.0, 0.0, 0.0]]     # low confidence, outside the frame
    xy = (peak_positions(target) + 0.5) * 2
    torch.testing.assert_close(xy[0, :2], kp[0, :2, :2], atol=0.15, rtol=0)


def test_parsing_resize_takes_the_label_covering_most_of_each_pixel():
    labels = np.zeros((1, 64, 64), np.uint8)
    labels[0, :, 17:20] = 4                 # 3 of the 4 columns of output column 4
    labels[0, :, 40] = 6                    # 1 of 4: too thin to own an output pixel
    labels[0, 30:50, 30:50] = 2
    small = resize_parsing(labels, 16)
    assert (small[0, :, 4] == 4).all() and (small[0, 8:12, 8:12] == 2).all()
    assert set(np.unique(small)) == {0, 2, 4}


def test_augment_moves_keypoints_with_the_image_and_swaps_sides():
    r, b = 64, 16
    images = torch.full((b, 3, r, r), -1.0)
    parsing = torch.zeros(b, r, r, dtype=torch.long)
    kp = torch.zeros(b, len(SP_JOINTS), 3)
    wrist = [skeleton.JOINT_NAMES[j] for j in SP_JOINTS].index("left_wrist")
    lower_arm = {p.name: p.label for p in skeleton.PARTS}["left_lower_arm"]
    images[:, :, 18:22, 40:44] = 1.0        # a bright 4×4 patch centred at (42, 20), the left wrist
    parsing[:, 18:22, 40:44] = lower_arm
    kp[:, wrist] = torch.tensor([42.0, 20.0, 1.0])
    out_img, out_par, out_kp = augment(images, parsing, kp, torch.Generator().manual_seed(0))
    flipped = 0
    for i in range(b):
        flip = out_kp[i, wrist, 2] == 0
        slot = JOINT_MIRROR[wrist] if flip else wrist
        x, y, conf = out_kp[i, slot].tolist()
        assert conf == 1.0
        bright = torch.nonzero(out_img[i, 0] > 0.5).float()
        centre = bright.mean(0).flip(0) + 0.5           # (x, y) of the patch in continuous pixels
        assert abs(centre[0] - x) < 0.6 and abs(centre[1] - y) < 0.6
        expected = LABEL_MIRROR[lower_arm] if flip else lower_arm
        assert out_par[i, int(y), int(x)] == expected
        assert set(out_par[i].unique().tolist()) == {0, int(expected)}
        flipped += int(flip)
    assert 0 < flipped < b


def test_split_uses_valid_frames_of_the_temporal_split(clip):
    with personal(clip) as video:
        train, test = split_indices(video)
    assert train.tolist() == [t for t in range(255) if t not in INVALID]
    assert test.tolist() == [t for t in range(255, 300) if t not in INVALID]


def test_split_needs_valid_frames_on_both_sides(tmp_path):
    path = tmp_path / "pose.h5"
    empty = np.zeros((32, 32), np.uint8)
    with PoseWriter(path, 32, 30, "t", "0") as w, FrameWriter(tmp_path / "frames.h5", 32, 30) as fw:
        for t in range(20):
            w.append(np.zeros((133, 3), np.float32), t < 17, empty, empty)
            fw.append(np.zeros((32, 32, 3), np.uint8))
    write_split(tmp_path / "split.json", 20, 0.85)
    with personal((tmp_path / "frames.h5", path)) as video, pytest.raises(DanceGenError, match="test split has no valid"):
        split_indices(video)


def test_training_lowers_both_losses_and_beats_chance(clip):
    torch.manual_seed(0)
    with personal(clip) as video:
        frames, pose = video.frames, video.pose
        train, test = split_indices(video)
        data = load_set(frames, pose, train, TINY.resolution)
        assert data.images.shape == (len(train), 3, 64, 64) and data.images.dtype == torch.uint8
        assert data.keypoints.shape == (len(train), 23, 3)
        net = SPNet(TINY.width)
        before = score_sp(net.eval(), frames, pose, test, TINY.resolution, torch.device("cpu"))
        history = fit(net, data, TINY, torch.device("cpu"))
        after = score_sp(net, frames, pose, test, TINY.resolution, torch.device("cpu"))
    assert history.shape == (TINY.iters, 2)
    first, last = history[:20].mean(0), history[-20:].mean(0)
    assert last[0] < 0.5 * first[0] and last[1] < 0.5 * first[1]
    # Chance: each part covers ~1% of a frame, so a guess matching the label frequencies scores
    # an IoU of about that; the untrained net is near 0 too.
    assert before["iou"] < 0.1
    assert after["iou"] > 0.4 and np.median(list(after["iou_per_part"].values())) > 0.4
    assert set(after["iou_per_part"]) == set(skeleton.PART_NAMES)
    assert after["kp_error_px"] < 0.5 * before["kp_error_px"] and after["pck"] > 0.25


def test_train_sp_writes_a_loadable_net_and_metrics(clip, tmp_path):
    params = TrainSPParams(resolution=32, width=4, iters=20, batch_size=4, max_frames=50)
    with personal(clip) as video:
        metrics = train_sp(video, params, tmp_path / "sp")
    assert metrics["n_train"] == 50 and metrics["n_test"] == 44 and metrics["iters"] == 20
    for key in ("iou", "kp_error_px", "pck", "seconds", "loss_parse_start", "loss_pose_end"):
        assert np.isfinite(metrics[key])
    assert json.loads((tmp_path / "sp" / "metrics.json").read_text()) == metrics
    net = load_sp(tmp_path / "sp" / "sp.pt")
    assert net.width == 4 and net.meta["params"]["resolution"] == 32
    assert net.meta["joints"] == list(SP_JOINTS) and net.meta["frame_size"] == 128


def run_stage(cwd: Path, video: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stages" / "train_sp.py"), video], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=ONE_THREAD)


def test_stage_writes_outputs_and_reports_errors(clip, tmp_path):
    frames_path, pose_path = clip
    (tmp_path / "data" / "frames").mkdir(parents=True)
    (tmp_path / "data" / "pose").mkdir(parents=True)
    (tmp_path / "data" / "frames" / "v.h5").symlink_to(frames_path)
    (tmp_path / "data" / "pose" / "v.h5").symlink_to(pose_path)
    (tmp_path / "data" / "pairs").mkdir(parents=True)
    (tmp_path / "data" / "pairs" / "v.split.json").symlink_to(frames_path.parent / "split.json")
    (tmp_path / "params.yaml").write_text(
        "train_sp:\n  resolution: 32\n  width: 4\n  iters: 5\n  batch_size: 2\n  max_frames: 20\n")
    done = run_stage(tmp_path, "v")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "data" / "sp" / "v" / "metrics.json").read_text())
    assert 0.0 <= metrics["iou"] <= 1.0 and metrics["iters"] == 5     # written once, where DVC reads it
    assert not (tmp_path / "reports").exists()
    assert (tmp_path / "data" / "sp" / "v" / "sp.pt").is_file()
    again = run_stage(tmp_path, "v")
    assert again.returncode == 0, again.stderr      # an earlier output directory is replaced
    missing = run_stage(tmp_path, "w")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == "[train_sp] error: data/frames/w.h5: not found " \
        "(run the stage that makes it first: dvc repro)"
