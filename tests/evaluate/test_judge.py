"""The transfer judge (stage judge): its proxies tell a right output from obviously broken ones.

On the demo clip, driven by its own held-out poses, the true frames are judged against a frozen
frame and against the true frames shifted in time; on a real clip (../shared/data, skipped where
absent) the detector's own poses judge the real frames and their broken copies. Units: the pose
tally, the warping error and the ranks on hand-made inputs."""

import numpy as np
import pytest

from dancegen.body import skeleton
from dancegen.core.config import InputSpec, PoseParams
from dancegen.core.layout import VideoPaths
from dancegen.evaluate.judge import (JudgeSetup, PoseTally, Target, Temporal, TransferRun, baseline_frames, crop_box,
                                     judge_frames, judge_outputs, overall_ranks, result_frames, silhouette)
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.detect.mediapipe import HolisticDetector
from dancegen.preprocess.video import VideoWriter, probe, read_frames
from dancegen.transfer.transfer import Driving
from conftest import SHARED_DATA, make_video

SPEC = InputSpec()


def _pose(rng) -> np.ndarray:
    kp = np.zeros((133, 3), np.float32)
    kp[skeleton.BODY, :2] = rng.uniform(20, 100, (17, 2))
    kp[skeleton.BODY, 2] = 1.0
    return kp


def test_the_pose_tally_scores_identical_poses_perfect_and_leaves_out_unsure_joints():
    rng = np.random.default_rng(0)
    tally = PoseTally(0.3)
    driving = _pose(rng)
    driving[0, 2] = 0.1                       # an unsure driving joint: left out, whatever is found
    tally.add(driving, driving.copy())
    summary = tally.summary()
    assert summary["pck@0.05"] == summary["pck@0.1"] == 1.0 and summary["error"] == 0.0
    assert summary["limb_angle_deg"] == pytest.approx(0.0, abs=1e-3) and summary["complete_body"] == 1.0
    assert summary["joints_left_out"] == 1 and summary["joints_not_found"] == 0


def test_the_pose_tally_counts_a_missing_joint_as_a_miss_and_a_moved_limb_in_degrees():
    rng = np.random.default_rng(1)
    driving = _pose(rng)
    found = driving.copy()
    found[skeleton.J["left_wrist"], 2] = 0.0                     # not found
    elbow, shoulder = skeleton.J["right_elbow"], skeleton.J["right_shoulder"]
    upper = driving[elbow, :2] - driving[shoulder, :2]
    found[elbow, :2] = driving[shoulder, :2] + upper[::-1] * [1, -1]   # the upper arm turned 90°
    tally = PoseTally(0.3)
    tally.add(driving, found)
    summary = tally.summary()
    assert summary["joints_not_found"] == 1 and summary["complete_body"] == 0.0
    assert summary["pck@0.1"] < 1.0
    assert max(tally.angles) == pytest.approx(90.0, abs=1e-3)


def test_the_warping_error_is_zero_for_a_still_video_and_small_for_a_moved_one():
    rng = np.random.default_rng(2)
    image = (np.kron(rng.integers(0, 255, (16, 16, 3)), np.ones((8, 8, 1)))).astype(np.uint8)
    region = np.ones(image.shape[:2], bool)
    still, moved, noise = Temporal(), Temporal(), Temporal()
    for t in range(3):
        still.add(image, region)
        moved.add(np.roll(image, 2 * t, axis=1), region)
        noise.add(rng.integers(0, 255, image.shape, dtype=np.uint8), region)
    assert still.summary() == {"flicker": 0.0, "warp_error": 0.0}
    assert moved.summary()["flicker"] > 10 and moved.summary()["warp_error"] < 0.1 * noise.summary()["warp_error"]


def test_ranks_share_ties_put_a_missing_value_last_and_average_into_q5():
    def out(pck, face, bg, warp, ident):
        return {"fidelity": {"pck@0.1": pck}, "face": {"found": face}, "separation": {"background_change": bg},
                "temporal": {"warp_error": warp}, "identity": {"feature_distance": ident}}
    ranks = overall_ranks({"a": out(0.9, 1.0, 2.0, 0.1, 0.1), "b": out(0.9, None, 3.0, 0.2, 0.2),
                           "c": out(0.5, 0.5, 1.0, 0.3, 0.3)})
    assert ranks["a"]["Q1"] == ranks["b"]["Q1"] == 1.5 and ranks["c"]["Q1"] == 3
    assert ranks["b"]["Q2"] == 3 and ranks["c"]["Q3"] == 1
    assert ranks["a"]["Q5"] == pytest.approx(np.mean([1.5, 1, 2, 1, 1]))


def test_boxes_and_silhouettes_stay_inside_the_frame():
    x0, y0, x1, y1 = crop_box(np.array([[-10.0, 5.0], [30.0, 70.0]]), 64)
    assert (x0, y0, y1) == (0, 0, 64) and 0 < x1 < 64
    assert crop_box(np.array([[10.0, 10.0]]), 64) is None
    kp = _pose(np.random.default_rng(3))
    mask = silhouette(kp, 128, 64, SPEC)
    assert mask.shape == (64, 64) and 0 < mask.mean() < 1


