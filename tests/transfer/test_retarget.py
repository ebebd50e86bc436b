import math

import numpy as np
import pytest

from dancegen.body import skeleton
from dancegen.body.distances import PosePool, nearest_poses, pose_distances
from dancegen.transfer.retarget import (FRAME_MARGIN, REMEASURE_EVERY, CausalPlacement, CausalSmoother,
                                       body_frame, jitter, keep_in_frame, retarget, size_ratio, smooth_poses)
from dancegen.body.skeleton import J


def standing(x=100.0, floor=200.0, height=150.0) -> np.ndarray:
    """A constructed frontal skeleton ``(133, 3)`` whose head top is at floor - height."""
    kp = np.zeros((133, 3), np.float32)
    h = height
    pts = {
        "nose": (0, 0.0), "left_eye": (0.03, -0.02), "right_eye": (-0.03, -0.02),
        "left_ear": (0.06, 0.0), "right_ear": (-0.06, 0.0),
        "left_shoulder": (0.12, 0.18), "right_shoulder": (-0.12, 0.18),
        "left_elbow": (0.16, 0.35), "right_elbow": (-0.16, 0.35),
        "left_wrist": (0.18, 0.5), "right_wrist": (-0.18, 0.5),
        "left_hip": (0.08, 0.52), "right_hip": (-0.08, 0.52),
        "left_knee": (0.09, 0.75), "right_knee": (-0.09, 0.75),
        "left_ankle": (0.1, 0.95), "right_ankle": (-0.1, 0.95),
        "left_heel": (0.1, 0.98), "right_heel": (-0.1, 0.98),
    }
    top = floor - h  # eyes (0.02 h above the nose) at the top, heels on the floor
    for name, (dx, dy) in pts.items():
        kp[J[name]] = (x + dx * h, top + (dy + 0.02) * h, 1.0)
    return kp


# Bone lengths of the constructed figure as fractions of its standing height.
TORSO, SHOULDER, HIP, UPPER_ARM, FOREARM, THIGH, SHIN, NECK = 0.30, 0.12, 0.08, 0.17, 0.15, 0.24, 0.23, 0.10


def figure(h: float, turn: float = 0.0, arms=(10.0, 10.0), elbows=(0.0, 0.0), legs=(4.0, 4.0),
           knees=(0.0, 0.0), pelvis=(0.0, 0.0), squeeze: float = 1.0) -> np.ndarray:
    """A figure of standing height ~``h`` with fixed bone lengths in any pose ``(133, 3)``.

    Angles in degrees: ``turn`` rotates the whole body about the pelvis (0 upright, 180 upside down,
    90 lying); ``arms``/``legs`` (left, right) open each upper arm / thigh away from hanging straight
    down, ``elbows``/``knees`` bend the forearm / shin further. ``squeeze`` < 1 shortens the thighs
    and shins, as when the legs point at the camera.
    """
    kp = np.zeros((133, 3), np.float32)

    def down(deg: float, side: int) -> np.ndarray:   # unit vector from "down", opening outwards
        r = math.radians(deg)
        return np.array([side * math.sin(r), math.cos(r)])

    local = {"neck": np.array([0.0, -TORSO * h])}
    for side, name in ((1, "left"), (-1, "right")):
        i = 0 if side == 1 else 1
        shoulder = local["neck"] + [side * SHOULDER * h, 0.0]
        elbow = shoulder + UPPER_ARM * h * down(arms[i], side)
        wrist = elbow + FOREARM * h * down(arms[i] + elbows[i], side)
        hip = np.array([side * HIP * h, 0.0])
        knee = hip + squeeze * THIGH * h * down(legs[i], side)
        ankle = knee + squeeze * SHIN * h * down(legs[i] - knees[i], side)
        local.update({f"{name}_shoulder": shoulder, f"{name}_elbow": elbow, f"{name}_wrist": wrist,
                      f"{name}_hip": hip, f"{name}_knee": knee, f"{name}_ankle": ankle,
                      f"{name}_heel": ankle + [0.0, 0.03 * h]})
    head = local["neck"] + [0.0, -NECK * h]
    local.update({"nose": head, "left_eye": head + [0.03 * h, -0.02 * h], "right_eye": head + [-0.03 * h, -0.02 * h],
                  "left_ear": head + [0.06 * h, 0.0], "right_ear": head + [-0.06 * h, 0.0]})
    del local["neck"]
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    rotation = np.array([[c, -s], [s, c]])
    for name, p in local.items():
        kp[J[name]] = (*(rotation @ p + pelvis), 1.0)
    return kp


