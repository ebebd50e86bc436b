"""Inference (paper 4.3): test-set synthesis, motion transfer from a reference video, compositing.

Everything runs a trained model (:func:`dancegen.model.load_generators`) in batches under
``torch.no_grad`` (CUDA when present) at the resolution R its model file records. Inputs come
from :class:`dancegen.inputs.InputBuilder`, the builder training uses too, for any input frame of
the personal video and any K-pose reference history.

Infer file ``data/infer/<video>/<variant>.h5`` (:func:`infer_video`)
  ``pairs_out``    (N, R, R, 3) uint8 RGB — I_out of every test pair, in the pairs file's order
  ``pairs_fg``     (N, R, R, 3) uint8 RGB — Ĩ_out, the person on green (two-stage variants only)
  ``pairs_index``  (N, 2) int64 — ``in_frame``, ``ref_frame`` of each test pair
  ``run_out``      (M, R, R, 3) uint8 RGB — I_out of the consecutive run: reference t for every
                   valid test frame t in order, one fixed input frame, P_ref from frames t, t−1, …
  ``run_fg``       (M, R, R, 3) uint8 RGB — Ĩ_out of the run (two-stage variants only)
  ``run_frames``   (M,) int64 — the run's reference frames
  attrs: ``video``, ``variant``, ``resolution`` (R), ``K``, ``run_input_frame``, ``model`` (path),
         ``model_meta`` (JSON: the model file's meta — steps, vgg_used, sp_used, …)
  Image datasets are chunked one frame per chunk (gzip 1); the file appears only when complete.

Transfer directory ``data/transfer/<video>/<variant>/<reference>/`` (:func:`transfer`)
  ``result.mp4``         (R × R) I_out driven by the reference video, one frame per reference frame, at the
                         reference frames' rate, with the reference's sound (when it has one) cut to its length
  ``side_by_side.mp4``   (R × 2R) reference frame resized to R | I_out, with the sound
  ``composite.mp4``      (R × R) the generated person over a new scene (Fig. 9), see :func:`person_matte`;
                         with the sound
  ``skeleton.mp4``       (R × R) the driving (smoothed, retargeted) skeleton over the personal background plate
  ``full.mp4``           the personal video's own framing at R / crop side: I_out pasted back where its
                         square was cut from, over the scene around it (:func:`full_frame`), with the sound
  ``stills.png``         up to 5 evenly spaced frames that have their own detected reference pose:
                         reference row over result row
  ``stats.json``         ``frames``, ``fps``, ``reused_pose_frames`` (no detection: the last good pose),
                         ``interpolated_pose_frames`` (no detection: interpolated, ``infer.max_gap``),
                         ``mean_nearest_pose_distance``, ``retarget_scale`` (null when retargeting is off),
                         ``jitter_raw`` / ``jitter_smoothed`` (mean joint acceleration of the driving poses,
                         px/frame² of the personal frames, before / after smoothing; :func:`dancegen.retarget.jitter`),
                         ``distinct_input_frames``
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import h5py
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dancegen.background import load_background
from dancegen.config import InferParams, InputSpec, PosemapParams
from dancegen.errors import DanceGenError
from dancegen.model import FINAL, SYNTHESIS, TWO_STAGE, Generators, chroma_key, load_generators
from dancegen.pairs import read_pairs, split_frames, valid_in
from dancegen.images import compute_device, resize_area, to_uint8, write_png
from dancegen.inputs import InputBuilder
from dancegen.layout import VideoPaths
from dancegen.posemaps import draw_skeleton, history_indices
from dancegen.retarget import body_frame, jitter, pose_distances, retarget, size_ratio, smooth_poses
from dancegen.store import FrameStore, PoseStore, atomic_dir, atomic_path
from dancegen.video import VideoWriter

N_STILLS = 5
# Mattes for the composite are keyed on images averaged over KEY_POOL² pixels: the generators'
# pixel noise otherwise speckles them. pix2pixhd has no Ĩ_out: its person is keyed where I_out
# departs from the background B by more than DIFF_THRESHOLD (RGB distance in [-1, 1]), inside
# the current pose's shapes grown by REGION_GROW of the frame side.
KEY_POOL = 3
DIFF_THRESHOLD = 0.35
DIFF_SHARPNESS = 20.0
REGION_GROW = 1 / 16
# Nearest-pose search against M training poses: reference poses go in blocks of _SEARCH_ROWS (an
# (rows, M) distance matrix), compared _SEARCH_CHUNK at a time ((chunk, M, 17) temporaries).
_SEARCH_ROWS = 512
_SEARCH_CHUNK = 32


def model_path(video: str, variant: str, data: str | Path = "data") -> Path:
    return Path(data) / "models" / video / variant / "model.pt"


def load_model(path: str | Path, device: torch.device) -> tuple[Generators, int, dict]:
    """The trained generators of ``path`` (eval mode, on ``device``, channels-last), the resolution
    they were trained at and their meta: the model file alone says everything inference needs."""
    generators, resolution, meta = load_generators(path, map_location=device)
    # Channels-last convolutions run about a third faster on CPU too (and use tensor cores on CUDA).
    return generators.to(memory_format=torch.channels_last), resolution, meta


# --------------------------------------------------------------------------- inputs and outputs


def _two_stage(generators: Generators) -> bool:
    return generators.config.variant in TWO_STAGE


@dataclass
class Generated:
    """One batch of generator outputs, ``(B, R, R, 3) uint8 RGB`` images and ``(B, R, R)`` mattes."""

    final: np.ndarray               # I_out
    synthesis: np.ndarray | None    # Ĩ_out on green (two-stage variants), else None
    matte: np.ndarray               # float32 in [0, 1]: the generated person, see person_matte

    @property
    def person(self) -> np.ndarray:
        """The image the matte cuts the person out of: Ĩ_out without green spill, or I_out for pix2pixhd."""
        return self.final if self.synthesis is None else despill_green(self.synthesis)


def despill_green(images: np.ndarray) -> np.ndarray:
    """Green no stronger than the larger of red and blue, ``(..., 3) uint8 RGB``: removes the screen's
    cast from the edge and noise pixels of a keyed person. Colours where green does not dominate
    are unchanged; green clothes turn grey, the price of any green key."""
    out = images.copy()
    out[..., 1] = np.minimum(images[..., 1], np.maximum(images[..., 0], images[..., 2]))
    return out


def person_matte(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], blends: bool) -> torch.Tensor:
    """The generated person's soft matte ``(B, 1, R, R)`` in [0, 1], for compositing.

    ``blend`` composition: the synthesis net's own matte H_gen (``key``). Other two-stage
    models: the chroma key of Ĩ_out (:func:`dancegen.model.chroma_key`, as H_gen of
    eq. 2). pix2pixhd draws the person straight into the scene, so there the matte is where I_out
    differs from the background B (a soft threshold on their RGB distance), limited to the current
    pose's part and landmark shapes grown by :data:`REGION_GROW` of the side. It misses person
    pixels of the background's colour and keeps generated shadows near the body. Both key the
    images averaged over :data:`KEY_POOL`² pixels.
    """
    def smooth(image: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(image, KEY_POOL, stride=1, padding=KEY_POOL // 2, count_include_pad=False)

    if blends:
        return outputs["key"]
    if SYNTHESIS in outputs:
        return chroma_key(smooth(outputs[SYNTHESIS]))
    distance = (smooth(outputs[FINAL] - batch["B"]) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
    differs = torch.sigmoid(DIFF_SHARPNESS * (distance - DIFF_THRESHOLD))
    side = batch["P_ref"].shape[-1]
    grow = 2 * round(side * REGION_GROW) + 1
    region = (batch["P_ref"][:, :15].amax(1, keepdim=True) > 0.05).float()
    region = F.max_pool2d(region, grow, stride=1, padding=grow // 2)
    return differs * region


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 and t.is_floating_point() else t


@torch.no_grad()
def generate(generators: Generators, samples: list[dict[str, torch.Tensor]], device: torch.device) -> Generated:
    """Run the generators on a list of :meth:`InputBuilder.sample` items as one batch."""
    batch = {k: _channels_last(torch.stack([s[k] for s in samples]).to(device)) for k in samples[0]}
    outputs = generators(batch)
    synthesis = to_uint8(outputs[SYNTHESIS]) if SYNTHESIS in outputs else None
    matte = person_matte(outputs, batch, generators.config.blends)[:, 0].float().cpu().numpy()
    return Generated(to_uint8(outputs[FINAL]), synthesis, matte)


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Consecutive lists of ``n`` items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


class _ImageDatasets:
    """Appendable ``(N, R, R, 3) uint8`` datasets of one open HDF5 file, one image per chunk."""

    def __init__(self, file: h5py.File, resolution: int):
        self.file, self.resolution = file, resolution

    def create(self, name: str) -> None:
        shape = (self.resolution, self.resolution, 3)
        self.file.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=np.uint8,
                                 chunks=(1, *shape), compression="gzip", compression_opts=1)

    def append(self, name: str, values: np.ndarray) -> None:
        ds = self.file[name]
        n = ds.shape[0]
        ds.resize(n + len(values), axis=0)
        ds[n:] = values


# --------------------------------------------------------------------------- the test set


def pose_history(keypoints: np.ndarray, valid: np.ndarray, t: int, K: int) -> np.ndarray:
    """``(K, 133, 3)`` poses of frames t, t−1, … (:func:`dancegen.posemaps.history_indices`)."""
    return keypoints[history_indices(t, valid, K)]


def consecutive_test_frames(valid: np.ndarray, train_fraction: float) -> np.ndarray:
    """The consecutive run: every valid frame of the test split, in order ``(M,) int64``."""
    test = split_frames(len(valid), train_fraction)[1]
    return valid_in(valid, test).astype(np.int64)


def infer_video(out_path: str | Path, video: str, paths: VideoPaths, model_file: str | Path,
                spec: InputSpec, train_fraction: float, batch_size: int) -> dict:
    """Synthesize the test pairs and the consecutive test run of one video (infer file, module docstring).

    Returns counts: ``pairs``, ``run_frames``.
    """
    device = compute_device()
    generators, resolution, meta = load_model(model_file, device)
    posemap = spec.posemap
    table = read_pairs(paths.pairs)
    test_pairs = table[table["split"] == "test"][["in_frame", "ref_frame"]].to_numpy(np.int64)
    if not len(test_pairs):
        raise DanceGenError(paths.pairs, "has no test pairs")
    with FrameStore(paths.frames) as frames, PoseStore(paths.pose) as pose:
        cond = InputBuilder(frames, pose, load_background(paths.background), resolution, spec)
        if not pose.valid[test_pairs.ravel()].all():
            raise DanceGenError(paths.pairs, f"names test frames without a valid pose in {paths.pose}")
        run = consecutive_test_frames(pose.valid, train_fraction)
        if not len(run):
            raise DanceGenError(paths.pose, "has no valid frame in the test split (pairs.train_fraction)")
        jobs = {"pairs": [(int(a), int(b)) for a, b in test_pairs],
                "run": [(int(run[0]), int(t)) for t in run]}
        fg = _two_stage(generators)
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
            out = _ImageDatasets(f, resolution)
            f.create_dataset("pairs_index", data=test_pairs)
            f.create_dataset("run_frames", data=run)
            for name, pairs in jobs.items():
                out.create(f"{name}_out")
                if fg:
                    out.create(f"{name}_fg")
                for chunk in tqdm(list(batched(pairs, batch_size)), desc=f"infer {name}", unit="batch"):
                    samples = [cond.sample(t_in, pose_history(pose.keypoints, pose.valid, t_ref, posemap.K))
                               for t_in, t_ref in chunk]
                    result = generate(generators, samples, device)
                    out.append(f"{name}_out", result.final)
                    if fg:
                        out.append(f"{name}_fg", result.synthesis)
            f.attrs.update(video=video, variant=generators.config.variant, resolution=resolution,
                           K=posemap.K, run_input_frame=int(run[0]), model=str(model_file),
                           model_meta=json.dumps(meta))
    return {"pairs": len(test_pairs), "run_frames": len(run)}


# --------------------------------------------------------------------------- motion transfer


def fill_missing_poses(keypoints: np.ndarray, valid: np.ndarray, source: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Give every frame a pose: frames without one reuse the last good pose (the first good one
    before any was seen).

    ``keypoints: (T, 133, 3)``, ``valid: (T,) bool`` → (``(T, 133, 3)`` filled poses, ``(T,) bool``
    which frames reused another's pose). Raises DanceGenError naming ``source`` when no frame has a pose.
    """
    good = np.flatnonzero(valid)
    if not len(good):
        raise DanceGenError(source, "has no frame with a detected person: nothing to transfer")
    last_good = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))
    source_frame = np.where(last_good >= 0, last_good, good[0])
    return keypoints[source_frame], ~np.asarray(valid, bool)


