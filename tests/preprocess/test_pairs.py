import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dancegen.core.config import PairsParams
from dancegen.preprocess import pairs

from dancegen.body import skeleton
from dancegen.preprocess.crowd import ATTR, OthersInView
from dancegen.core.errors import DanceGenError
from dancegen.core.store import PoseWriter
from conftest import REPO_ROOT

REPO = REPO_ROOT


def random_only(train_fraction: float, n_train: int, n_test: int, seed: int) -> PairsParams:
    """Pairs params whose training pairs are all random (no near pairs)."""
    return PairsParams(train_fraction, n_train, n_test, seed, near_fraction=0.0)


@pytest.mark.parametrize("n", [2, 3, 7, 20, 100, 1201])
def test_split_is_contiguous_without_overlap(n):
    train, test = pairs.split_frames(n, 0.85)
    assert train.start == 0 and train.stop == test.start and test.stop == n
    assert len(train) >= 1 and len(test) >= 1
    assert max(train) < min(test)
    assert set(train).isdisjoint(test)


def test_split_ratio():
    train, test = pairs.split_frames(1200, 0.85)
    assert (len(train), len(test)) == (1020, 180)
    train, test = pairs.split_frames(10, 0.5)
    assert (len(train), len(test)) == (5, 5)


def test_split_rejects_too_few_frames():
    with pytest.raises(ValueError):
        pairs.split_frames(1, 0.85)


def test_sample_pairs_uses_only_valid_frames_of_the_range():
    rng = np.random.default_rng(0)
    valid = np.ones(100, bool)
    valid[[10, 11, 12, 50, 80]] = False
    frames = range(0, 60)
    table = pairs.sample_pairs(valid, frames, 5000, rng)
    used = set(table["in_frame"]) | set(table["ref_frame"])
    assert used <= set(range(60)) - {10, 11, 12, 50}
    assert (table["in_frame"] != table["ref_frame"]).all()
    assert len(table) == 5000
    # Uniform over the valid frames: with 56 frames and 5000 draws each is used ~89 times.
    counts = np.bincount(table["in_frame"], minlength=60)[sorted(used)]
    assert counts.min() > 50 and counts.max() < 135
    assert used == set(range(60)) - {10, 11, 12, 50}


def test_sample_pairs_with_two_valid_frames():
    valid = np.zeros(10, bool)
    valid[[3, 7]] = True
    table = pairs.sample_pairs(valid, range(10), 50, np.random.default_rng(1))
    assert set(map(tuple, table[["in_frame", "ref_frame"]].to_numpy())) == {(3, 7), (7, 3)}


def test_sample_pairs_needs_two_valid_frames():
    valid = np.zeros(10, bool)
    valid[4] = True
    with pytest.raises(ValueError, match="1 valid"):
        pairs.sample_pairs(valid, range(10), 5, np.random.default_rng(0))


def test_make_pairs_counts_splits_and_determinism():
    rng = np.random.default_rng(2)
    valid = rng.random(300) > 0.2
    table = pairs.make_pairs(valid, random_only(0.85, 400, 60, seed=7), 0.3, "x.h5")
    assert list(table.columns) == ["split", "in_frame", "ref_frame"]
    assert (table["split"] == "train").sum() == 400 and (table["split"] == "test").sum() == 60
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    cut = 255   # round(300 * 0.85)
    assert train[["in_frame", "ref_frame"]].to_numpy().max() < cut
    assert test[["in_frame", "ref_frame"]].to_numpy().min() >= cut
    assert valid[table["in_frame"]].all() and valid[table["ref_frame"]].all()
    assert (table["in_frame"] != table["ref_frame"]).all()

    again = pairs.make_pairs(valid, random_only(0.85, 400, 60, seed=7), 0.3, "x.h5")
    pd.testing.assert_frame_equal(table, again)
    other = pairs.make_pairs(valid, random_only(0.85, 400, 60, seed=8), 0.3, "x.h5")
    assert not table.equals(other)
    # Test pairs do not depend on how many training pairs were drawn.
    fewer = pairs.make_pairs(valid, random_only(0.85, 10, 60, seed=7), 0.3, "x.h5")
    pd.testing.assert_frame_equal(fewer[fewer["split"] == "test"].reset_index(drop=True),
                                  test.reset_index(drop=True))


