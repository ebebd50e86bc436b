import itertools

import cv2
import numpy as np
import pytest

from dancegen.body import skeleton
from dancegen.preprocess.parsing import parse_parts
from dancegen.body.skeleton import J
from conftest import SHARED_DATA

DATA = SHARED_DATA
S = 128
THRESHOLD, MIN_CONF = 0.5, 0.3    # params.yaml's pose.mask_threshold and posemap.min_conf


def figure_keypoints() -> np.ndarray:
    """``(133, 3)``: a frontal figure in a 128² frame, arms out and down, legs apart; body, feet."""
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    pts = {
        "nose": (64, 20), "left_eye": (67, 17), "right_eye": (61, 17),
        "left_ear": (71, 19), "right_ear": (57, 19),
        "left_shoulder": (78, 36), "right_shoulder": (50, 36), "left_elbow": (96, 50), "right_elbow": (32, 50),
        "left_wrist": (108, 66), "right_wrist": (20, 66), "left_hip": (73, 72), "right_hip": (55, 72),
        "left_knee": (78, 94), "right_knee": (50, 94), "left_ankle": (82, 116), "right_ankle": (46, 116),
        "left_big_toe": (88, 121), "left_small_toe": (86, 122), "left_heel": (80, 119),
        "right_big_toe": (40, 121), "right_small_toe": (42, 122), "right_heel": (48, 119),
    }
    for name, xy in pts.items():
        kp[J[name]] = (*xy, 1.0)
    return kp


def draw_mask(kp: np.ndarray) -> np.ndarray:
    """``(S, S) uint8`` 0/255: a person drawn around the skeleton (head, torso, limbs, feet)."""
    mask = np.zeros((S, S), np.uint8)

    def xy(name):
        return tuple(int(v) for v in kp[J[name], :2])

    cv2.circle(mask, (64, 18), 9, 255, -1)
    cv2.line(mask, (64, 24), (64, 36), 255, 7)
    torso = [xy("left_shoulder"), xy("right_shoulder"), xy("right_hip"), (55, 80), (73, 80), xy("left_hip")]
    cv2.fillPoly(mask, [np.array(torso, np.int32)], 255)
    for a, b, w in (("shoulder", "elbow", 7), ("elbow", "wrist", 6), ("hip", "knee", 10), ("knee", "ankle", 8),
                    ("ankle", "big_toe", 4)):
        for side in ("left", "right"):
            cv2.line(mask, xy(f"{side}_{a}"), xy(f"{side}_{b}"), 255, w)
    for side in ("left", "right"):
        cv2.circle(mask, xy(f"{side}_wrist"), 4, 255, -1)
    return mask