POSES = {   # the body of the list, in poses where its vertical extent is not its size
    "upright": dict(),
    "upside_down": dict(turn=180, arms=(165, 165)),
    "lying": dict(turn=90, arms=(40, 60), legs=(10, 0)),
    "mid_cartwheel": dict(turn=60, arms=(150, 140), legs=(45, 40)),
    "crouched": dict(turn=20, arms=(60, 60), elbows=(40, 40), legs=(-80, -80), knees=(-150, -150)),
}


def on_floor(kp: np.ndarray, x: float, floor: float) -> np.ndarray:
    """``kp`` moved so its lowest body point touches ``floor`` with its body centred on ``x``."""
    out = kp.copy()
    body = out[:skeleton.FEET.stop]
    seen = body[:, 2] > 0
    out[:, 1] = np.where(out[:, 2] > 0, out[:, 1] + floor - body[seen, 1].max(), 0)
    out[:, 0] = np.where(out[:, 2] > 0, out[:, 0] + x - body[seen, 0].mean(), 0)
    return out


def video(poses: list[np.ndarray]) -> np.ndarray:
    return np.stack(poses).astype(np.float32)


@pytest.mark.parametrize("pose", list(POSES))
def test_scale_is_the_size_ratio_in_any_orientation(pose):
    target = video([on_floor(figure(400, arms=(a, a)), 300, 480) for a in (5, 20, 40)])
    ref = video([on_floor(figure(100, **POSES[pose]), 80, 150)] * 4)
    scale = size_ratio(body_frame(ref), body_frame(target))
    assert scale == pytest.approx(4.0, rel=0.10)


def test_scale_of_a_breakdance_video_against_an_upright_target():
    rng = np.random.default_rng(0)
    target = video([on_floor(figure(300, arms=(a, a)), 256, 500) + noise(rng, 1.5) for a in range(0, 60, 3)])
    poses = [on_floor(figure(120, **POSES[p]), 100, 230) for p in POSES for _ in range(6)]
    ref = video(poses) + np.stack([noise(rng, 1.5) for _ in poses])
    assert size_ratio(body_frame(ref), body_frame(target)) == pytest.approx(2.5, rel=0.10)


def noise(rng, sigma: float) -> np.ndarray:
    out = np.zeros((133, 3), np.float32)
    out[:, :2] = rng.normal(0, sigma, (133, 2))
    return out


def test_size_ignores_foreshortened_legs_and_a_few_wild_detections():
    rng = np.random.default_rng(1)
    ref = [on_floor(figure(100), 80, 150) for _ in range(20)]
    for t in range(6):                         # legs turned towards the camera: they look short
        ref[t] = on_floor(figure(100, squeeze=0.4, **POSES["crouched"]), 80, 150)
    ref[7] = ref[7].copy()
    ref[7][J["left_knee"], :2] += (60, 40)     # two misdetections
    ref[9] = ref[9].copy()
    ref[9][J["left_wrist"], :2] -= (50, 50)
    target = video([on_floor(figure(400, arms=(a, a)), 300, 480) for a in rng.uniform(0, 90, 10)])
    assert size_ratio(body_frame(video(ref)), body_frame(target)) == pytest.approx(4.0, rel=0.05)


def test_upside_down_body_lands_hands_on_the_target_floor_at_its_place():
    target = video([on_floor(figure(400), 300, 480)] * 3)
    ref = video([on_floor(figure(100, **POSES["upside_down"]), 80, 150)] * 3)
    tf, rf = body_frame(target), body_frame(ref)
    assert tf.floor_y == pytest.approx(480) and tf.centre_x == pytest.approx(300)
    out = retarget(ref, rf, tf)
    lowest = out[0, :23, 1].max()
    assert lowest == pytest.approx(480, abs=1e-3)          # the hands are now on the target's floor
    assert out[0, J["left_wrist"], 1] > out[0, J["left_ankle"], 1] + 300   # feet up, 4x the size
    assert body_frame(out).centre_x == pytest.approx(300, abs=1e-3)


def test_retarget_keeps_poses_and_missing_points():
    target = np.stack([standing(x=300, floor=480, height=400)] * 5)
    ref = np.stack([standing(x=80, floor=150, height=100)] * 5)
    ref[2, J["left_wrist"], 1] -= 30  # an arm raised: a pose, not a body change
    tf, rf = body_frame(target), body_frame(ref)
    assert size_ratio(rf, tf) == pytest.approx(4.0, rel=1e-4)
    out = retarget(ref, rf, tf)
    out_frame = body_frame(out)
    assert out_frame.floor_y == pytest.approx(480, abs=1e-3) and out_frame.centre_x == pytest.approx(300, abs=1e-2)
    # the raised wrist is raised by 30 px scaled by 4
    assert abs((out[2, J["left_wrist"], 1] - out[0, J["left_wrist"], 1]) + 120) < 1e-2
    # missing joints stay missing
    assert (out[:, J["face_0"], 2] == 0).all() and (out[:, J["face_0"], :2] == 0).all()