def walking_poses(n: int) -> np.ndarray:
    """``(n, 133, 3)``: a figure whose arms swing with period 40 frames while it walks right; the
    nearest pose of a frame is then one a whole period away, not its temporal neighbour alone."""
    base = np.zeros((133, 3), np.float32)
    for name, (x, y) in {"nose": (0, -80), "left_shoulder": (-20, -60), "right_shoulder": (20, -60),
                         "left_hip": (-12, 0), "right_hip": (12, 0), "left_knee": (-12, 40),
                         "right_knee": (12, 40), "left_ankle": (-12, 80), "right_ankle": (12, 80)}.items():
        base[skeleton.J[name]] = (x, y, 1.0)
    poses = np.repeat(base[None], n, 0)
    angle = np.arange(n) * 2 * np.pi / 40       # the arms circle: one pose per phase of the period
    for side, sign in (("left", -1), ("right", 1)):
        for joint, reach in (("elbow", 30), ("wrist", 60)):
            poses[:, skeleton.J[f"{side}_{joint}"]] = np.stack(
                [sign * (20 + reach * (1 + np.cos(angle)) / 2), -60 + reach * np.sin(angle), np.ones(n)], 1)
    poses[..., 0] += 100 + np.arange(n)[:, None]     # walks right: the body size and centre cancel out
    poses[..., 1] += 150
    return poses


def test_near_pairs_take_the_input_frame_of_nearest_pose():
    n = 200
    keypoints, valid = walking_poses(n), np.ones(n, bool)
    valid[[40, 41]] = False
    table = pairs.near_pairs(keypoints, valid, range(0, 170), 300, 3, 0.3, np.random.default_rng(0))
    assert len(table) == 300
    t_in, t_ref = table["in_frame"].to_numpy(), table["ref_frame"].to_numpy()
    assert (t_in != t_ref).all() and valid[t_in].all() and valid[t_ref].all()
    assert t_in.max() < 170 and t_ref.max() < 170
    # The 3 nearest poses: the neighbours in time and the frames a swing period (40) away.
    phase = np.abs(((t_in - t_ref + 20) % 40) - 20)
    assert (phase <= 1).all()
    assert (np.abs(t_in - t_ref) >= 39).any()


def test_make_pairs_mixes_near_training_pairs_and_keeps_the_test_pairs():
    n = 300
    keypoints, valid = walking_poses(n), np.ones(n, bool)
    random = pairs.make_pairs(valid, random_only(0.85, 400, 60, seed=3), 0.3, "x.h5")
    near = PairsParams(0.85, 400, 60, seed=3, near_fraction=0.25, near_k=4)
    mixed = pairs.make_pairs(valid, near, 0.3, "x.h5", keypoints=keypoints)
    train = mixed[mixed["split"] == "train"]
    assert len(train) == 400 and (mixed["split"] == "test").sum() == 60
    gap = np.abs(((train["in_frame"] - train["ref_frame"] + 20) % 40) - 20).to_numpy()
    assert (gap <= 2).sum() >= 100          # the 100 near pairs, and random ones that happen to be near
    pd.testing.assert_frame_equal(mixed[mixed["split"] == "test"].reset_index(drop=True),
                                  random[random["split"] == "test"].reset_index(drop=True))
    with pytest.raises(ValueError, match="keypoints"):
        pairs.make_pairs(valid, PairsParams(0.85, 400, 60, seed=3, near_fraction=0.5), 0.3, "x.h5")


def test_tiny_video():
    table = pairs.make_pairs(np.ones(4, bool), random_only(0.5, 6, 6, seed=0), 0.3, "tiny.h5")
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    assert set(train["in_frame"]) | set(train["ref_frame"]) <= {0, 1}
    assert set(test["in_frame"]) | set(test["ref_frame"]) <= {2, 3}
    with pytest.raises(DanceGenError, match="tiny.h5.*1 frame"):
        pairs.make_pairs(np.ones(1, bool), random_only(0.5, 6, 6, seed=0), 0.3, "tiny.h5")


