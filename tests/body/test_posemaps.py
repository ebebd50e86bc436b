import cv2
import numpy as np
import pytest

from dancegen.core.config import PosemapParams
from dancegen.body.posemaps import CHANNELS, history_indices, part_maps, pose_maps, stacked_pose_maps
from dancegen.body.skeleton import (FACE, J, LANDMARK_GROUPS, LEFT_HAND, NUM_JOINTS, NUM_PARTS, PARTS, RIGHT_HAND,
                               part_segments)

SRC = 256
OUT = 128
PARAMS = PosemapParams()

BODY = {
    "nose": (128, 52), "left_eye": (134, 46), "right_eye": (122, 46), "left_ear": (142, 50),
    "right_ear": (114, 50), "left_shoulder": (150, 80), "right_shoulder": (106, 80),
    "left_elbow": (175, 110), "right_elbow": (88, 115), "left_wrist": (200, 95),
    "right_wrist": (80, 150), "left_hip": (142, 150), "right_hip": (114, 150),
    "left_knee": (160, 192), "right_knee": (110, 195), "left_ankle": (150, 236),
    "right_ankle": (108, 240), "left_big_toe": (162, 244), "left_small_toe": (158, 246),
    "left_heel": (146, 242), "right_big_toe": (96, 246), "right_small_toe": (100, 248),
    "right_heel": (112, 246),
}


def make_pose() -> np.ndarray:
    """``(133, 3)`` a standing figure with a bent left arm, face, hand and foot landmarks, at 256²."""
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    for name, xy in BODY.items():
        kp[J[name]] = (*xy, 1.0)
    rng = np.random.default_rng(0)
    face = np.array([128.0, 50.0]) + rng.normal(0, 5, (68, 2))
    kp[FACE] = np.column_stack([face, np.ones(68)])
    left_hand = np.array(BODY["left_wrist"], float) + rng.uniform(0, 10, (21, 2))
    kp[LEFT_HAND] = np.column_stack([left_hand, np.ones(21)])
    right_hand = np.array(BODY["right_wrist"], float) + rng.uniform(-4, 6, (21, 2))
    kp[RIGHT_HAND] = np.column_stack([right_hand, np.ones(21)])
    return kp


def _pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return xs, ys


def _near_rect(a: np.ndarray, b: np.ndarray, width: float, margin: float, size: int) -> np.ndarray:
    """``(size, size) bool``: pixels within ``margin`` of the rectangle of ``width`` around a→b."""
    xs, ys = _pixel_centres(size)
    d = b - a
    length = np.hypot(*d)
    u = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length
    v = ((xs - a[0]) * -d[1] + (ys - a[1]) * d[0]) / length
    return (u >= -margin) & (u <= length + margin) & (np.abs(v) <= width / 2 + margin)


def test_channel_count_range_and_stack_order():
    kp = make_pose()
    maps = pose_maps(kp, SRC, OUT, PARAMS)
    assert maps.shape == (CHANNELS, OUT, OUT) == (15, OUT, OUT)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert np.all(maps.reshape(15, -1).max(1) > 0.3)

    moved = kp.copy()
    moved[:, 0] += 10
    stack = stacked_pose_maps(np.stack([kp, moved, kp]), SRC, OUT, PARAMS)
    assert stack.shape == ((NUM_PARTS + 5) * 3, OUT, OUT)
    np.testing.assert_array_equal(stack[:15], maps)
    np.testing.assert_array_equal(stack[15:30], pose_maps(moved, SRC, OUT, PARAMS))
    np.testing.assert_array_equal(stack[30:], maps)


@pytest.mark.parametrize("out", [64, 128])
def test_part_maps_are_the_pose_maps_part_channels(out):
    kp = make_pose()
    kp[J["left_knee"], 2] = 0.0          # a missing part too
    np.testing.assert_array_equal(part_maps(kp, SRC, out, PARAMS), pose_maps(kp, SRC, out, PARAMS)[:NUM_PARTS])


def test_limb_mass_lies_on_its_rotated_rectangle():
    kp = make_pose()
    maps = pose_maps(kp, SRC, OUT, PARAMS)
    s = OUT / SRC
    sigma = PARAMS.sigma * OUT / 128
    for c, part in enumerate(PARTS):
        if part.shape != "rect":
            continue
        a, b, width = part_segments(kp)[part.name]
        near = _near_rect(a * s, b * s, width * s * PARAMS.limb_width, 3 * sigma, OUT)
        inside = _near_rect(a * s, b * s, width * s * PARAMS.limb_width, 0.0, OUT)
        assert maps[c][near].sum() / maps[c].sum() > 0.99, part.name
        # The solid interior keeps its value, the smoothing only softens the edges.
        assert maps[c][inside].mean() > 0.7, part.name
        # A rectangle is not a line: a good part of its mass lies off the centre line.
        assert maps[c][~_near_rect(a * s, b * s, 2.0, 0.0, OUT)].sum() / maps[c].sum() > 0.5, part.name


