"""The job itself: how well a transfer makes the target person perform someone else's moves.

A transfer has no ground truth, so the paper asks people (Table 4). :func:`judge_transfer` scores
the frames of every variant's ``result.mp4`` and of two outputs that cost nothing — ``nearest_frame``
(the training frame of nearest pose, unchanged: the right person, the wrong pose) and ``tangram``
(the warped parts over B_in, no network) — against what they were asked to show, the driving poses
the transfer stage used (its ``driving.h5``). One proxy group per question of the paper's study:

Q1 complete body  the body re-detected on the output (the project's detector, MediaPipe Holistic)
                  against the driving pose, in the personal frame's pixels: PCK@0.05 / @0.1 (a joint is
                  right within that share of the driving body's size, the diagonal of its confident
                  joints' box), mean normalised error of the joints found, limb-direction error
                  (degrees, 8 limbs, scale-free), complete-body rate (all 12 limb joints found, over
                  the frames whose driving pose has them), hands found where the driving pose has them.
                  Driving joints below ``posemap.min_conf`` are left out (``joints_left_out``).
Q2 clearest face  face landmarks found where the driving pose has a face; the face box's sharpness
                  (:func:`dancegen.evaluate.metrics.sharpness`) over the same box's in the target's
                  held-out frame of nearest pose.
Q3 separation     background change: mean |output − plate| (0–255) outside the driving pose's
                  silhouette grown by :data:`SILHOUETTE_GROW` of the frame: a ghost limb, a torn-off
                  part or a second person shows up here.
Q4 stability      flicker: mean |I_t − I_(t−1)| (0–255) inside the driving silhouettes of t and t−1;
                  warping error (Lai et al. 2018): I_(t−1) warped onto I_t by OpenCV's DIS optical
                  flow, squared RGB error in [0, 1] over the pixels the forward–backward check keeps.
                  Both also on the reference video itself (its own person mask), for scale.
identity          EfficientNet-Lite0 feature distance (:class:`dancegen.evaluate.metrics.PerceptualDistance`,
                  an internal number, not FID) between the person's box in the output and in the
                  target's held-out (test split) frame of nearest pose; the mean CIELAB ΔE of each
                  body part (parsed on the output as the detect stage parses) against that part's mean
                  colour over the training frames.
Q5 overall        the mean rank over the primary proxies of Q1–Q4 and identity (:data:`PRIMARY`)
                  among the outputs of one table: 1 is best on every question.

Detection, identity and colour run on every ``judge.stride``-th frame; flicker and warping error on
every pair of consecutive frames.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import torch

from dancegen.body import skeleton
from dancegen.body.distances import nearest_poses
from dancegen.body.posemaps import history_indices, part_maps
from dancegen.core.arrays import finite_mean
from dancegen.core.config import InputSpec, PoseParams
from dancegen.core.images import resize_area
from dancegen.core.store import FrameStore, PoseStore
from dancegen.evaluate import metrics
from dancegen.evaluate.baselines import baseline_image
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess import video as videos
from dancegen.preprocess.detect.mediapipe import DETECTOR_NAME, HolisticDetector
from dancegen.preprocess.parsing import parse_parts
from dancegen.transfer.transfer import Driving

BASELINES = ("nearest_frame", "tangram")
LABELS = {"nearest_frame": "Nearest training frame (copied)", "tangram": "Tangram over B_in"}
LIMB_JOINTS = tuple(range(5, 17))            # shoulders, elbows, wrists, hips, knees, ankles
LIMBS = tuple((skeleton.J[a], skeleton.J[b]) for a, b in (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle")))
HANDS = (skeleton.LEFT_HAND, skeleton.RIGHT_HAND)
SILHOUETTE_GROW = 0.04       # of the frame's side: room around the driving silhouette (Q3, Q4)
BOX_MARGIN = 0.15            # room around a person's or face's joints when cropping them
# (question, key, direction): +1 higher is better, −1 lower is better.
PRIMARY = (("Q1", ("fidelity", "pck@0.1"), 1), ("Q2", ("face", "found"), 1),
           ("Q3", ("separation", "background_change"), -1), ("Q4", ("temporal", "warp_error"), -1),
           ("identity", ("identity", "feature_distance"), -1))
COMPUTED_WITH = {
    "detector": DETECTOR_NAME, "flow": "OpenCV DIS (medium preset), forward-backward occlusion check",
    "features": metrics.PerceptualDistance.name, "colour": "CIELAB (OpenCV), mean per parsed part",
}


def result_frames(path: Path, size: int) -> Iterator[np.ndarray]:
    """The ``(size, size, 3) uint8`` frames of a transfer's ``result.mp4``, as users get them."""
    info = videos.probe(path)
    yield from videos.read_frames(info, info.fps, size, (0, 0, info.width))