@pytest.fixture(scope="module")
def demo_clip(tmp_path_factory):
    paths = make_video(tmp_path_factory.mktemp("judge"), size=128, seconds=2.0, n_train=16, n_test=4)
    return VideoPaths.of("clip", paths.frames.parents[1])


def test_on_the_demo_clip_the_true_frames_beat_a_frozen_and_a_late_copy(demo_clip, tmp_path):
    with PersonalVideo(demo_clip) as video:
        n = len(video.pose.keypoints)        # the whole clip: its arms rise by ~20 px of 128
        driving = Driving(video.pose.keypoints[:], np.full(n, video.train_frames[0]))
        truth = [video.frames[t] for t in range(n)]
        with VideoWriter(tmp_path / "result.mp4", 30) as writer:      # as the transfer stage writes it
            for frame in truth:
                writer.write(frame)
        target = Target(video, driving, JudgeSetup(128, SPEC, PoseParams(), 2))
        judged = {"true": judge_frames(result_frames(tmp_path / "result.mp4", 128), target),
                  "frozen": judge_frames([truth[0]] * len(truth), target),
                  "late": judge_frames(truth[20:] + [truth[-1]] * 20, target),
                  "tangram": judge_frames(baseline_frames("tangram", video, driving, 128, SPEC), target)}
    pck = {k: v["fidelity"]["pck@0.05"] for k, v in judged.items()}
    assert pck["true"] > 0.8 and pck["true"] > pck["frozen"] + 0.05 and pck["true"] > pck["late"] + 0.05, pck
    angle = {k: v["fidelity"]["limb_angle_deg"] for k, v in judged.items()}
    assert angle["true"] < angle["frozen"] and angle["true"] < angle["late"], angle
    assert judged["frozen"]["temporal"] == {"flicker": 0.0, "warp_error": 0.0}
    assert judged["true"]["frames"] == len(truth) and judged["true"]["identity"]["feature_distance"] is not None
    assert judged["tangram"]["separation"]["background_change"] is not None


def test_judging_in_processes_gives_the_scores_of_one_process(demo_clip, tmp_path):
    """The outputs of a transfer judged side by side in two processes (pose.workers) score exactly
    as judged one after the other in this one."""
    with PersonalVideo(demo_clip) as video:
        n = len(video.pose.keypoints)
        driving = Driving(video.pose.keypoints[:], np.full(n, video.train_frames[0]))
        with VideoWriter(tmp_path / "result.mp4", 30) as writer:
            for t in range(n):
                writer.write(video.frames[t])
        run = TransferRun({"copy": tmp_path}, demo_clip.frames, demo_clip.pose)
        one, two = (judge_outputs(["copy", "nearest_frame"], run, video, driving,
                                  JudgeSetup(128, SPEC, PoseParams(workers=workers), 4)) for workers in (1, 2))
    assert one[0]["fidelity"]["pck@0.1"] > 0.8 and one[1]["frames"] == n
    flat_one, flat_two = _flat(one), _flat(two)
    assert flat_one.keys() == flat_two.keys()
    differ = {k: (v, flat_two[k]) for k, v in flat_one.items() if v != flat_two[k]}
    # the feature network runs on one thread per process there, on the stage's threads here: its
    # distances may differ in float rounding, nothing else may differ at all
    assert all(k.endswith("feature_distance") and v == pytest.approx(w, rel=1e-5) for k, (v, w) in differ.items()), differ


def _flat(value, key: str = "") -> dict:
    if isinstance(value, dict):
        return {k: v for name, item in value.items() for k, v in _flat(item, f"{key}/{name}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{key}/{i}").items()}
    return {key: value}


@pytest.mark.skipif(not (SHARED_DATA / "unianimate_dance_woman.mp4").is_file(), reason="../shared/data is absent")
def test_on_a_real_clip_its_own_frames_match_its_poses_and_a_frozen_copy_does_not():
    info = probe(SHARED_DATA / "unianimate_dance_woman.mp4")
    side = min(info.width, info.height)
    crop = ((info.width - side) // 2, (info.height - side) // 2, side)
    frames = [f for _, f in zip(range(45), read_frames(info, 15, 256, crop))]
    with HolisticDetector(PoseParams()) as detector:
        poses = [detector.detect(f)[0] for f in frames]
    tallies = {"true": PoseTally(0.3), "frozen": PoseTally(0.3)}
    with HolisticDetector(PoseParams()) as true_det, HolisticDetector(PoseParams()) as frozen_det:
        for frame, pose in zip(frames, poses):
            tallies["true"].add(pose, true_det.detect(frame)[0])
            tallies["frozen"].add(pose, frozen_det.detect(frames[0])[0])
    true, frozen = tallies["true"].summary(), tallies["frozen"].summary()
    assert true["pck@0.1"] > 0.9 and true["pck@0.1"] > frozen["pck@0.1"] + 0.1, (true, frozen)
    assert true["limb_angle_deg"] < frozen["limb_angle_deg"]