def test_head_disc_is_centred_on_the_head():
    kp = make_pose()
    head = pose_maps(kp, SRC, OUT, PARAMS)[0]
    _, centre, width = part_segments(kp)["head"]
    xs, ys = _pixel_centres(OUT)
    centroid = np.array([(head * xs).sum(), (head * ys).sum()]) / head.sum()
    np.testing.assert_allclose(centroid, centre * OUT / SRC, atol=0.5)
    radius = width * OUT / SRC / 2
    area = head.sum()
    assert 0.9 * np.pi * radius ** 2 < area < 1.1 * np.pi * radius ** 2


def test_landmark_mass_is_at_its_points():
    kp = make_pose()
    maps = pose_maps(kp, SRC, OUT, PARAMS)
    xs, ys = _pixel_centres(OUT)
    reach = PARAMS.landmark_radius + 3 * PARAMS.sigma
    for g, joints in enumerate(LANDMARK_GROUPS.values()):
        channel = maps[NUM_PARTS + g]
        points = kp[list(joints)][:, :2] * OUT / SRC
        dist = np.min(np.hypot(xs[..., None] - points[:, 0], ys[..., None] - points[:, 1]), axis=-1)
        assert channel[dist <= reach].sum() / channel.sum() > 0.99, g


def test_missing_joints_give_zero_channels():
    kp = make_pose()
    kp[J["left_elbow"], 2] = 0.1
    kp[LEFT_HAND, 2] = 0.0
    maps = pose_maps(kp, SRC, OUT, PARAMS)
    zero = {PARTS.index(p) for p in PARTS if p.name in ("left_upper_arm", "left_lower_arm")}
    zero.add(NUM_PARTS + list(LANDMARK_GROUPS).index("left_hand"))
    for c in range(CHANNELS):
        assert (maps[c].max() == 0) == (c in zero), c
    assert not pose_maps(np.zeros((NUM_JOINTS, 3), np.float32), SRC, OUT, PARAMS).any()


def test_maps_agree_across_resolutions():
    """Sizes are in units of a 128² map, so a 64² map is the 128² one downsampled."""
    kp = make_pose()
    high = pose_maps(kp, SRC, 128, PARAMS)
    low = pose_maps(kp, SRC, 64, PARAMS)
    down = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in high])
    assert np.abs(down[:NUM_PARTS] - low[:NUM_PARTS]).max() < 0.06
    assert np.abs(down - low).max() < 0.2
    np.testing.assert_allclose(low.sum(axis=(1, 2)), down.sum(axis=(1, 2)), rtol=0.1)


def test_subpixel_motion_moves_the_maps_smoothly():
    kp = make_pose()
    xs, _ = _pixel_centres(64)
    base = pose_maps(kp, SRC, 64, PARAMS)
    for shift in (0.25, 0.5, 1.0):
        moved = kp.copy()
        moved[:, 0] += shift * SRC / 64
        maps = pose_maps(moved, SRC, 64, PARAMS)
        for c in range(NUM_PARTS):
            dx = (maps[c] * xs).sum() / maps[c].sum() - (base[c] * xs).sum() / base[c].sum()
            assert abs(dx - shift) < 0.06, (c, shift, dx)
            assert abs(maps[c].sum() / base[c].sum() - 1) < 0.02, (c, shift)


@pytest.mark.parametrize("t, invalid, K, expected", [
    (5, [], 3, [5, 4, 3]),
    (0, [], 3, [0, 0, 0]),
    (1, [], 3, [1, 0, 0]),
    (5, [4], 3, [5, 3, 3]),
    (5, [3, 4], 3, [5, 2, 2]),
    (5, [4, 2], 4, [5, 3, 3, 1]),
    (5, [0, 1, 2, 3, 4], 3, [5, 5, 5]),
    (2, [0], 4, [2, 1, 1, 1]),
    (7, [], 1, [7]),
])
def test_history_indices(t, invalid, K, expected):
    valid = np.ones(10, bool)
    valid[invalid] = False
    assert history_indices(t, valid, K) == expected


def test_history_indices_rejects_invalid_current_frame():
    valid = np.ones(4, bool)
    valid[2] = False
    with pytest.raises(ValueError):
        history_indices(2, valid, 3)
    with pytest.raises(IndexError):
        history_indices(4, valid, 3)
