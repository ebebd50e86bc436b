"""Motion transfer (paper 4.3): drive a personal model with every frame of a reference video.

Transfer directory ``data/transfer/<video>/<variant>/<reference>/`` (:func:`transfer`)
  ``result.mp4``         (H × H) I_out driven by the reference video at the render size H (``infer.size``),
                         one frame per reference frame, at the reference frames' rate, with the
                         reference's sound (when it has one) cut to its length
  ``side_by_side.mp4``   (H × 2H) reference frame resized to H | I_out, with the sound
  ``composite.mp4``      (H × H) the generated person over a new scene (Fig. 9), through the variant's
                         matte; with the sound
  ``skeleton.mp4``       (H × H) the driving (smoothed, retargeted) skeleton over the personal background plate
  ``full.mp4``           the personal video's own framing at its native size (shorter side at most 1080):
                         I_out pasted back where its square was cut from, over the scene around it
                         (:class:`dancegen.transfer.compositing.FullFrame`), with the sound
  ``stills.png``         up to 5 evenly spaced frames that have their own detected reference pose:
                         reference row over result row
  ``driving.h5``         what each output frame was asked to show (:class:`Driving`): the driving poses
                         in the personal frame's pixels and the personal frame each I_in was taken from
  ``stats.json``         ``frames``, ``fps``, ``render_size`` (H), ``reused_pose_frames`` (no detection: the last good pose),
                         ``interpolated_pose_frames`` (no detection: interpolated, ``infer.max_gap``),
                         ``mean_nearest_pose_distance``, ``retarget_scale`` (null when retargeting is off),
                         ``jitter_raw`` / ``jitter_smoothed`` (mean joint acceleration of the driving poses,
                         px/frame² of the personal frames, before / after smoothing; :func:`dancegen.transfer.retarget.jitter`),
                         ``distinct_input_frames`` (I_in), ``distinct_source_frames`` and ``parts_not_from_input``
                         (where the parts came from: per-part sources)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from dancegen.body.distances import nearest_poses
from dancegen.core.arrays import finite_mean
from dancegen.body.posemaps import draw_skeleton, history_indices
from dancegen.core.config import InferParams, InputSpec, PosemapParams
from dancegen.core.errors import DanceGenError
from dancegen.core.images import central_square, resize_area, write_png
from dancegen.model.inputs import InputBuilder
from dancegen.model.personal import PersonalVideo
from dancegen.transfer.compositing import FullFrame, composite
from dancegen.transfer.infer import Generated, Renderer, batched, open_renderer
from dancegen.transfer.retarget import Placement, body_frame, jitter, size_ratio, smooth_poses
from dancegen.core.store import FrameStore, PoseStore, atomic_dir
from dancegen.preprocess.video import VideoWriter

N_STILLS = 5


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
    """Smooth the reference's keypoint tracks (:func:`dancegen.transfer.retarget.smooth_poses`), give frames
    still without a pose the last good one, then place them in the target's frame
    (:class:`dancegen.transfer.retarget.Placement`, as live does): retargeted onto the target's body
    and stage or, with ``infer.retarget`` off, only rescaled to the target's frame size. Jitter is
    measured on the same frames with and without the smoothing."""
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
        if size_ratio(ref, target) is None:
            raise DanceGenError(ref_pose.path, "cannot retarget: it and the personal video never show the "
                                "same bone (torso, arms or legs); set infer.retarget: false")
        place = Placement(target_size, ref_pose.size, min_conf, ref, target)
    else:
        place = Placement(target_size, ref_pose.size, min_conf)
    detected = ref_pose.valid[:, None] & (ref_pose.keypoints[..., 2] >= min_conf)
    poses = place(filled)
    return DrivingPoses(poses, reused, interpolated, place.scale, jitter(place(raw_filled), detected),
                        jitter(poses, detected))


@dataclass(frozen=True)
class Driving:
    """What a transfer was asked to show: its ``driving.h5``, read by the judge stage."""

    poses: np.ndarray      # (T, 133, 3) driving poses in pixels of the personal S×S frame
    inputs: np.ndarray     # (T,) int, the personal frame each output's I_in was taken from

    @classmethod
    def read(cls, path: str | Path) -> Driving:
        with h5py.File(path, "r") as f:
            return cls(f["poses"][:], f["inputs"][:])

    def write(self, path: Path) -> None:
        """``driving.h5``: ``poses (T, 133, 3) float32``, ``inputs (T,) int64``."""
        with h5py.File(path, "w") as f:
            f["poses"] = self.poses.astype(np.float32)
            f["inputs"] = self.inputs.astype(np.int64)


def load_scene(path: str | Path, size: int) -> np.ndarray:
    """The composite's new background: the image's central square, resized → ``(size, size, 3) uint8 RGB``."""
    path = Path(path)
    if str(path) in ("", "."):
        raise DanceGenError("params.yaml", "'infer.background_image' is empty: name an image for the composite")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        raise DanceGenError(path, "not found or not an image (infer.background_image; "
                            "the demo stage writes data/demo/scene.png)")
    return cv2.cvtColor(central_square(image, size), cv2.COLOR_BGR2RGB)


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


@dataclass(frozen=True)
class TransferPaths:
    model: Path          # data/models/<video>/<variant>/model.pt
    ref_frames: Path     # data/frames/<reference>.h5
    ref_pose: Path       # data/pose/<reference>.h5
    scene: Path          # the composite's background image (infer.background_image)


def transfer(out_dir: str | Path, video: PersonalVideo, paths: TransferPaths, spec: InputSpec,
             infer: InferParams) -> dict:
    """Drive the personal model with every frame of a reference video (transfer directory, module docstring).

    I_in of each frame is the personal training frame whose pose is nearest to the (retargeted)
    reference pose; P_ref stacks it with the K−1 previous reference poses. The nets run at the
    model's R, the videos are rendered at ``infer.size`` (:class:`dancegen.transfer.infer.Renderer`)
    and encoded as the frames come. Returns the stats written to ``stats.json``.
    """
    min_conf = spec.posemap.min_conf
    train_frames = video.require_training_frames()
    if video.frames.surround is None or "crop" not in video.frames.attrs:
        raise DanceGenError(video.paths.frames, "records no scene around its crop, which full.mp4 needs "
                            "(made before it did: re-run extract)")
    renderer, _ = open_renderer(paths.model, video, spec, infer.size, infer.engine)
    with FrameStore(paths.ref_frames) as ref_frames, PoseStore(paths.ref_pose) as ref_pose:
        if len(ref_frames) != len(ref_pose):
            raise DanceGenError(paths.ref_pose, f"has {len(ref_pose)} frames but {paths.ref_frames} "
                                f"has {len(ref_frames)} (re-run detect)")
        driving = driving_poses(ref_pose, video.training_poses, video.size, infer, min_conf)
        n = len(ref_pose) if infer.max_frames == 0 else min(infer.max_frames, len(ref_pose))
        nearest, distance = nearest_poses(driving.poses[:n], video.training_poses, min_conf)
        render = _Render(renderer, load_scene(paths.scene, renderer.size), resize_area(video.background, renderer.size),
                         _full_framing(video), infer, spec.posemap)
        with atomic_dir(out_dir) as tmp:
            asked = Driving(driving.poses[:n], train_frames[nearest])
            render.videos(tmp, asked.poses, asked.inputs, ref_frames, still_frames(ref_pose.valid[:n]))
            asked.write(tmp / "driving.h5")
            stats = {"frames": n, "fps": ref_frames.fps, "render_size": renderer.size, "engine": renderer.engine,
                     "reused_pose_frames": int(driving.reused[:n].sum()),
                     "interpolated_pose_frames": int(driving.interpolated[:n].sum()),
                     "mean_nearest_pose_distance": finite_mean(distance),
                     "retarget_scale": driving.scale,
                     "jitter_raw": driving.jitter_raw, "jitter_smoothed": driving.jitter_smoothed,
                     "distinct_input_frames": int(len(np.unique(nearest))),
                     **_source_stats(renderer.builder, asked)}
            (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def _source_stats(builder: InputBuilder, asked: Driving) -> dict:
    """Where the parts came from: ``distinct_source_frames`` (training frames any part was taken
    from; ``distinct_input_frames`` with every part from I_in) and ``parts_not_from_input`` (the share
    of parts taken from another frame than I_in; 0 with ``sources.mode: single``)."""
    sources = np.stack([builder.sources(int(t), pose) for t, pose in zip(asked.inputs, asked.poses)])  # (n, 10)
    return {"distinct_source_frames": int(len(np.unique(sources))),
            "parts_not_from_input": float(np.mean(sources != asked.inputs[:, None])) if len(sources) else 0.0}


def _full_framing(video: PersonalVideo) -> FullFrame:
    """:class:`FullFrame` of ``video``'s own framing (its scene around the crop, read once)."""
    attrs = video.frames.attrs
    return FullFrame(video.frames.surround, tuple(int(v) for v in attrs["crop"]),
                     tuple(int(v) for v in attrs["source_size"]))


