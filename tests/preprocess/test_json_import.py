"""Importing OpenPose / AlphaPose JSON: layouts, the crop transform, resampling, bad files."""

import json
from pathlib import Path

import numpy as np
import pytest

from dancegen.body import skeleton
from dancegen.core.config import PoseParams, PosemapParams
from dancegen.preprocess.detect import detect_video, load_json_keypoints
from dancegen.preprocess.detect.alphapose_json import frame_index, read_alphapose_file
from dancegen.preprocess.detect.openpose_json import read_openpose_folder
from dancegen.core.errors import DanceGenError
from dancegen.body.skeleton import J
from dancegen.core.store import FrameStore, FrameWriter, PoseStore
from dancegen.preprocess.video import VideoWriter

# The layouts as their projects document them, by name, independent of the importers' tables.
BODY_25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
           "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
           "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
           "left_heel", "right_big_toe", "right_small_toe", "right_heel")
COCO_18 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
           "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
           "right_eye", "left_eye", "right_ear", "left_ear")
HALPE_26 = skeleton.BODY_NAMES + ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                                  "right_small_toe", "left_heel", "right_heel")
HALPE_136 = HALPE_26 + skeleton.JOINT_NAMES[skeleton.FACE.start:]

SOURCE_W, SOURCE_H = 640, 512
CROP = (64, -32, 512)   # square in source pixels (reaches above the frame, as padded crops do)


def named_point(kp: np.ndarray, name: str) -> np.ndarray:
    """``(3,)`` for a layout's point name from canonical ``kp: (133, 3)``; virtual points from joints."""
    if name in J:
        return kp[J[name]]
    pairs = {"neck": ("left_shoulder", "right_shoulder"), "mid_hip": ("left_hip", "right_hip"),
             "hip": ("left_hip", "right_hip"), "head": ("left_ear", "right_ear")}
    a, b = (kp[J[n]] for n in pairs[name])
    return np.array([*(a[:2] + b[:2]) / 2, min(a[2], b[2])])


def layout(kp: np.ndarray, names) -> list[float]:
    return [round(float(v), 3) for name in names for v in named_point(kp, name)]


