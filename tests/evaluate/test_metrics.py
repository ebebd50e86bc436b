import math

import numpy as np
import pytest

from dancegen.evaluate import metrics

from dancegen.body import skeleton
from dancegen.body.skeleton import J

C1 = (0.01 * 255) ** 2  # SSIM's luminance constant for data range 255


def constant(value: int, size: int = 32) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_identical_images():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert metrics.mse(img, img) == 0.0
    assert metrics.psnr_from_mse(metrics.mse(img, img)) == math.inf
    assert metrics.ssim(img, img) == pytest.approx(1.0)


def test_constant_offset():
    a, b = constant(100), constant(110)
    assert metrics.mse(a, b) == pytest.approx(100.0)
    assert metrics.psnr_from_mse(metrics.mse(a, b)) == pytest.approx(10 * math.log10(255**2 / 100.0))
    # Flat images: contrast/structure terms are C2/C2 = 1, only luminance remains.
    expected = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)
    assert metrics.ssim(a, b) == pytest.approx(expected, rel=1e-6)


def test_no_uint8_wraparound():
    assert metrics.mse(constant(0), constant(255)) == pytest.approx(255.0**2)
    assert metrics.psnr_from_mse(metrics.mse(constant(0), constant(255))) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_noise_level():
    rng = np.random.default_rng(1)
    a = constant(128, 256)
    noise = rng.normal(0.0, 10.0, a.shape)
    b = np.clip(np.rint(a + noise), 0, 255).astype(np.uint8)
    # Rounding to integers adds a uniform error of variance 1/12.
    assert metrics.mse(a, b) == pytest.approx(100.0 + 1 / 12, rel=0.02)
    assert metrics.psnr_from_mse(metrics.mse(a, b)) == pytest.approx(10 * math.log10(255**2 / 100.0), abs=0.1)


def test_one_pixel_shift_of_a_ramp():
    ramp = np.repeat((np.arange(64) * 4).astype(np.uint8)[None, :, None], 64, axis=0).repeat(3, axis=2)
    shifted = np.roll(ramp, 1, axis=1)
    # Every column differs by 4, except column 0 which wraps around from 252 to 0.
    assert metrics.mse(ramp, shifted) == pytest.approx((63 * 4**2 + 252**2) / 64)
    inner = np.zeros((64, 64), bool)
    inner[:, 1:] = True
    assert metrics.mse(ramp, shifted, inner) == pytest.approx(16.0)