def test_a_half_body_reference_is_placed_by_its_pelvis_not_stood_on_its_hips():
    target = video([on_floor(figure(200), 128, 240)] * 3)
    ref = video([on_floor(figure(100), 80, 150)] * 3)
    legs = [J[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel")]
    ref[:, legs] = 0                                   # cut off below the hips
    tf, rf = body_frame(target), body_frame(ref)
    assert tf.grounded and not rf.grounded
    out = retarget(ref, rf, tf)
    pelvis = out[0, [J["left_hip"], J["right_hip"]], 1].mean()
    assert pelvis == pytest.approx(tf.pelvis_y, abs=1e-3)
    assert size_ratio(rf, tf) == pytest.approx(2.0, rel=1e-3)


def test_a_dancer_travelling_to_the_edge_stays_in_frame():
    size = 256
    target = video([on_floor(figure(200), 128, 240)] * 3)
    # the reference walks from its left edge to its right edge, arms overhead in the last frames
    ref = video([on_floor(figure(100, arms=(170, 170) if x > 150 else (10, 10)), x, 180) for x in range(20, 181, 20)])
    out = retarget(ref, body_frame(ref), body_frame(target), size)
    ok = out[..., 2] > 0
    margin = FRAME_MARGIN * size
    assert (out[..., 0][ok] >= margin - 1e-3).all() and (out[..., 0][ok] <= size - margin + 1e-3).all()
    assert (out[..., 1][ok] >= margin - 1e-3).all() and (out[..., 1][ok] <= size - margin + 1e-3).all()
    # in the middle of the stage nothing moves: the retargeted pose is the plain scaled one
    free = retarget(ref, body_frame(ref), body_frame(target))
    assert np.allclose(out[4], free[4])
    # the shape of each pose is kept: only whole poses move
    seen = free[0, :, 2] > 0
    assert np.allclose(out[0, seen, :2] - out[0, 0, :2], free[0, seen, :2] - free[0, 0, :2], atol=1e-3)
    assert free[0, seen, 0].min() < 0        # without the shift it would leave the frame


def test_keep_in_frame_centres_a_body_too_large_to_fit():
    kp = standing(x=50, floor=300, height=290)[None]
    out = keep_in_frame(kp, 100)
    ys = out[0, :23, 1][out[0, :23, 2] > 0]
    assert (ys.min() + ys.max()) / 2 == pytest.approx(50, abs=1e-3)


def moving_video(n: int = 90, rng=None, sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A figure swinging its arms and stepping sideways: the clean poses and noisy detections."""
    clean = video([on_floor(figure(150, arms=(40 + 30 * math.sin(t / 6), 40 - 30 * math.sin(t / 6))),
                            100 + 0.5 * t, 220) for t in range(n)])
    noisy = clean.copy()
    if rng is not None:
        noisy[..., :2] += rng.normal(0, sigma, noisy[..., :2].shape)
        noisy[clean[..., 2] == 0] = 0
    return clean, noisy


def test_smoothing_removes_detector_jitter_and_keeps_the_motion():
    rng = np.random.default_rng(0)
    clean, noisy = moving_video(rng=rng, sigma=2.0)
    valid = np.ones(len(clean), bool)
    present = noisy[..., 2] > 0
    smoothed, refilled = smooth_poses(noisy, valid, window=9, order=3, max_gap=5)
    before, after = jitter(noisy, present), jitter(smoothed, present)
    assert before == pytest.approx(3.1 * 2.0, rel=0.1)                 # noise of 2 px
    assert after < before / 4 and after > jitter(clean, present)
    body = slice(0, 23)
    error = lambda k: np.linalg.norm(k[:, body, :2] - clean[:, body, :2], axis=-1).mean()  # noqa: E731
    assert error(smoothed) < 0.6 * error(noisy)
    assert not refilled.any() and (smoothed[..., 2] == noisy[..., 2]).all()
    # off: the poses come back unchanged
    same, _ = smooth_poses(noisy, valid, window=1, order=0, max_gap=0)
    assert np.array_equal(same, noisy)


def test_short_gaps_are_interpolated_and_long_ones_stay_missing():
    clean, _ = moving_video(40)
    kps, valid = clean.copy(), np.ones(40, bool)
    wrist = J["left_wrist"]
    kps[10:13, wrist] = 0            # the wrist lost for 3 frames
    kps[20:30, wrist] = 0            # ... and for 10
    valid[33:35] = False             # two frames without any detection
    kps[33:35] = 0
    out, refilled = smooth_poses(kps, valid, window=1, order=0, max_gap=5)
    assert (out[10:13, wrist, 2] == 1).all() and (out[20:30, wrist, 2] == 0).all()
    assert np.abs(out[10:13, wrist, :2] - clean[10:13, wrist, :2]).max() < 1.5   # the true path, nearly
    assert list(np.flatnonzero(refilled)) == [33, 34]
    assert np.abs(out[33:35, :23, :2] - clean[33:35, :23, :2]).max() < 1.5


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


def test_the_causal_smoother_gives_the_newest_row_of_smooth_poses_over_its_window():
    rng = np.random.default_rng(2)
    _, noisy = moving_video(60, rng, sigma=2.0)
    dropped = (rng.random(noisy.shape[:2]) < 0.05) & (noisy[..., 2] > 0)
    noisy[dropped, 2] = 0.0                             # joints lost for a frame now and then
    smooth = CausalSmoother(window=9, order=3, max_gap=2, min_conf=0.3)
    worst, moved = 0.0, []
    for kps in noisy:
        out = smooth(kps)
        window = np.stack(smooth.recent)                 # the last 9 poses, short gaps held
        offline, _ = smooth_poses(window, np.ones(len(window), bool), window=9, order=1, max_gap=2)
        worst = max(worst, float(np.abs(out[:, :2] - offline[-1, :, :2]).max()))
        moved.append(np.abs(out[:23, :2] - kps[:23, :2]).mean())
    assert worst < 1e-3                                  # the same filter, to float rounding
    assert np.mean(moved[9:]) > 0.5                      # and it does smooth: noise of 2 px


def test_the_causal_placement_measures_the_source_again_every_few_frames():
    target = video([on_floor(figure(200, arms=(a, a)), 128, 240) for a in (5, 20, 40)])
    tf = body_frame(target)
    # the source grows from 100 to 130 px tall over its first frames, then stays
    source = video([on_floor(figure(100 + min(t, 30), arms=(20, 20)), 100, 200) for t in range(40)])
    place = CausalPlacement(tf, 256, 256, 0.3)
    out, scales = [], []
    for kps in source:
        out.append(place(kps))
        scales.append(place.placement.scale)
    for t in (0, REMEASURE_EVERY - 1, REMEASURE_EVERY, 2 * REMEASURE_EVERY + 1):
        measured_at = t // REMEASURE_EVERY * REMEASURE_EVERY          # frames seen at the last measure
        ref = body_frame(source[:measured_at + 1])
        assert scales[t] == pytest.approx(size_ratio(ref, tf), rel=1e-6)
        assert np.allclose(out[t], retarget(source[t:t + 1], ref, tf, 256)[0], atol=1e-4)
    assert scales[0] == pytest.approx(2.0, rel=0.02) and scales[-1] < scales[0] * 0.9
    off = CausalPlacement(None, 256, 256, 0.3)           # retargeting off: the poses as they came
    assert np.array_equal(off(source[5]), source[5]) and off.placement.scale is None


def test_nearest_pose_picks_the_matching_frame_regardless_of_scale_and_place():
    pool = []
    for k in range(6):  # left wrist raised more and more
        kp = standing()
        kp[J["left_wrist"], 1] -= 12 * k
        kp[J["left_elbow"], 1] -= 6 * k
        pool.append(kp)
    pool = np.stack(pool)
    query = pool[[4, 1]].copy()
    query[..., :2] = query[..., :2] * 0.5 + 37.0  # smaller and elsewhere
    assert list(nearest_poses(query, pool, 0.3)[0]) == [4, 1]
    d = pose_distances(query, pool, 0.3)
    assert d[0, 4] < 1e-5 and d[0, 0] > 0.05
    # live's stream: the pool normalised once, one query at a time, the same answers
    normalised = PosePool(pool, 0.3)
    assert [int(normalised.nearest(q[None])[0][0]) for q in query] == [4, 1]
    np.testing.assert_array_equal(np.concatenate([normalised.distances(q[None]) for q in query]), d)


def test_pose_distance_is_inf_without_shared_joints():
    empty = np.zeros((1, 133, 3), np.float32)
    assert np.isinf(pose_distances(empty, standing()[None], 0.3)).all()
    assert skeleton.body_scale(empty[0]) is None
    assert body_frame(empty) is None
