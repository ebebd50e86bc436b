"""MediaPipe (0.10.21, legacy solutions, CPU): holistic whole-body landmarks and person masks.

:class:`HolisticDetector` maps MediaPipe Holistic's output onto the canonical 133-point schema
(:mod:`dancegen.body.skeleton`); :class:`PoseTracker` is its body-only, lighter form for live
driving; :class:`PoseFinder` looks for a person in single images;
:class:`SelfieSegmenter` gives a person mask without landmarks.
Only the models shipped inside the wheel are used; nothing is downloaded.
"""

from __future__ import annotations

import mediapipe
import numpy as np

from dancegen.body import skeleton
from dancegen.core.config import PoseParams
from dancegen.core.errors import DanceGenError

DETECTOR_NAME = "mediapipe-holistic"
DETECTOR_VERSION = mediapipe.__version__

# MediaPipe Pose's 33 landmarks → COCO-17 body, in COCO order.
POSE_TO_COCO_BODY = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# Feet in COCO-WholeBody order (left big toe, left small toe, left heel, right ...): the pose model's
# foot_index is the big toe; it has no small toe (-1: left undetected).
POSE_TO_FEET = (31, -1, 29, 32, -1, 30)
# Face-mesh vertex nearest to each of the 68 iBUG points: jaw 17, brows 5 + 5, nose bridge 4,
# nostrils 5, eyes 6 + 6, outer lip 12, inner lip 8. "Left"/"right" follow iBUG, i.e. the image's
# left first (the person's right), as in COCO-WholeBody's face.
FACE_MESH_TO_IBUG68 = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    71, 63, 105, 66, 107,
    336, 296, 334, 293, 301,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)
assert len(FACE_MESH_TO_IBUG68) == 68


def _landmarks_xy(landmarks, size: int) -> np.ndarray:
    """A MediaPipe NormalizedLandmarkList → ``(N, 2)`` pixels of a ``size``² frame."""
    return np.array([(p.x, p.y) for p in landmarks.landmark], np.float64) * size


def pose_to_keypoints(pose_landmarks, size: int) -> np.ndarray:
    """MediaPipe Pose's 33 landmarks (or None) → ``keypoints: (133, 3)`` float32, body and feet only.

    Confidence is the landmark's visibility; the small toes, which the model lacks, stay (0, 0, 0).
    """
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    if pose_landmarks is None:
        return kp
    xy = _landmarks_xy(pose_landmarks, size)
    vis = np.array([p.visibility for p in pose_landmarks.landmark])
    body = list(POSE_TO_COCO_BODY)
    kp[skeleton.BODY, :2] = xy[body]
    kp[skeleton.BODY, 2] = vis[body]
    for out, src in zip(range(skeleton.FEET.start, skeleton.FEET.stop), POSE_TO_FEET):
        if src >= 0:
            kp[out] = (*xy[src], vis[src])
    return kp


def holistic_to_keypoints(results, size: int) -> np.ndarray:
    """MediaPipe Holistic results for one ``size``² frame → ``keypoints: (133, 3)`` float32.

    Body and feet as :func:`pose_to_keypoints`; face and hand points get confidence 1.0 when their
    group was found. Everything not found is (0, 0, 0).
    """
    kp = pose_to_keypoints(results.pose_landmarks, size)
    if results.pose_landmarks is None:
        return kp
    groups = ((results.face_landmarks, skeleton.FACE, list(FACE_MESH_TO_IBUG68)),
              (results.left_hand_landmarks, skeleton.LEFT_HAND, slice(None)),
              (results.right_hand_landmarks, skeleton.RIGHT_HAND, slice(None)))
    for landmarks, where, pick in groups:
        if landmarks is not None:
            kp[where, :2] = _landmarks_xy(landmarks, size)[pick]
            kp[where, 2] = 1.0
    return kp


def _require_bundled_model(params: PoseParams) -> None:
    if params.model_complexity != 1:
        raise DanceGenError("params.yaml", f"'pose.model_complexity' is {params.model_complexity}: only 1 "
                            "ships inside the mediapipe wheel (0 and 2 download their models at run time)")


