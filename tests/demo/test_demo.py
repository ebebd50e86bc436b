"""The built-in demo renderer: determinism, truth consistency, role differences, real detection."""

from __future__ import annotations

import subprocess

import cv2
import h5py
import numpy as np
import pytest

from dancegen import demo

from dancegen.body import skeleton
from dancegen.core.config import DemoParams
from dancegen.core.errors import DanceGenError

FPS = 30


def _render(role: str, seconds: float, size: int, seed: int = 0) -> list[demo.DemoFrame]:
    return list(demo.render_video(role, seconds, size, FPS, seed))


@pytest.fixture(scope="module")
def full_keypoints() -> dict[str, np.ndarray]:
    """Truth keypoints of the whole default demo videos (no drawing)."""
    p = DemoParams()
    return {role: demo.true_keypoints(role, seconds, p.size, p.fps, p.seed)
            for role, seconds in (("personal", p.personal_seconds), ("reference", p.reference_seconds))}


@pytest.fixture(scope="module")
def clips() -> dict[str, list[demo.DemoFrame]]:
    """2 s of each role at 128 px, sampled every 5th frame."""
    return {role: _render(role, 2.0, 128)[::5] for role in demo.ROLES}


def test_same_seed_renders_identical_frames_and_other_seed_differs():
    a, b = _render("personal", 0.3, 64), _render("personal", 0.3, 64)
    assert len(a) == 9
    for fa, fb in zip(a, b):
        for xa, xb in zip(fa, fb):
            np.testing.assert_array_equal(xa, xb)
    c = _render("personal", 0.3, 64, seed=1)
    assert not np.array_equal(a[-1].frame, c[-1].frame)


def test_frame_layouts(clips):
    for frames in clips.values():
        f = frames[0]
        assert f.frame.shape == (128, 128, 3) and f.frame.dtype == np.uint8
        assert f.keypoints.shape == (skeleton.NUM_JOINTS, 3) and f.keypoints.dtype == np.float32
        assert f.mask.shape == (128, 128) and f.mask.dtype == np.uint8
        assert f.parts.shape == (128, 128) and f.parts.dtype == np.uint8
        np.testing.assert_array_equal(f.keypoints[:, 2], 1.0)


def test_mask_and_parts_agree_and_every_part_is_drawn(clips):
    for frames in clips.values():
        for f in frames:
            assert set(np.unique(f.mask)) <= {0, 255}
            np.testing.assert_array_equal(f.mask == 255, f.parts > 0)
            assert f.parts.max() <= skeleton.NUM_PARTS
            labels = set(np.unique(f.parts)) - {0}
            assert labels == {p.label for p in skeleton.PARTS}
            assert 0.04 < (f.mask > 0).mean() < 0.4


def test_keypoints_lie_on_the_figure(clips):
    kernel = np.ones((7, 7), np.uint8)   # 3 px: points on a silhouette's edge, ears behind the head
    for frames in clips.values():
        for f in frames:
            near = cv2.dilate(f.mask, kernel) > 0
            xy = np.floor(f.keypoints[:, :2]).astype(int)
            assert near[xy[:, 1], xy[:, 0]].all()
            assert f.parts[xy[skeleton.J["nose"], 1], xy[skeleton.J["nose"], 0]] == 1
            kp = f.keypoints
            thigh = (0.7 * kp[skeleton.J["left_knee"], :2] + 0.3 * kp[skeleton.J["left_hip"], :2]).astype(int)
            assert f.parts[thigh[1], thigh[0]] == 7


def test_figure_stays_in_frame_for_the_whole_default_videos(full_keypoints):
    p = DemoParams()
    for role, seconds in (("personal", p.personal_seconds), ("reference", p.reference_seconds)):
        kp = full_keypoints[role]
        assert kp.shape == (round(seconds * p.fps), skeleton.NUM_JOINTS, 3)
        margin = 0.03 * p.size
        assert kp[..., :2].min() > margin and kp[..., :2].max() < p.size - margin
        # the crown is ~1.4 head half-heights above the eyes
        eyes_y = kp[:, [skeleton.J["left_eye"], skeleton.J["right_eye"]], 1]
        assert eyes_y.min() > 0.08 * p.size


def test_rendered_figure_does_not_touch_the_border(clips):
    for frames in clips.values():
        for f in frames:
            border = np.concatenate([f.mask[0], f.mask[-1], f.mask[:, 0], f.mask[:, -1]])
            assert not border.any()


def test_true_keypoints_match_the_renderer(clips):
    for role, frames in clips.items():
        kp = demo.true_keypoints(role, 2.0, 128, FPS, 0)[::5]
        np.testing.assert_array_equal(kp, np.stack([f.keypoints for f in frames]))


def test_later_poses_revisit_earlier_ones(full_keypoints):
    """The last 15% of the personal video (the test split) has poses close to ones before it."""
    kp = full_keypoints["personal"]
    poses = np.stack([skeleton.normalize_body(k)[0].ravel() for k in kp])
    split = int(0.85 * len(poses))
    nearest = np.array([np.linalg.norm(poses[:split] - q, axis=1).min() for q in poses[split:]])
    moved = np.linalg.norm(poses[split:] - poses[split:].mean(0), axis=1).mean()
    assert np.median(nearest) < 0.2 * moved