def baseline_frames(name: str, video: PersonalVideo, driving: Driving, size: int, spec: InputSpec
                    ) -> Iterator[np.ndarray]:
    """The ``name`` baseline's frame for every driving pose, at ``size``²."""
    builder, valid = video.builder(size, spec), np.ones(len(driving.poses), bool)
    for t, t_in in enumerate(driving.inputs):
        if name == "nearest_frame":
            yield resize_area(video.frames[int(t_in)], size)
        else:
            yield baseline_image(name, builder, int(t_in),
                                 driving.poses[history_indices(t, valid, spec.posemap.K)])


def silhouette(pose: np.ndarray, frame_size: int, size: int, spec: InputSpec) -> np.ndarray:
    """Where the driving ``pose`` (pixels of a ``frame_size``² frame) puts the person at ``size``²,
    grown by :data:`SILHOUETTE_GROW` → ``(size, size) bool``."""
    shapes = part_maps(pose, frame_size, size, spec.posemap).max(0) > 0.1
    grow = max(1, round(SILHOUETTE_GROW * size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    return cv2.dilate(shapes.astype(np.uint8), kernel).astype(bool)


class Temporal:
    """Flicker and warping error over a stream of consecutive frames (``add(frame, region)``)."""

    def __init__(self):
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self.flicker: list[float] = []
        self.warp: list[float] = []

    def add(self, frame: np.ndarray, region: np.ndarray) -> None:
        """``frame (S, S, 3) uint8``, ``region (S, S) bool``: the person's pixels there."""
        if self._prev is not None:
            prev, prev_region = self._prev
            both = region | prev_region
            if both.any():
                self.flicker.append(float(np.abs(frame.astype(np.float32) - prev)[both].mean()))
            self.warp.append(self._warp_error(prev.astype(np.uint8), frame))
        self._prev = (frame.astype(np.float32), region)

    def _warp_error(self, prev: np.ndarray, cur: np.ndarray) -> float:
        g0, g1 = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (prev, cur))
        back = self._flow.calc(g1, g0, None)          # cur pixel → its place in prev
        fwd = self._flow.calc(g0, g1, None)
        h, w = g1.shape
        grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        at = grid + back
        warped = cv2.remap(prev, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fwd_at = cv2.remap(fwd, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Sundaram et al.'s consistency check, as Lai et al. use it.
        mismatch = ((back + fwd_at) ** 2).sum(-1)
        keep = mismatch <= 0.01 * ((back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + 0.5
        if not keep.any():
            return math.nan
        err = ((cur.astype(np.float32) - warped.astype(np.float32)) / 255.0) ** 2
        return float(err.sum(-1)[keep].mean())

    def summary(self) -> dict:
        return {"flicker": finite_mean(self.flicker), "warp_error": finite_mean(self.warp)}


class PoseTally:
    """Q1 and Q2's detection counts over the judged frames (``add(driving, found)``, both
    ``(133, 3)`` in pixels of the personal frame)."""

    def __init__(self, min_conf: float):
        self.min_conf = min_conf
        self.errors: list[float] = []        # normalised error of every asked joint that was found
        self.missed = self.left_out = 0      # asked joints not found; driving joints below min_conf
        self.angles: list[float] = []
        self.complete: list[bool] = []
        self.hands: list[bool] = []
        self.faces: list[bool] = []

    def add(self, driving: np.ndarray, found: np.ndarray) -> None:
        asked = driving[skeleton.BODY, 2] >= self.min_conf
        self.left_out += int((~asked).sum())
        size = _box_diagonal(driving[skeleton.BODY][asked, :2])
        if size is None:
            return
        seen = found[skeleton.BODY, 2] >= self.min_conf
        dist = np.linalg.norm(found[skeleton.BODY, :2] - driving[skeleton.BODY, :2], axis=1) / size
        self.errors.extend(dist[asked & seen].tolist())
        self.missed += int((asked & ~seen).sum())
        self.angles.extend(_limb_angles(driving, found, self.min_conf))
        if asked[list(LIMB_JOINTS)].all():
            self.complete.append(bool(seen[list(LIMB_JOINTS)].all()))
        for hand in HANDS:
            if driving[hand, 2].max() >= self.min_conf:
                self.hands.append(bool(found[hand, 2].max() >= self.min_conf))
        if driving[skeleton.FACE, 2].max() >= self.min_conf:
            self.faces.append(bool(found[skeleton.FACE, 2].max() >= self.min_conf))

    def pck(self, alpha: float) -> float | None:
        asked = len(self.errors) + self.missed
        return float((np.asarray(self.errors) <= alpha).sum() / asked) if asked else None

    def summary(self) -> dict:
        return {"pck@0.05": self.pck(0.05), "pck@0.1": self.pck(0.1), "error": finite_mean(self.errors),
                "limb_angle_deg": finite_mean(self.angles), "complete_body": finite_mean(self.complete),
                "hands_found": finite_mean(self.hands), "joints_not_found": self.missed,
                "joints_left_out": self.left_out}


def _box_diagonal(xy: np.ndarray) -> float | None:
    if len(xy) < 2:
        return None
    d = float(np.linalg.norm(xy.max(0) - xy.min(0)))
    return d if d > 1e-3 else None


def _limb_angles(driving: np.ndarray, found: np.ndarray, min_conf: float) -> list[float]:
    """Degrees between each limb's direction in ``driving`` and in ``found`` where both show it."""
    out = []
    for a, b in LIMBS:
        if min(driving[a, 2], driving[b, 2], found[a, 2], found[b, 2]) < min_conf:
            continue
        u, v = driving[b, :2] - driving[a, :2], found[b, :2] - found[a, :2]
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        if nu > 1e-3 and nv > 1e-3:
            out.append(float(np.degrees(np.arccos(np.clip(u @ v / (nu * nv), -1.0, 1.0)))))
    return out


def crop_box(xy: np.ndarray, size: int) -> tuple[int, int, int, int] | None:
    """The square around points ``xy (N, 2)`` (pixels of a ``size``² frame) with :data:`BOX_MARGIN`,
    inside the frame → (x0, y0, x1, y1), or None for fewer than 2 points or an empty box."""
    if len(xy) < 2:
        return None
    lo, hi = xy.min(0), xy.max(0)
    centre, side = (lo + hi) / 2, float((hi - lo).max()) * (1 + 2 * BOX_MARGIN)
    x0, y0 = (np.clip(centre - side / 2, 0, size)).astype(int)
    x1, y1 = (np.clip(centre + side / 2, 0, size)).astype(int)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 - x0 >= 4 and y1 - y0 >= 4 else None


def _points(pose: np.ndarray, where: slice, min_conf: float, scale: float) -> np.ndarray:
    return pose[where][pose[where, 2] >= min_conf, :2] * scale


def _crop(image: np.ndarray, box: tuple[int, int, int, int], side: int = 128) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(image[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)


def part_colours(image: np.ndarray, parsing: np.ndarray) -> np.ndarray:
    """Mean CIELAB colour of each of the 10 parts: ``image (S, S, 3) uint8 RGB``, ``parsing (S, S)``
    labels 0..10 → ``(10, 3) float64``, NaN for a part with no pixel."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    labels = parsing.reshape(-1)
    out = np.full((10, 3), np.nan)
    for part in range(1, 11):
        hit = labels == part
        if hit.any():
            out[part - 1] = lab[hit].mean(0)
    return out


@dataclass(frozen=True)
class JudgeSetup:
    """How every output of one transfer is judged."""

    size: int               # the outputs' side H
    spec: InputSpec
    pose: PoseParams         # the detector's settings (the detect stage's)
    stride: int             # detection, identity and colour on every stride-th frame


class Target:
    """What every output of one transfer is judged against, built once for all of them: the driving
    poses, the personal video, its held-out frame of nearest pose for each driving pose, its parts'
    mean colours over the training frames, its background plate at H and the feature network."""

    COLOUR_FRAMES = 50   # training frames the parts' mean colours are taken over

    def __init__(self, video: PersonalVideo, driving: Driving, setup: JudgeSetup):
        self.video, self.driving, self.setup = video, driving, setup
        tests = video.test_frames
        self.nearest = tests[nearest_poses(driving.poses, video.pose.keypoints[tests], setup.spec.posemap.min_conf)[0]] \
            if len(tests) else None
        picks = video.train_frames[np.linspace(0, len(video.train_frames) - 1,
                                               min(self.COLOUR_FRAMES, len(video.train_frames))).astype(int)]
        self.colours = np.nanmean([part_colours(video.frames[int(t)], video.pose.parsing(int(t))) for t in picks], 0)
        self.plate = resize_area(video.background, setup.size).astype(np.float32)
        self.perceptual = metrics.PerceptualDistance()


class Appearance:
    """Identity, part colours and face sharpness of one output's judged frames against the
    :class:`Target`'s own frames."""

    def __init__(self, target: Target):
        self.target, self.video, self.size, self.spec = target, target.video, target.setup.size, target.setup.spec
        self.identity: list[float] = []
        self.delta_e: list[float] = []
        self.face_sharpness: list[tuple[float, float]] = []

    def add(self, t: int, frame: np.ndarray, driving: np.ndarray, found: tuple[np.ndarray, np.ndarray]) -> None:
        """Output ``frame`` ``(H, H, 3)`` of driving pose ``driving`` (personal frame pixels) and the
        detector's ``found`` (keypoints in the output's pixels, person probability)."""
        keypoints, mask = found
        parsing = parse_parts((mask * 255).astype(np.uint8), keypoints, self.spec.mask_threshold,
                              self.spec.posemap.min_conf)
        with np.errstate(invalid="ignore"):
            delta = np.linalg.norm(part_colours(frame, parsing) - self.target.colours, axis=1)
        if np.isfinite(delta).any():
            self.delta_e.append(float(np.nanmean(delta)))
        if self.target.nearest is not None:
            self._against_real(frame, driving, int(self.target.nearest[t]))

    def _against_real(self, frame: np.ndarray, driving: np.ndarray, t_real: int) -> None:
        min_conf, to_h = self.spec.posemap.min_conf, self.size / self.video.size
        real, real_pose = self.video.frames[t_real], self.video.pose.keypoints[t_real]
        for where, side in ((skeleton.BODY, 128), (skeleton.FACE, 64)):
            out_box = crop_box(_points(driving, where, min_conf, to_h), self.size)
            real_box = crop_box(_points(real_pose, where, min_conf, 1.0), self.video.size)
            if out_box is None or real_box is None:
                continue
            a, b = _crop(frame, out_box, side), _crop(real, real_box, side)
            if where == skeleton.BODY:
                distance = self.target.perceptual.distance(a, b, key=t_real)
                if distance is not None:
                    self.identity.append(distance)
            else:
                whole = np.ones((side, side), bool)
                self.face_sharpness.append((metrics.sharpness(a, whole), metrics.sharpness(b, whole)))

    def summary(self) -> dict:
        sharp = np.asarray(self.face_sharpness, np.float64).reshape(-1, 2)
        ratio = float(sharp[:, 0].mean() / sharp[:, 1].mean()) if len(sharp) and sharp[:, 1].mean() > 0 else None
        return {"identity": {"feature_distance": finite_mean(self.identity), "part_colour_delta_e": finite_mean(self.delta_e)},
                "face_sharpness": ratio}


def judge_frames(frames: Iterable[np.ndarray], target: Target) -> dict:
    """Every proxy of one output's frames (``(H, H, 3) uint8``, one per driving pose of ``target``)."""
    setup, driving, plate = target.setup, target.driving, target.plate
    H, S = setup.size, target.video.size
    tally, temporal = PoseTally(setup.spec.posemap.min_conf), Temporal()
    looks, background, n = Appearance(target), [], 0
    with HolisticDetector(setup.pose) as detector:
        for t, frame in zip(range(len(driving.poses)), frames):
            region, n = silhouette(driving.poses[t], S, H, setup.spec), n + 1
            temporal.add(frame, region)
            if (~region).any():
                background.append(float(np.abs(frame.astype(np.float32) - plate)[~region].mean()))
            if t % setup.stride:
                continue
            keypoints, mask = detector.detect(frame)
            in_personal = keypoints.copy()
            in_personal[:, :2] *= S / H
            tally.add(driving.poses[t], in_personal)
            looks.add(t, frame, driving.poses[t], (keypoints, mask))
    appearance = looks.summary()
    return {"frames": n, "judged_frames": len(range(0, n, setup.stride)), "fidelity": tally.summary(),
            "face": {"found": finite_mean(tally.faces), "sharpness_ratio": appearance["face_sharpness"]},
            "separation": {"background_change": finite_mean(background)}, "temporal": temporal.summary(),
            "identity": appearance["identity"]}


def reference_temporal(frames, pose, n: int, size: int, threshold: float) -> dict:
    """Flicker and warping error of the reference video's own first ``n`` frames at ``size``², inside
    its detected person (``frames``/``pose``: its FrameStore and PoseStore)."""
    temporal = Temporal()
    for t in range(n):
        region = cv2.resize(pose.mask(t), (size, size), interpolation=cv2.INTER_NEAREST) >= threshold * 255
        temporal.add(resize_area(frames[t], size), region)
    return temporal.summary()


def overall_ranks(outputs: dict[str, dict]) -> dict[str, dict]:
    """Per output, its rank on each :data:`PRIMARY` proxy (1 = best; ties share the mean rank; a
    missing value ranks last) and ``Q5``, their mean."""
    names = list(outputs)
    ranks = {name: {} for name in names}
    for question, (group, key), direction in PRIMARY:
        values = np.array([outputs[n][group][key] if outputs[n][group][key] is not None else np.nan for n in names],
                          np.float64)
        score = np.where(np.isfinite(values), -direction * values, np.inf)
        order = _average_ranks(score)
        for name, rank in zip(names, order):
            ranks[name][question] = rank
    for name in names:
        ranks[name]["Q5"] = float(np.mean(list(ranks[name].values())))
    return ranks


def _average_ranks(score: np.ndarray) -> list[float]:
    """Ranks 1..n of ``score`` ascending, tied values sharing their mean rank."""
    sorted_scores = np.sort(score)
    return [float(np.mean(np.flatnonzero(sorted_scores == s)) + 1) for s in score]


@dataclass(frozen=True)
class TransferRun:
    """One transfer to judge: the variants' transfer folders of one personal video and reference."""

    transfers: dict[str, Path]   # variant → data/transfer/<video>/<variant>/<reference>/
    ref_frames: Path             # data/frames/<reference>.h5
    ref_pose: Path               # data/pose/<reference>.h5


def judge_transfer(run: TransferRun, video: PersonalVideo, spec: InputSpec, pose: PoseParams, stride: int) -> dict:
    """Every variant's ``result.mp4`` and both :data:`BASELINES`, judged against the driving poses
    (module docstring) → ``{outputs: {name: proxies}, ranks: {name: {question: rank}}, reference:
    {flicker, warp_error}, size, frames, stride, computed_with}``."""
    first = next(iter(run.transfers.values()))
    driving = Driving.read(first / "driving.h5")
    size = videos.probe(first / "result.mp4").width
    names = [*run.transfers, *BASELINES]
    outputs = dict(zip(names, judge_outputs(names, run, video, driving, JudgeSetup(size, spec, pose, stride))))
    with FrameStore(run.ref_frames) as frames, PoseStore(run.ref_pose) as ref_pose:
        reference = reference_temporal(frames, ref_pose, len(driving.poses), size, spec.mask_threshold)
    return {"outputs": outputs, "ranks": overall_ranks(outputs), "reference": reference, "size": size,
            "frames": len(driving.poses), "stride": stride, "computed_with": COMPUTED_WITH}


def judge_outputs(names: list[str], run: TransferRun, video: PersonalVideo, driving: Driving,
                  setup: JudgeSetup) -> list[dict]:
    """:func:`judge_frames` of each output of ``names`` (a variant of ``run`` or one of
    :data:`BASELINES`), in ``pose.workers`` processes side by side (the detector, one core's work,
    is most of the time); each process builds its own :class:`Target`. The scores do not depend on
    the number of processes."""
    workers = min(setup.pose.workers, len(names))
    if workers <= 1:
        target = Target(video, driving, setup)
        return [_judge_output(name, run, target) for name in names]
    context = multiprocessing.get_context("spawn")      # MediaPipe's graphs do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_judging,
                             initargs=(run, video, driving, setup)) as pool:
        return list(pool.map(_judge_in_worker, names))


_JUDGING: tuple[TransferRun, Target] | None = None     # a judging process's run and target


def _start_judging(run: TransferRun, video: PersonalVideo, driving: Driving, setup: JudgeSetup) -> None:
    global _JUDGING
    torch.set_num_threads(1)          # one core per process: the processes share the machine's cores
    _JUDGING = (run, Target(video, driving, setup))


def _judge_in_worker(name: str) -> dict:
    return _judge_output(name, *_JUDGING)


def _judge_output(name: str, run: TransferRun, target: Target) -> dict:
    """:func:`judge_frames` of one output: a variant's ``result.mp4``, or a baseline made here."""
    size = target.setup.size
    if name in run.transfers:
        return judge_frames(result_frames(run.transfers[name] / "result.mp4", size), target)
    return judge_frames(baseline_frames(name, target.video, target.driving, size, target.setup.spec), target)


# The automatic Table 4's columns: (header, group, key, digits).
COLUMNS = (("Q1 PCK@0.05", "fidelity", "pck@0.05", 3), ("Q1 PCK@0.1", "fidelity", "pck@0.1", 3),
           ("Q1 limb error (°)", "fidelity", "limb_angle_deg", 1), ("Q1 complete body", "fidelity", "complete_body", 2),
           ("Q1 hands found", "fidelity", "hands_found", 2), ("Q2 face found", "face", "found", 2),
           ("Q2 face sharpness", "face", "sharpness_ratio", 2),
           ("Q3 background change", "separation", "background_change", 2),
           ("Q4 flicker", "temporal", "flicker", 2), ("Q4 warping error", "temporal", "warp_error", 4),
           ("identity distance", "identity", "feature_distance", 4),
           ("part colour ΔE", "identity", "part_colour_delta_e", 1))


def _cell(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_markdown(judged: dict, labels: dict[str, str]) -> str:
    """One transfer's automatic Table 4 (Markdown): a row per output of ``labels`` (variants, then
    the baselines in italics), the reference video's own flicker and warping error last."""
    head = "| output | " + " | ".join(c[0] for c in COLUMNS) + " | Q5 mean rank |"
    lines = [head, "|---|" + "---|" * (len(COLUMNS) + 1)]
    for name, label in labels.items():
        if name in judged["outputs"]:
            proxies = judged["outputs"][name]
            cells = [_cell(proxies[group][key], digits) for _, group, key, digits in COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {judged['ranks'][name]['Q5']:.2f} |")
    ref = judged["reference"]
    cells = ["" if group != "temporal" else _cell(ref[key], digits) for _, group, key, digits in COLUMNS]
    lines.append("| *the reference video itself* | " + " | ".join(cells) + " | |")
    return "\n".join(lines)