def test_one_pixel_shift_of_a_checkerboard():
    yy, xx = np.mgrid[:32, :32]
    board = np.repeat((((yy + xx) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    shifted = np.roll(board, 1, axis=1)
    assert metrics.mse(board, shifted) == pytest.approx(255.0**2)
    assert metrics.ssim(board, shifted) < -0.9   # perfectly anti-correlated structure


def test_masked_metrics_see_only_the_mask():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    b = a.copy()
    b[:, 24:] = rng.integers(0, 256, (48, 24, 3), dtype=np.uint8)
    left = np.zeros((48, 48), bool)
    left[:, :20] = True                       # 7×7 windows centred here never reach column 24
    right = np.zeros((48, 48), bool)
    right[:, 24:] = True
    assert metrics.mse(a, b, left) == 0.0
    assert metrics.psnr_from_mse(metrics.mse(a, b, left)) == math.inf
    assert metrics.ssim(a, b, left) == pytest.approx(1.0)
    err_right = metrics.mse(a, b, right)
    assert metrics.mse(a, b) == pytest.approx(err_right / 2)
    assert metrics.ssim(a, b, right) < 0.1


def test_region_scores_are_the_single_metrics_of_each_region():
    """One SSIM map and one squared error for all regions give exactly what the metrics give one by one."""
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(2))
    fg = np.zeros((40, 48), bool)
    fg[5:25, 10:30] = True
    nothing = np.zeros((40, 48), bool)
    whole, inside, outside, empty = metrics.region_scores(a, b, (None, fg, ~fg, nothing))
    for scores, mask in ((whole, None), (inside, fg), (outside, ~fg)):
        error = metrics.mse(a, b, mask)
        assert scores == (error, metrics.psnr_from_mse(error), metrics.ssim(a, b, mask))
    assert all(math.isnan(v) for v in empty)
    with pytest.raises(ValueError, match="mask must be"):
        metrics.region_scores(a, b, (fg[:-1],))


def test_masked_mse_of_a_known_patch():
    a = constant(50)
    b = a.copy()
    b[8:16, 8:16] = 80
    patch = np.zeros((32, 32), bool)
    patch[8:16, 8:16] = True
    assert metrics.mse(a, b, patch) == pytest.approx(900.0)
    assert metrics.mse(a, b, ~patch) == 0.0
    assert metrics.mse(a, b) == pytest.approx(900.0 * 64 / 1024)


def test_bad_inputs():
    with pytest.raises(ValueError, match="one shape"):
        metrics.mse(constant(0, 32), constant(0, 16))
    with pytest.raises(ValueError, match="no pixels"):
        metrics.mse(constant(0), constant(0), np.zeros((32, 32), bool))
    with pytest.raises(ValueError, match="bool"):
        metrics.mse(constant(0), constant(0), np.ones((32, 32), np.uint8))


def test_difference_mse_on_a_constructed_sequence():
    rng = np.random.default_rng(3)
    gt_prev = rng.integers(40, 200, (32, 32, 3), dtype=np.uint8)
    gt = gt_prev.copy()
    gt[10:20, 10:20] += 30                      # a square brightens by 30
    # A constant bias in every generated frame cancels in the difference frames.
    gen_prev, gen = gt_prev + 5, gt + 5
    assert metrics.mse(gen, gt) == pytest.approx(25.0)
    assert metrics.difference_mse(gen_prev, gen, gt_prev, gt) == 0.0
    # A frozen output misses all the motion: (0 - 30)^2 on the 100 moving pixels.
    assert metrics.difference_mse(gen_prev, gen_prev, gt_prev, gt) == pytest.approx(900.0 * 100 / 1024)
    # Darkening where the truth brightens: signed differences (-30 vs +30) give 60^2, no wraparound.
    gen_dark = gt_prev.copy()
    gen_dark[10:20, 10:20] -= 30
    square = np.zeros((32, 32), bool)
    square[10:20, 10:20] = True
    assert metrics.difference_mse(gt_prev, gen_dark, gt_prev, gt, square) == pytest.approx(3600.0)
    assert metrics.difference_mse(gt_prev, gen_dark, gt_prev, gt, ~square) == 0.0


def standing_pose(x0: float = 100.0, y0: float = 50.0, s: float = 1.0) -> np.ndarray:
    """A full-confidence body (17 COCO joints) whose torso is 60·s px long, top-left at (x0, y0)."""
    body = {
        "nose": (0, 0), "left_eye": (5, -5), "right_eye": (-5, -5), "left_ear": (10, -2),
        "right_ear": (-10, -2), "left_shoulder": (20, 30), "right_shoulder": (-20, 30),
        "left_elbow": (28, 60), "right_elbow": (-28, 60), "left_wrist": (32, 90),
        "right_wrist": (-32, 90), "left_hip": (12, 90), "right_hip": (-12, 90),
        "left_knee": (14, 130), "right_knee": (-14, 130), "left_ankle": (15, 170),
        "right_ankle": (-15, 170),
    }
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    for name, (x, y) in body.items():
        kp[J[name]] = (x0 + s * x, y0 + s * y, 1.0)
    return kp


def test_pose_equal_to_a_training_pose_has_zero_novelty():
    pose = standing_pose()
    train = np.stack([pose, pose])
    assert metrics.pose_novelty(pose[None], train, k=2, min_conf=0.3) == pytest.approx([0.0], abs=1e-6)


def test_scaled_and_translated_pose_has_zero_novelty():
    train = standing_pose()[None]
    ref = standing_pose(x0=300.0, y0=10.0, s=1.7)[None]
    assert metrics.pose_novelty(ref, train, k=1, min_conf=0.3) == pytest.approx([0.0], abs=1e-6)


def test_known_perturbation():
    base = standing_pose()
    moved = base.copy()
    moved[J["right_wrist"], 0] += 12.0          # neither the torso (scale) nor the pelvis (centre)
    torso = 60.0
    one_joint = 12.0 / torso / 17               # mean over the 17 shared joints
    train = np.stack([base, moved])
    assert metrics.pose_distances(base[None], train, 0.3)[0] == pytest.approx([0.0, one_joint], abs=1e-6)
    assert metrics.pose_novelty(base[None], train, k=2, min_conf=0.3) == pytest.approx([one_joint / 2], abs=1e-6)
    # Only joints present in both count: hide the left knee in the reference, mean over 16.
    ref = moved.copy()
    ref[J["left_knee"]] = 0.0
    assert metrics.pose_distances(ref[None], base[None], 0.3)[0, 0] == pytest.approx(12.0 / torso / 16, abs=1e-6)


def test_novelty_ranks_training_poses_and_skips_empty_ones():
    base = standing_pose()
    train = [base.copy() for _ in range(4)]
    for i, shift in enumerate((0.0, 6.0, 30.0, 60.0)):
        train[i][J["left_wrist"], 1] += shift
    train.append(np.zeros_like(base))           # an undetected frame has no body scale
    ref = np.stack([base, np.zeros_like(base)])
    novelty = metrics.pose_novelty(ref, np.stack(train), k=2, min_conf=0.3)
    assert novelty[0] == pytest.approx((0.0 + 6.0 / 60 / 17) / 2, abs=1e-6)
    assert np.isnan(novelty[1])
    with pytest.raises(ValueError, match="k=5"):
        metrics.pose_novelty(ref, np.stack(train), k=5, min_conf=0.3)


def test_distance_blocks_agree_with_one_block():
    rng = np.random.default_rng(4)
    poses = np.stack([standing_pose() for _ in range(9)])
    poses[:, :17, :2] += rng.normal(0, 5, (9, 17, 2)).astype(np.float32)
    whole = metrics.pose_distances(poses[:5], poses, 0.3)
    assert np.allclose(metrics.pose_distances(poses[:5], poses, 0.3, chunk=2), whole)   # three blocks