class _Solution:
    """A MediaPipe solution (``self._solution``, set by the subclass) closed on leaving a ``with`` block."""

    def close(self) -> None:
        self._solution.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HolisticDetector(_Solution):
    """MediaPipe Holistic in video mode: ``detect(frame) -> (keypoints (133, 3), mask (S, S) float)``.

    Frames must be consecutive frames of one video (landmarks are tracked and smoothed across
    them). ``frame: (S, S, 3) uint8 RGB``; ``mask`` is the person probability in [0, 1], all 0 when
    no person was found or with ``segmentation=False`` (which skips the segmentation model, for
    callers that need only the keypoints). Use as a context manager.
    """

    def __init__(self, params: PoseParams, segmentation: bool = True):
        _require_bundled_model(params)
        self._solution = mediapipe.solutions.holistic.Holistic(
            static_image_mode=False, model_complexity=1, enable_segmentation=segmentation, smooth_landmarks=True,
            refine_face_landmarks=False, min_detection_confidence=params.min_detection_confidence,
            min_tracking_confidence=params.min_tracking_confidence)

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = frame.shape[0]
        results = self._solution.process(np.ascontiguousarray(frame))
        keypoints = holistic_to_keypoints(results, size)
        if results.segmentation_mask is None:
            return keypoints, np.zeros(frame.shape[:2], np.float32)
        return keypoints, np.asarray(results.segmentation_mask, np.float32)


class PoseTracker(_Solution):
    """MediaPipe Pose in video mode, body and feet only: ``detect(frame) -> (keypoints (133, 3), mask)``,
    the mask all 0 (as :class:`HolisticDetector` without segmentation).

    Holistic's body model without its face and hand models: on 2 cores ~2.5× less CPU per frame
    (benchmarks/README.md, live). Face and hand keypoints stay (0, 0, 0), so their pose-map
    channels are empty. Frames must be consecutive frames of one video. Use as a context manager.
    """

    def __init__(self, params: PoseParams):
        _require_bundled_model(params)
        self._solution = mediapipe.solutions.pose.Pose(
            static_image_mode=False, model_complexity=1, smooth_landmarks=True, enable_segmentation=False,
            min_detection_confidence=params.min_detection_confidence,
            min_tracking_confidence=params.min_tracking_confidence)

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        results = self._solution.process(np.ascontiguousarray(frame))
        return pose_to_keypoints(results.pose_landmarks, frame.shape[0]), np.zeros(frame.shape[:2], np.float32)


class PoseFinder(_Solution):
    """MediaPipe Pose on single images: ``find(frame (S, S, 3) uint8 RGB) -> keypoints (133, 3)``.

    Body and feet of the most prominent person, each frame on its own (no tracking), for looking
    for someone other than the tracked person. Use as a context manager.
    """

    def __init__(self, params: PoseParams):
        _require_bundled_model(params)
        self._solution = mediapipe.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                                   min_detection_confidence=params.min_detection_confidence)

    def find(self, frame: np.ndarray) -> np.ndarray:
        return pose_to_keypoints(self._solution.process(np.ascontiguousarray(frame)).pose_landmarks, frame.shape[0])


class SelfieSegmenter(_Solution):
    """MediaPipe selfie segmentation: ``segment(frame (S, S, 3) uint8 RGB) -> (S, S) float`` in [0, 1].

    The person mask for keypoints imported from elsewhere. Coarser than Holistic's (on the demo
    figures an IoU of 0.82–0.85 with the true mask against Holistic's 0.97), and it marks everyone
    in view rather than one person.
    """

    def __init__(self):
        # The general model (0) works on a square 256² input, which is what our frames are.
        self._solution = mediapipe.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def segment(self, frame: np.ndarray) -> np.ndarray:
        return np.asarray(self._solution.process(np.ascontiguousarray(frame)).segmentation_mask, np.float32)