def nearest_training_poses(query: np.ndarray, pool: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """For each query pose the index of the nearest ``pool`` pose and its distance, ``(Nq,)`` each.

    :func:`dancegen.retarget.pose_distances` in blocks, so memory stays bounded for long videos.
    """
    index = np.empty(len(query), np.int64)
    distance = np.empty(len(query), np.float64)
    for a in range(0, len(query), _SEARCH_ROWS):
        d = pose_distances(query[a:a + _SEARCH_ROWS], pool, min_conf, _SEARCH_CHUNK)
        index[a:a + len(d)] = d.argmin(1)
        distance[a:a + len(d)] = d[np.arange(len(d)), index[a:a + len(d)]]
    return index, distance


@dataclass(frozen=True)
class DrivingPoses:
    """The reference video's poses mapped into the personal video's frame."""

    poses: np.ndarray         # (T, 133, 3) x, y, confidence in pixels of the personal S×S frame
    reused: np.ndarray        # (T,) bool — frame had no detection and reuses the last good pose
    interpolated: np.ndarray  # (T,) bool — frame had no detection and its joints were interpolated
    scale: float | None       # retarget scale (target body size / reference body size); None when off
    jitter_raw: float | None       # mean joint acceleration without smoothing, px/frame² of the S×S frame
    jitter_smoothed: float | None  # ... of ``poses``


def driving_poses(ref_pose: PoseStore, target_poses: np.ndarray, target_size: int, infer: InferParams,
                  min_conf: float) -> DrivingPoses:
    """Smooth the reference's keypoint tracks (:func:`dancegen.retarget.smooth_poses`), give frames
    still without a pose the last good one, then retarget them onto the target's body and stage
    (:mod:`dancegen.retarget`) or, with ``infer.retarget`` off, only rescale them to the target's
    frame size. Jitter is measured on the same frames with and without the smoothing."""
    raw = np.where(ref_pose.valid[:, None, None], ref_pose.keypoints, 0.0).astype(np.float32)
    smoothed, interpolated = smooth_poses(raw, ref_pose.valid, infer.smooth_window, infer.smooth_order,
                                          infer.max_gap, min_conf)
    raw_filled, _ = fill_missing_poses(raw, ref_pose.valid, ref_pose.path)
    filled, reused = fill_missing_poses(smoothed, ref_pose.valid | interpolated, ref_pose.path)
    if infer.retarget:
        target = body_frame(target_poses, min_conf)
        ref = body_frame(raw[ref_pose.valid], min_conf)
        for frame, source in ((target, "the personal training frames"), (ref, ref_pose.path)):
            if frame is None:
                raise DanceGenError(ref_pose.path, f"cannot retarget: no frame of {source} shows a whole "
                                    "limb or the torso; set infer.retarget: false")
        scale = size_ratio(ref, target)
        if scale is None:
            raise DanceGenError(ref_pose.path, "cannot retarget: it and the personal video never show the "
                                "same bone (torso, arms or legs); set infer.retarget: false")

        def place(kps: np.ndarray) -> np.ndarray:
            return retarget(kps, ref, target, target_size, min_conf)
    else:
        scale = None

        def place(kps: np.ndarray) -> np.ndarray:
            out = kps.copy()
            out[..., :2] *= target_size / ref_pose.size
            return out
    detected = ref_pose.valid[:, None] & (ref_pose.keypoints[..., 2] >= min_conf)
    poses = place(filled)
    return DrivingPoses(poses, reused, interpolated, scale, jitter(place(raw_filled), detected),
                        jitter(poses, detected))


def load_scene(path: str | Path, size: int) -> np.ndarray:
    """The composite's new background: the image's central square, resized → ``(size, size, 3) uint8 RGB``."""
    path = Path(path)
    if str(path) in ("", "."):
        raise DanceGenError("params.yaml", "'infer.background_image' is empty: name an image for the composite")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        raise DanceGenError(path, "not found or not an image (infer.background_image; "
                            "the demo stage writes data/demo/scene.png)")
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return cv2.cvtColor(resize_area(square, size), cv2.COLOR_BGR2RGB)


def composite(person: np.ndarray, matte: np.ndarray, scene: np.ndarray, edge_blur: float) -> np.ndarray:
    """``person`` over ``scene`` through ``matte`` softened by a Gaussian of ``edge_blur`` px (Fig. 9).

    ``person, scene: (R, R, 3) uint8``, ``matte: (R, R)`` in [0, 1] → ``(R, R, 3) uint8``. Around
    the person, ``person`` shows the green screen (or its old scene); the soft edge would mix that
    in as a coloured halo, so there the layer takes the person's own colours spread outwards
    (normalised convolution, twice as wide as the edge) instead.
    """
    matte = np.clip(matte.astype(np.float32), 0.0, 1.0)
    reach = 2.0 * max(edge_blur, 1.0)
    weight = cv2.GaussianBlur(matte, (0, 0), reach)[..., None]
    spread = cv2.GaussianBlur(person.astype(np.float32) * matte[..., None], (0, 0), reach) / np.maximum(weight, 1e-3)
    layer = matte[..., None] * person + (1.0 - matte[..., None]) * spread
    alpha = cv2.GaussianBlur(matte, (0, 0), edge_blur) if edge_blur > 0 else matte
    alpha = alpha[..., None]
    return np.clip(np.rint(alpha * layer + (1.0 - alpha) * scene), 0, 255).astype(np.uint8)


def full_frame(square: np.ndarray, surround: np.ndarray, crop: tuple[int, int, int],
               source_size: tuple[int, int]) -> np.ndarray:
    """``square: (R, R, 3) uint8``, an image of the crop ``(x0, y0, side)`` of a ``source_size`` (W, H)
    video, put back into that video's whole frame: ``surround`` (the frame without the person, any
    size) resized to W × H · R / side (rounded to even sides), the square over it where it was cut
    from; parts of the square past the frame's edges (its padding) are left out."""
    r = square.shape[0]
    x0, y0, side = crop
    scale = r / side
    w, h = (max(2, 2 * round(v * scale / 2)) for v in source_size)
    shrink = w < surround.shape[1]
    out = cv2.resize(surround, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    ox, oy = round(x0 * scale), round(y0 * scale)
    left, top, right, bottom = max(0, ox), max(0, oy), min(w, ox + r), min(h, oy + r)
    if right > left and bottom > top:
        out[top:bottom, left:right] = square[top - oy:bottom - oy, left - ox:right - ox]
    return out


def stills_strip(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``[(reference, result)]`` of ``(R, R, 3)`` images → ``(2R, nR, 3)``: references over results."""
    return np.concatenate([np.concatenate([ref, out], axis=0) for ref, out in pairs], axis=1)


def still_frames(detected: np.ndarray, n: int = N_STILLS) -> list[int]:
    """Up to ``n`` evenly spaced frames among those with their own detected pose (``detected: (T,) bool``;
    all frames when none has): a frame without one — a fade from black, the dancer out of view —
    would show a reference picture that does not belong to its result."""
    candidates = np.flatnonzero(detected)
    if not len(candidates):
        candidates = np.arange(len(detected))
    picks = np.linspace(0, len(candidates) - 1, min(n, len(candidates))).round().astype(int)
    return sorted(set(candidates[picks].tolist()))


def _finite_mean(values: np.ndarray) -> float | None:
    """Mean of the finite values (a pose without a body scale is infinitely far), None if there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


@dataclass(frozen=True)
class TransferPaths:
    model: Path          # data/models/<video>/<variant>/model.pt
    personal: VideoPaths
    ref_frames: Path     # data/frames/<reference>.h5
    ref_pose: Path       # data/pose/<reference>.h5
    scene: Path          # the composite's background image (infer.background_image)


def transfer(out_dir: str | Path, paths: TransferPaths, spec: InputSpec, infer: InferParams,
             train_fraction: float) -> dict:
    """Drive the personal model with every frame of a reference video (transfer directory, module docstring).

    I_in of each frame is the personal training frame whose pose is nearest to the (retargeted)
    reference pose; P_ref stacks it with the K−1 previous reference poses. Videos are encoded as
    the frames come. Returns the stats written to ``stats.json``.
    """
    out_dir = Path(out_dir)
    device = compute_device()
    generators, resolution, _ = load_model(paths.model, device)
    posemap = spec.posemap
    scene = load_scene(paths.scene, resolution)
    with FrameStore(paths.personal.frames) as frames, PoseStore(paths.personal.pose) as pose, \
            FrameStore(paths.ref_frames) as ref_frames, PoseStore(paths.ref_pose) as ref_pose:
        if len(ref_frames) != len(ref_pose):
            raise DanceGenError(paths.ref_pose, f"has {len(ref_pose)} frames but {paths.ref_frames} "
                                f"has {len(ref_frames)} (re-run detect)")
        train_frames = valid_in(pose.valid, split_frames(len(pose), train_fraction)[0])
        if not len(train_frames):
            raise DanceGenError(paths.personal.pose, "has no valid frame in the training split to take I_in from")
        pool = pose.keypoints[train_frames]
        driving = driving_poses(ref_pose, pool, pose.size, infer, posemap.min_conf)
        n = len(ref_pose) if infer.max_frames == 0 else min(infer.max_frames, len(ref_pose))
        nearest, distance = nearest_training_poses(driving.poses[:n], pool, posemap.min_conf)
        if frames.surround is None or "crop" not in frames.attrs:
            raise DanceGenError(frames.path, "records no scene around its crop, which full.mp4 needs "
                                "(made before it did: re-run extract)")
        background = load_background(paths.personal.background)
        cond = InputBuilder(frames, pose, background, resolution, spec)
        with atomic_dir(out_dir) as tmp:
            _render_transfer(tmp, generators, cond, driving.poses[:n], train_frames[nearest], ref_frames,
                             scene, background, infer, posemap, device, still_frames(ref_pose.valid[:n]))
            stats = {"frames": n, "fps": ref_frames.fps, "reused_pose_frames": int(driving.reused[:n].sum()),
                     "interpolated_pose_frames": int(driving.interpolated[:n].sum()),
                     "mean_nearest_pose_distance": _finite_mean(distance),
                     "retarget_scale": driving.scale,
                     "jitter_raw": driving.jitter_raw, "jitter_smoothed": driving.jitter_smoothed,
                     "distinct_input_frames": int(len(np.unique(nearest)))}
            (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def _render_transfer(out: Path, generators: Generators, cond: InputBuilder, poses: np.ndarray,
                     inputs: np.ndarray, ref_frames: FrameStore, scene: np.ndarray, background: np.ndarray,
                     infer: InferParams, posemap: PosemapParams, device: torch.device, still_at: list[int]) -> None:
    """Generate frame by frame in batches and stream them into the videos, at the reference frames'
    rate and with their sound; collect the stills of frames ``still_at``. ``background``: the
    personal plate ``(S, S, 3)``, under the skeleton preview."""
    n, r = len(poses), cond.resolution
    all_valid = np.ones(n, bool)
    plate = resize_area(background, r)
    to_r = r / cond.size
    surround, framing = cond.frames.surround, cond.frames.attrs
    crop, source_size = tuple(int(v) for v in framing["crop"]), tuple(int(v) for v in framing["source_size"])
    stills = []
    fps, audio = ref_frames.fps, ref_frames.audio
    with VideoWriter(out / "result.mp4", fps, audio=audio) as result, \
            VideoWriter(out / "side_by_side.mp4", fps, audio=audio) as side, \
            VideoWriter(out / "composite.mp4", fps, audio=audio) as comp, \
            VideoWriter(out / "full.mp4", fps, audio=audio) as full, \
            VideoWriter(out / "skeleton.mp4", fps) as bones:
        for chunk in tqdm(list(batched(range(n), infer.batch_size)), desc="transfer", unit="batch"):
            samples = [cond.sample(int(inputs[t]), poses[history_indices(t, all_valid, posemap.K)]) for t in chunk]
            gen = generate(generators, samples, device)
            person = gen.person
            for i, t in enumerate(chunk):
                reference = resize_area(ref_frames[t], r)
                result.write(gen.final[i])
                side.write(np.concatenate([reference, gen.final[i]], axis=1))
                comp.write(composite(person[i], gen.matte[i], scene, infer.edge_blur))
                full.write(full_frame(gen.final[i], surround, crop, source_size))
                bones.write(draw_skeleton(plate, poses[t], to_r, posemap.min_conf))
                if t in still_at:
                    stills.append((reference, gen.final[i]))
    write_png(out / "stills.png", stills_strip(stills))