def truth_keypoints(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``(n, 133, 3)``: a jittered whole-body figure per frame in a ``size``² frame, all confident."""
    rng = np.random.default_rng(seed)
    base = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    base[:, 0] = rng.uniform(0.3, 0.7, skeleton.NUM_JOINTS) * size
    base[:, 1] = np.linspace(0.1, 0.95, skeleton.NUM_JOINTS) * size
    base[:, 2] = rng.uniform(0.5, 1.0, skeleton.NUM_JOINTS).round(3)
    out = np.repeat(base[None], n, axis=0)
    out[:, :, :2] += np.arange(n)[:, None, None] * 0.7   # every frame distinct, to check the timing
    return out


def to_source(kp: np.ndarray, size: int) -> np.ndarray:
    """Inverse of the crop transform: extracted-frame pixels → source pixels."""
    x0, y0, side = CROP
    out = kp.copy()
    out[..., 0] = kp[..., 0] * side / size + x0
    out[..., 1] = kp[..., 1] * side / size + y0
    return out


def write_source_video(path: Path, n: int, fps: float) -> Path:
    with VideoWriter(path, fps=fps) as w:
        for t in range(n):
            w.write(np.full((SOURCE_H // 8, SOURCE_W // 8, 3), 10 * t % 255, np.uint8))
    return path


def write_frames(path: Path, frames: np.ndarray, fps: float, source: Path) -> Path:
    with FrameWriter(path, frames.shape[1], fps, source=str(source), source_size=[SOURCE_W, SOURCE_H],
                     crop=list(CROP)) as w:
        for f in frames:
            w.append(f)
    return path


def write_openpose(folder: Path, kp_source: np.ndarray, body=BODY_25, extra_person: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, kp in enumerate(kp_source):
        person = {"person_id": [-1], "pose_keypoints_2d": layout(kp, body),
                  "face_keypoints_2d": layout(kp, skeleton.FACE_NAMES) + [0.0] * 6,   # + 2 pupils
                  "hand_left_keypoints_2d": layout(kp, skeleton.JOINT_NAMES[skeleton.LEFT_HAND]),
                  "hand_right_keypoints_2d": layout(kp, skeleton.JOINT_NAMES[skeleton.RIGHT_HAND]),
                  "pose_keypoints_3d": [], "face_keypoints_3d": []}
        people = [person]
        if extra_person:   # a small bystander listed first: the importer must pick the big dancer
            small = kp.copy()
            small[:, :2] = small[:, :2] * 0.1 + 5
            people.insert(0, {"pose_keypoints_2d": layout(small, body)})
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return folder


def write_alphapose(path: Path, kp_source: np.ndarray, names, id_style=str) -> Path:
    detections = []
    for t, kp in enumerate(kp_source):
        if t == 3:
            continue   # nobody found in frame 3: AlphaPose lists nothing for it
        decoy = kp.copy()
        decoy[:, :2] += 40
        detections.append({"image_id": id_style(t), "category_id": 1, "keypoints": layout(decoy, names),
                           "score": 1.2})
        detections.append({"image_id": id_style(t), "category_id": 1, "keypoints": layout(kp, names),
                           "score": 2.5})
    path.write_text(json.dumps(detections))
    return path


def expected(truth: np.ndarray, joints) -> np.ndarray:
    out = np.zeros_like(truth)
    out[:, joints] = truth[:, joints]
    return out


BODY_FEET = list(range(skeleton.FEET.stop))


@pytest.fixture
def resampled_setup(tmp_path):
    """A 16 fps source of 24 frames (1.5 s) extracted at 30 fps: 45 frames of 64²."""
    source = write_source_video(tmp_path / "src.mp4", 24, 16)
    frames = write_frames(tmp_path / "frames.h5", np.zeros((45, 64, 64, 3), np.uint8), 30, source)
    truth = truth_keypoints(24, 64)
    return tmp_path, frames, truth


def nearest_source_frame(t: int) -> int:
    return min(23, int(np.floor(t / 30 * 16 + 0.5)))


@pytest.mark.parametrize("body, joints", [(BODY_25, list(range(skeleton.NUM_JOINTS))),
                                          (COCO_18, list(range(17)) + list(range(23, 133)))])
def test_openpose_round_trip_through_crop_and_resampling(resampled_setup, body, joints):
    tmp, frames_path, truth = resampled_setup
    folder = write_openpose(tmp / "op", to_source(truth, 64), body, extra_person=True)
    params = PoseParams(backend="openpose_json", json={"clip": str(folder)})
    with FrameStore(frames_path) as frames:
        got = load_json_keypoints(params, "clip", frames)
    assert got.shape == (45, 133, 3) and got.dtype == np.float32
    want = expected(truth, joints)[[nearest_source_frame(t) for t in range(45)]]
    assert np.abs(got - want).max() < 0.02   # JSON keeps 3 decimals of source pixels (×64/512 here)
    if body is COCO_18:
        assert not got[:, skeleton.FEET].any()


@pytest.mark.parametrize("names, joints, id_style", [
    (skeleton.JOINT_NAMES, list(range(133)), lambda t: f"{t}.jpg"),
    (HALPE_136, list(range(133)), lambda t: f"{t:06d}.png"),
    (HALPE_26, BODY_FEET, int),
])
def test_alphapose_round_trip_picks_the_best_person(resampled_setup, names, joints, id_style):
    tmp, frames_path, truth = resampled_setup
    path = write_alphapose(tmp / "alphapose-results.json", to_source(truth, 64), names, id_style)
    params = PoseParams(backend="alphapose_json", json={"clip": str(path)})
    with FrameStore(frames_path) as frames:
        got = load_json_keypoints(params, "clip", frames)
    src = np.array([nearest_source_frame(t) for t in range(45)])
    want = expected(truth, joints)[src]
    want[src == 3] = 0.0     # no detection listed for source frame 3
    assert np.abs(got - want).max() < 0.02


def test_image_ids_name_frames():
    where = Path("results.json")
    assert [frame_index(i, where) for i in (12, "12.jpg", "000012.png", "frames/000012.png")] == [12] * 4
    for bad in ("cover.jpg", -1, True, None, 1.5):
        with pytest.raises(DanceGenError, match="names no frame number"):
            frame_index(bad, where)


def test_detect_video_with_openpose_json_on_demo_frames(tmp_path):
    """The whole stage path: truth keypoints → OpenPose JSON in source pixels → pose file."""
    demo = pytest.importorskip("dancegen.demo")
    rendered = list(demo.render_video("personal", 0.5, 256, 30, 0))
    frames = np.stack([r.frame for r in rendered])
    truth = np.stack([r.keypoints for r in rendered])
    source = write_source_video(tmp_path / "src.mp4", len(frames), 30)   # same rate: frame t = source t
    frames_path = write_frames(tmp_path / "frames.h5", frames, 30, source)
    folder = write_openpose(tmp_path / "op", to_source(truth, 256))
    params = PoseParams(backend="openpose_json", json={"clip": str(folder)})
    summary = detect_video(frames_path, tmp_path / "pose.h5", params, "clip", PosemapParams().min_conf)
    assert summary.n_invalid == 0
    with PoseStore(tmp_path / "pose.h5") as pose:
        assert np.abs(pose.keypoints - truth).max() < 1.0
        assert pose.attrs["detector"] == "openpose_json+mediapipe-selfie"
        masks, parsing = pose.mask(slice(None)), pose.parsing(slice(None))
    person = masks >= 128
    true_mask = np.stack([r.mask for r in rendered]) >= 128
    iou = (person & true_mask).sum() / (person | true_mask).sum()
    assert iou > 0.75, iou   # selfie segmentation is blobby: measured 0.82 here (Holistic: 0.97)
    assert np.array_equal(parsing > 0, person)


def test_openpose_folder_problems(resampled_setup):
    tmp, frames_path, truth = resampled_setup
    folder = write_openpose(tmp / "op", to_source(truth, 64))

    def load(path):
        with FrameStore(frames_path) as frames:
            params = PoseParams(backend="openpose_json", json={"clip": str(path)})
            return load_json_keypoints(params, "clip", frames)

    (folder / "clip_000000000023_keypoints.json").unlink()
    with pytest.raises(DanceGenError, match="has 23 frames but the source video .* has 24") as err:
        load(folder)
    assert str(folder) in str(err.value)
    (folder / "clip_000000000010_keypoints.json").unlink()
    with pytest.raises(DanceGenError, match="do not run on from clip_000000000009"):
        load(folder)
    bad = folder / "clip_000000000010_keypoints.json"
    bad.write_text('{"people": [')
    with pytest.raises(DanceGenError, match="not readable OpenPose JSON") as err:
        load(folder)
    assert str(bad) in str(err.value)
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 60}]}))
    with pytest.raises(DanceGenError, match="'pose_keypoints_2d' has 60 values; expected 3 × 25 or 18"):
        load(folder)
    bad.write_text(json.dumps({"version": 1.3}))
    with pytest.raises(DanceGenError, match="no 'people' list"):
        load(folder)
    with pytest.raises(DanceGenError, match="not found"):
        load(tmp / "nowhere")
    with FrameStore(frames_path) as frames, \
            pytest.raises(DanceGenError, match="params.yaml.*'pose.json' has no entry"):
        load_json_keypoints(PoseParams(backend="openpose_json"), "clip", frames)


def test_alphapose_file_problems(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[{")
    with pytest.raises(DanceGenError, match="not readable AlphaPose JSON"):
        read_alphapose_file(path, 10)
    path.write_text(json.dumps({"image_id": "0.jpg"}))
    with pytest.raises(DanceGenError, match="must be a list of detections"):
        read_alphapose_file(path, 10)
    path.write_text(json.dumps([{"image_id": "0.jpg", "keypoints": [1.0] * 51, "score": 1.0}]))
    with pytest.raises(DanceGenError, match="has 51 keypoint values"):
        read_alphapose_file(path, 10)
    path.write_text(json.dumps([{"image_id": "12.jpg", "keypoints": [1.0] * 78, "score": 1.0}]))
    with pytest.raises(DanceGenError, match="names frame 12 but the source video has 10 frames") as err:
        read_alphapose_file(path, 10)
    assert str(path) in str(err.value)
    with pytest.raises(DanceGenError, match="not found"):
        read_alphapose_file(tmp_path / "missing.json", 10)


def test_openpose_missing_points_stay_zero(tmp_path):
    kp = truth_keypoints(1, 64)
    kp[0, J["left_wrist"]] = 0.0
    kp[0, skeleton.RIGHT_HAND] = 0.0
    folder = write_openpose(tmp_path / "op", kp)
    got = read_openpose_folder(folder)
    assert not got[0, J["left_wrist"]].any() and not got[0, skeleton.RIGHT_HAND].any()
    assert np.abs(got[0, J["right_wrist"]] - kp[0, J["right_wrist"]]).max() < 1e-3