def test_roles_differ_in_height_proportions_place_and_scene(full_keypoints):
    size, kps = DemoParams().size, full_keypoints
    def height(kp):   # nose to the lower ankle, per frame
        return kp[:, skeleton.J["left_ankle"]:skeleton.J["right_ankle"] + 1, 1].max(1) - kp[:, 0, 1]
    h_personal, h_reference = np.median(height(kps["personal"])), np.median(height(kps["reference"]))
    assert h_personal > 1.15 * h_reference
    def leg_ratio(kp):   # hip-to-ankle length over torso length
        leg = np.linalg.norm(kp[:, skeleton.J["left_hip"], :2] - kp[:, skeleton.J["left_ankle"], :2], axis=1)
        torso = np.linalg.norm(kp[:, skeleton.J["left_hip"], :2] - kp[:, skeleton.J["left_shoulder"], :2], axis=1)
        return np.median(leg / torso)
    assert leg_ratio(kps["personal"]) > 1.05 * leg_ratio(kps["reference"])
    centre = {r: np.median(k[:, :17, 0]) for r, k in kps.items()}
    assert abs(centre["personal"] - centre["reference"]) > 0.05 * size
    bg = {r: demo.true_background(r, 64, 0).astype(int) for r in demo.ROLES}
    assert np.abs(bg["personal"] - bg["reference"]).mean() > 20


def test_background_truth_is_the_scene_without_the_figure():
    frames = _render("personal", 4.0, 64)
    bg = demo.true_background("personal", 64, 0)
    assert bg.shape == (64, 64, 3) and bg.dtype == np.uint8
    wall = np.zeros((64, 64), bool)
    wall[: int(0.55 * 64)] = True   # above the floor, where no shadow falls
    brightness = []
    for f in frames[::10]:
        away = wall & (cv2.dilate(f.mask, np.ones((5, 5), np.uint8)) == 0)
        diff = np.abs(f.frame.astype(int) - bg.astype(int))[away]
        assert diff.mean() < 12 and diff.max() < 30    # only the global lighting drift
        inside = f.mask > 0
        assert np.abs(f.frame.astype(int) - bg.astype(int))[inside].mean() > 20
        brightness.append(f.frame[away].mean() / bg[away].mean())
    assert max(brightness) - min(brightness) > 0.03    # the lighting changes over time


def test_unknown_role_and_empty_video_are_refused():
    with pytest.raises(DanceGenError, match="unknown role"):
        next(demo.render_video("nobody", 1.0, 64, FPS, 0))
    with pytest.raises(DanceGenError, match="at least one frame"):
        demo.true_keypoints("personal", 0.0, 64, FPS, 0)


def test_write_demo_writes_videos_truth_and_scene(tmp_path):
    params = DemoParams(seed=3, size=64, fps=FPS, personal_seconds=0.5, reference_seconds=0.3)
    paths = demo.write_demo(tmp_path, params)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "personal.mp4", "personal_truth.h5", "reference.mp4", "reference_truth.h5", "scene.png"]
    scene = cv2.cvtColor(cv2.imread(str(paths["scene"])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(scene, demo.true_background("reference", 64, 3))
    for role, n in (("personal", 15), ("reference", 9)):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
             "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", str(paths[role])],
            capture_output=True, text=True, check=True).stdout.strip()
        assert probe == f"h264,64,64,{n}"
        with h5py.File(paths[f"{role}_truth"]) as f:
            assert f["keypoints"].shape == (n, skeleton.NUM_JOINTS, 3) and f["keypoints"].dtype == np.float32
            assert f["mask"].shape == f["parts"].shape == (n, 64, 64)
            assert f["mask"].chunks == (1, 64, 64) and f["mask"].compression == "gzip"
            assert f["background"].shape == (64, 64, 3)
            assert (f.attrs["role"], f.attrs["size"], f.attrs["fps"], f.attrs["seed"]) == (role, 64, FPS, 3)
            frames = list(demo.render_video(role, n / FPS, 64, FPS, 3))
            np.testing.assert_array_equal(f["keypoints"][:], np.stack([fr.keypoints for fr in frames]))
            np.testing.assert_array_equal(f["parts"][-1], frames[-1].parts)
            np.testing.assert_array_equal(f["background"][:], demo.true_background(role, 64, 3))


# MediaPipe pose landmarks in COCO-17 order
_MP_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


@pytest.mark.parametrize("role", demo.ROLES)
def test_mediapipe_detects_the_figure(role):
    """Real detection at 256 px: measured 100% detected, 1.7-2.2 px mean body-joint error."""
    mp = pytest.importorskip("mediapipe")
    frames = _render(role, 0.8, 256)
    errors = []
    with mp.solutions.holistic.Holistic(model_complexity=1, enable_segmentation=True) as holistic:
        for f in frames:
            result = holistic.process(f.frame)
            if result.pose_landmarks is None:
                continue
            xy = np.array([[p.x, p.y] for p in result.pose_landmarks.landmark])[_MP_TO_COCO] * 256
            errors.append(np.linalg.norm(xy - f.keypoints[:17, :2], axis=1).mean())
    assert len(errors) >= 22, f"detected in {len(errors)} of {len(frames)} frames"
    assert np.mean(errors) < 6.0