def test_all_invalid_in_test_split_names_file_and_split():
    valid = np.ones(100, bool)
    valid[85:] = False
    valid[90] = True      # one valid test frame is not enough for a pair
    with pytest.raises(DanceGenError, match=r"data/pose/v\.h5: the test split \(frames 85\.\.99\) has 1 valid"):
        pairs.make_pairs(valid, random_only(0.85, 10, 10, seed=0), 0.3, "data/pose/v.h5")
    valid[:85] = False
    with pytest.raises(DanceGenError, match="the train split"):
        pairs.make_pairs(valid, random_only(0.85, 10, 10, seed=0), 0.3, "data/pose/v.h5")


def test_read_pairs_checks_columns(tmp_path):
    good = tmp_path / "good.csv"
    pairs.make_pairs(np.ones(20, bool), random_only(0.85, 5, 3, 0), 0.3, "p.h5").to_csv(good, index=False)
    table = pairs.read_pairs(good)
    assert len(table) == 8 and table["in_frame"].dtype.kind == "i"
    bad = tmp_path / "bad.csv"
    bad.write_text("in_frame,ref_frame\n1,2\n")
    with pytest.raises(DanceGenError, match="columns"):
        pairs.read_pairs(bad)
    with pytest.raises(DanceGenError, match="not found"):
        pairs.read_pairs(tmp_path / "missing.csv")


def write_pose_file(path: Path, valid: np.ndarray, size: int = 32, others: OthersInView | None = None) -> None:
    with PoseWriter(path, size=size, fps=30, detector="test", detector_version="0") as w:
        if others is not None:
            w.note(**{ATTR: others.to_json()})
        for v in valid:
            kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
            empty = np.zeros((size, size), np.uint8)
            w.append(kp, bool(v), empty, empty)


def run_stage(tmp_path: Path, video: str) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text("pairs:\n  n_train: 50\n  n_test: 10\n  seed: 3\n  near_fraction: 0.0\n")
    return subprocess.run([sys.executable, str(REPO / "stages" / "pairs.py"), video], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_stage_writes_csv(tmp_path):
    valid = np.ones(40, bool)
    valid[5] = False
    write_pose_file(tmp_path / "data/pose/v.h5", valid)
    done = run_stage(tmp_path, "v")
    assert done.returncode == 0, done.stderr
    table = pairs.read_pairs(tmp_path / "data/pairs/v.csv")
    assert (table["split"] == "train").sum() == 50 and (table["split"] == "test").sum() == 10
    assert 5 not in set(table["in_frame"]) | set(table["ref_frame"])
    pd.testing.assert_frame_equal(table, pairs.make_pairs(valid, random_only(0.85, 50, 10, 3), 0.3, "v.h5"))


def test_stage_reports_a_bad_split_in_one_line(tmp_path):
    valid = np.ones(40, bool)
    valid[34:] = False
    write_pose_file(tmp_path / "data/pose/v.h5", valid)
    done = run_stage(tmp_path, "v")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "data/pose/v.h5: the test split" in done.stderr
    assert not (tmp_path / "data/pairs/v.csv").exists()


def test_stage_refuses_a_personal_video_detect_saw_someone_else_in(tmp_path):
    valid = np.ones(40, bool)
    write_pose_file(tmp_path / "data/pose/v.h5", valid, others=OthersInView(8, 5, [0, 5, 10, 15]))
    done = run_stage(tmp_path, "v")
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0
    assert ("data/pose/v.h5: a second person is in view in 4 of 8 checked frames (frames 0-15); a personal "
            "video must show one person") in done.stderr
    assert not (tmp_path / "data/pairs/v.csv").exists()
    write_pose_file(tmp_path / "data/pose/v.h5", valid, others=OthersInView(8, 5, [0, 5]))   # 2 of 8: a glimpse
    assert run_stage(tmp_path, "v").returncode == 0