@dataclass(frozen=True)
class _Render:
    """What the transfer videos are drawn with: the model with the personal video's inputs, two
    backgrounds at the render size H, the full-frame paste-back and the params."""

    renderer: Renderer
    scene: np.ndarray    # (H, H, 3) uint8 RGB, the composite's background
    plate: np.ndarray    # (H, H, 3) uint8 RGB, the personal background plate under the skeleton preview
    to_full: FullFrame   # an (H, H, 3) output → the personal video's framing at its native size
    infer: InferParams
    posemap: PosemapParams

    def videos(self, out: Path, poses: np.ndarray, inputs: np.ndarray, ref_frames: FrameStore,
               still_at: list[int]) -> None:
        """Generate frame by frame in batches (I_in of frame t: ``inputs[t]``, P_ref from ``poses``)
        and stream them into the videos, at the reference frames' rate and with their sound; write
        the stills of frames ``still_at``."""
        n, all_valid, stills = len(poses), np.ones(len(poses), bool), []
        fps, audio = ref_frames.fps, ref_frames.audio
        with VideoWriter(out / "result.mp4", fps, audio=audio) as result, \
                VideoWriter(out / "side_by_side.mp4", fps, audio=audio) as side, \
                VideoWriter(out / "composite.mp4", fps, audio=audio) as comp, \
                VideoWriter(out / "full.mp4", fps, audio=audio) as full, \
                VideoWriter(out / "skeleton.mp4", fps) as bones:
            for chunk in tqdm(list(batched(range(n), self.infer.batch_size)), desc="transfer", unit="batch"):
                gen = self.renderer([(int(inputs[t]), poses[history_indices(t, all_valid, self.posemap.K)])
                                     for t in chunk])
                for i, t in enumerate(chunk):
                    reference = resize_area(ref_frames[t], self.renderer.size)
                    for writer, frame in zip((result, side, comp, full, bones), self._frames(gen, i, poses[t], reference)):
                        writer.write(frame)
                    if t in still_at:
                        stills.append((reference, gen.final[i]))
        write_png(out / "stills.png", stills_strip(stills))

    def _frames(self, gen: Generated, i: int, pose: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, ...]:
        """Output i of ``gen`` as the five videos' frames: result, side by side, composite, full, skeleton."""
        final, size, frame_size = gen.final[i], self.renderer.size, self.renderer.builder.size
        # infer.edge_blur is in pixels of the model's resolution R: the same edge at any render size.
        blur = self.infer.edge_blur * size / self.renderer.builder.resolution
        return (final, np.concatenate([reference, final], axis=1),
                composite(gen.person[i], gen.matte[i], self.scene, blur), self.to_full(final),
                draw_skeleton(self.plate, pose, size / frame_size, self.posemap.min_conf))