def _segment_distance(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    s = np.clip((pts - a) @ ab / max(float(ab @ ab), 1e-9), 0, 1)
    return np.linalg.norm(pts - a - s[:, None] * ab, axis=1)


def median_distances(parsing: np.ndarray, kp: np.ndarray) -> dict[tuple[int, int], float]:
    """(label i, part j) -> median distance of label-i pixels to part j's segment (head: its centre)."""
    segs = skeleton.part_segments(kp)
    out = {}
    for part_i, part_j in itertools.product(skeleton.PARTS, repeat=2):
        ys, xs = np.nonzero(parsing == part_i.label)
        seg = segs[part_j.name]
        if len(xs) == 0 or seg is None:
            continue
        pts = np.stack([xs, ys], 1) + 0.5
        a, b, _ = seg
        d = np.linalg.norm(pts - b, axis=1) if part_j.name == "head" else _segment_distance(pts, a, b)
        out[part_i.label, part_j.label] = float(np.median(d))
    return out


def assert_parsing_consistent(parsing: np.ndarray, mask: np.ndarray, kp: np.ndarray, threshold: float = 0.5):
    person = mask >= threshold * 255
    assert parsing.shape == mask.shape and parsing.dtype == np.uint8
    assert np.all(parsing[~person] == 0), "labels outside the mask"
    assert np.all((parsing[person] >= 1) & (parsing[person] <= 10)), "a person pixel without a part"
    med = median_distances(parsing, kp)
    present = sorted({i for i, _ in med})
    for i in present:
        others = [med[i, j] for j in present if j != i and (i, j) in med]
        assert med[i, i] < min(others), f"label {i} lies nearer another part: {med[i, i]:.1f} vs {min(others):.1f}"


def test_every_person_pixel_gets_its_own_part():
    kp = figure_keypoints()
    mask = draw_mask(kp)
    parsing = parse_parts(mask, kp, THRESHOLD, MIN_CONF)
    assert_parsing_consistent(parsing, mask, kp)
    assert set(np.unique(parsing)) == set(range(11)), "all 10 parts should appear on a full figure"
    # Spot checks: the centre of the chest, a forearm's middle, a shin's middle, the face.
    assert parsing[50, 64] == 2
    assert parsing[58, 102] == 4 and parsing[58, 26] == 6
    assert parsing[105, 80] == 8 and parsing[105, 48] == 10
    assert parsing[18, 64] == 1


def test_missing_parts_take_no_pixels_and_mask_threshold_applies():
    kp = figure_keypoints()
    mask = draw_mask(kp)
    kp[J["left_wrist"]] = 0.0          # left lower arm gone; its pixels go to other parts
    parsing = parse_parts(mask, kp, THRESHOLD, MIN_CONF)
    assert 4 not in np.unique(parsing) and 3 in np.unique(parsing)
    assert np.all(parsing[mask > 0] > 0)
    faint = (mask // 255 * 100).astype(np.uint8)   # probability 0.39 everywhere
    assert not parse_parts(faint, kp, 0.5, MIN_CONF).any()
    assert np.array_equal(parse_parts(faint, kp, 0.3, MIN_CONF) > 0, mask > 0)


def test_keypoints_below_min_conf_count_as_missing():
    kp = figure_keypoints()
    mask = draw_mask(kp)
    kp[J["left_wrist"], 2] = 0.4       # a doubtful wrist: its lower arm stands at min_conf 0.3, not at 0.5
    assert 4 in np.unique(parse_parts(mask, kp, THRESHOLD, 0.3))
    assert 4 not in np.unique(parse_parts(mask, kp, THRESHOLD, 0.5))


def test_degenerate_inputs_give_empty_maps():
    kp = figure_keypoints()
    assert not parse_parts(np.zeros((S, S), np.uint8), kp, THRESHOLD, MIN_CONF).any()
    assert not parse_parts(draw_mask(kp), np.zeros_like(kp), THRESHOLD, MIN_CONF).any()


def test_agrees_with_the_demo_renderers_true_parts():
    demo = pytest.importorskip("dancegen.demo")
    for role in demo.ROLES:
        agreement, recall = [], np.zeros((11, 2))
        for t, frame in enumerate(demo.render_video(role, 2.0, S, 30, 0)):
            if t % 6:
                continue
            parsing = parse_parts(frame.mask, frame.keypoints, THRESHOLD, MIN_CONF)
            person = frame.mask >= 128
            assert_parsing_consistent(parsing, frame.mask, frame.keypoints)
            agreement.append(np.mean(parsing[person] == frame.parts[person]))
            for label in range(1, 11):
                truth = person & (frame.parts == label)
                recall[label] += (np.count_nonzero(parsing[truth] == label), np.count_nonzero(truth))
        # Measured: 0.93 (personal) and 0.90 (reference) over 10 s; worst frame 0.89.
        assert np.mean(agreement) > 0.87, role
        assert min(agreement) > 0.84, role
        assert np.all(recall[1:, 0] / recall[1:, 1] > 0.7), (role, recall[1:, 0] / recall[1:, 1])


@pytest.mark.skipif(not DATA.is_dir(), reason="real clips in ../shared/data are absent")
def test_real_frame_parsing():
    from dancegen.preprocess import framing
    from dancegen.preprocess import video
    from dancegen.core.config import PoseParams
    from dancegen.preprocess.detect.mediapipe import HolisticDetector

    info = video.probe(DATA / "unianimate_dance_woman.mp4")
    crop = framing.person_square(info, 4, 0.15)
    frames = video.read_frames(info, 4.0, 256, crop)
    with HolisticDetector(PoseParams()) as detector:
        for t, frame in zip(range(8), frames):
            kp, person = detector.detect(frame)
    frames.close()
    mask = np.round(person * 255).astype(np.uint8)
    parsing = parse_parts(mask, kp, THRESHOLD, MIN_CONF)
    assert_parsing_consistent(parsing, mask, kp)
    counts = np.bincount(parsing.ravel(), minlength=11)
    assert np.all(counts[1:] > 30), f"every part of a full-body dancer should show: {counts}"
