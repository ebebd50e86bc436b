import numpy as np

from dancegen import skeleton
from dancegen.retarget import body_frame, nearest_poses, pose_distances, retarget
from dancegen.skeleton import J


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


def test_retarget_matches_target_height_and_floor():
    target = np.stack([standing(x=300, floor=480, height=400)] * 5)
    ref = np.stack([standing(x=80, floor=150, height=100)] * 5)
    ref[2, J["left_wrist"], 1] -= 30  # an arm raised: a pose, not a body change
    tf, rf = body_frame(target), body_frame(ref)
    assert abs(tf.height - 400) < 1e-3 and abs(tf.floor_y - 480) < 1e-3
    out = retarget(ref, rf, tf)
    out_frame = body_frame(out)
    assert abs(out_frame.height - 400) < 1e-3
    assert abs(out_frame.floor_y - 480) < 1e-3
    assert abs(out_frame.centre_x - 300) < 1e-3
    # the raised wrist is raised by 30 px scaled by 4
    assert abs((out[2, J["left_wrist"], 1] - out[0, J["left_wrist"], 1]) + 120) < 1e-2
    # missing joints stay missing
    assert (out[:, J["face_0"], 2] == 0).all() and (out[:, J["face_0"], :2] == 0).all()


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
    assert list(nearest_poses(query, pool)) == [4, 1]
    d = pose_distances(query, pool)
    assert d[0, 4] < 1e-5 and d[0, 0] > 0.05


def test_pose_distance_is_inf_without_shared_joints():
    empty = np.zeros((1, 133, 3), np.float32)
    assert np.isinf(pose_distances(empty, standing()[None])).all()
    assert skeleton.body_scale(empty[0]) is None
