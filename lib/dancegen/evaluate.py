"""Numerical evaluation on the test set (paper 4.4): Tables 1–3 and Fig. 10.

For each personal video and variant, from its infer file (:mod:`dancegen.infer`) and the video's
frames and pose files, at the model's resolution R:

* **whole / foreground** (Tables 1, 2): MSE (0–255), PSNR (dB) and SSIM of I_out against the
  reference frame, per test pair, then averaged over the pairs. The ground truth is the reference
  frame resized to R as the model saw it in training (``cv2.INTER_AREA``); the foreground is the
  detected person (mask ≥ ``mask_threshold``) resized likewise and kept where ≥ 0.5. A frame
  whose mask is empty at R has no foreground score. PSNR is infinite for an exact match and is
  written as null.
* **difference** (Table 3): MSE of the generated difference frame I_out^t − I_out^{t−1} against the
  true one, over the consecutive run's neighbouring frames (t and t−1 both in the run), whole and
  over the union of the two frames' person masks.
* **novelty** (Fig. 10): for each run frame, :func:`dancegen.metrics.pose_novelty` of its pose
  against the valid training poses, paired with that frame's whole-frame SSIM.

:func:`evaluate` returns an :class:`Evaluation`; its tables are the per-frame CSVs:
  ``pairs``    video, variant, in_frame, ref_frame, mse, psnr, ssim, fg_mse, fg_psnr, fg_ssim
  ``run``      video, variant, frame, ssim, diff_mse, diff_fg_mse, novelty
  ``novelty``  video, variant, frame, novelty, ssim
and ``metrics`` is the ``reports/metrics.json`` document:
  ``{video: {variant: {whole: {mse, psnr, ssim}, foreground: {mse, psnr, ssim},
  difference: {whole, foreground}, pairs, run_frames, config: {resolution, iterations, vgg_used,
  sp_used}}}, MEAN_KEY: {variant: {whole, foreground, difference, videos}}}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from dancegen import metrics
from dancegen.dataset import resize_area
from dancegen.errors import DanceGenError
from dancegen.pairs import split_frames, valid_in
from dancegen.store import FrameStore, PoseStore

MEAN_KEY = "mean_over_videos"
SCORES = ("mse", "psnr", "ssim")
PAIR_COLUMNS = ("video", "variant", "in_frame", "ref_frame", "mse", "psnr", "ssim", "fg_mse", "fg_psnr", "fg_ssim")
RUN_COLUMNS = ("video", "variant", "frame", "ssim", "diff_mse", "diff_fg_mse", "novelty")
NOVELTY_COLUMNS = ("video", "variant", "frame", "novelty", "ssim")


@dataclass
class Evaluation:
    metrics: dict
    pairs: pd.DataFrame
    run: pd.DataFrame
    novelty: pd.DataFrame


class GroundTruth:
    """Reference frames and person masks of one personal video at resolution R."""

    def __init__(self, frames: FrameStore, pose: PoseStore, resolution: int, mask_threshold: float):
        if len(frames) != len(pose) or frames.size != pose.size:
            raise DanceGenError(pose.path, f"has {len(pose)} frames of {pose.size}² but {frames.path} "
                                f"has {len(frames)} of {frames.size}² (re-run detect)")
        self.frames, self.pose = frames, pose
        self.resolution, self.threshold = resolution, mask_threshold

    def __call__(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame t as ``(R, R, 3) uint8 RGB`` and its person mask ``(R, R) bool``."""
        person = (self.pose.mask(t) >= self.threshold * 255).astype(np.float32)
        return resize_area(self.frames[t], self.resolution), resize_area(person, self.resolution) >= 0.5


def _scores(generated: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> tuple[float, float, float]:
    """(MSE, PSNR, SSIM), all NaN when ``mask`` selects nothing."""
    if mask is not None and not mask.any():
        return math.nan, math.nan, math.nan
    error = metrics.mse(generated, truth, mask)
    return error, metrics.psnr_from_mse(error), metrics.ssim(generated, truth, mask)


def score_pairs(generated: h5py.Dataset, index: np.ndarray, truth: GroundTruth) -> pd.DataFrame:
    """Per test pair: whole and foreground scores; ``generated: (N, R, R, 3)``, ``index: (N, 2)`` in, ref."""
    rows = []
    for i, (t_in, t_ref) in enumerate(tqdm(index, desc="pairs", unit="pair", leave=False)):
        image, mask = truth(int(t_ref))
        out = generated[i]
        rows.append((int(t_in), int(t_ref), *_scores(out, image, None), *_scores(out, image, mask)))
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS[2:]))


def score_run(generated: h5py.Dataset, frames: np.ndarray, truth: GroundTruth) -> pd.DataFrame:
    """Per run frame: whole SSIM and the difference-frame MSEs against the previous frame (NaN for a
    frame whose predecessor is not in the run); ``generated: (M, R, R, 3)``, ``frames: (M,)``."""
    rows = []
    prev = None
    for i, t in enumerate(tqdm(frames, desc="run", unit="frame", leave=False)):
        image, mask = truth(int(t))
        out = generated[i]
        diff = diff_fg = math.nan
        if prev is not None and prev[0] == t - 1:
            _, prev_out, prev_image, prev_mask = prev
            diff = metrics.difference_mse(prev_out, out, prev_image, image)
            union = prev_mask | mask
            if union.any():
                diff_fg = metrics.difference_mse(prev_out, out, prev_image, image, union)
        rows.append((int(t), metrics.ssim(out, image), diff, diff_fg))
        prev = (int(t), out, image, mask)
    return pd.DataFrame(rows, columns=["frame", "ssim", "diff_mse", "diff_fg_mse"])


def _mean(values) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


def _summary(pairs: pd.DataFrame, run: pd.DataFrame) -> dict:
    return {"whole": {k: _mean(pairs[k]) for k in SCORES},
            "foreground": {k: _mean(pairs[f"fg_{k}"]) for k in SCORES},
            "difference": {"whole": _mean(run["diff_mse"]), "foreground": _mean(run["diff_fg_mse"])}}


def _model_config(attrs: dict) -> dict:
    meta = json.loads(attrs.get("model_meta", "{}"))
    return {"resolution": int(attrs["resolution"]), "iterations": meta.get("steps"),
            "vgg_used": meta.get("vgg_used"), "sp_used": meta.get("sp_used")}


def evaluate_variant(infer_path: str | Path, frames_path: str | Path, pose_path: str | Path,
                     train_fraction: float, mask_threshold: float, novelty_k: int) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Scores of one infer file → (summary for metrics.json, pairs table, run table with novelty)."""
    infer_path = Path(infer_path)
    if not infer_path.is_file():
        raise DanceGenError(infer_path, "not found (run the infer stage first: dvc repro)")
    with h5py.File(infer_path, "r") as f, FrameStore(frames_path) as frames, PoseStore(pose_path) as pose:
        missing = {"pairs_out", "pairs_index", "run_out", "run_frames"} - set(f)
        if missing:
            raise DanceGenError(infer_path, f"is not a dancegen infer file (missing {sorted(missing)})")
        attrs = dict(f.attrs)
        truth = GroundTruth(frames, pose, int(attrs["resolution"]), mask_threshold)
        pairs = score_pairs(f["pairs_out"], f["pairs_index"][:], truth)
        run_frames = f["run_frames"][:]
        run = score_run(f["run_out"], run_frames, truth)
        train = valid_in(pose.valid, split_frames(len(pose), train_fraction)[0])
        try:
            run["novelty"] = metrics.pose_novelty(pose.keypoints[run_frames], pose.keypoints[train], novelty_k)
        except ValueError as err:
            raise DanceGenError(pose_path, f"pose novelty: {err} (evaluate.novelty_k)") from None
    summary = {**_summary(pairs, run), "pairs": len(pairs), "run_frames": len(run),
               "config": _model_config(attrs)}
    return summary, pairs, run


def _means_over_videos(per_video: dict[str, dict[str, dict]]) -> dict:
    out = {}
    variants = sorted({v for by_variant in per_video.values() for v in by_variant})
    for variant in variants:
        entries = [by_variant[variant] for by_variant in per_video.values() if variant in by_variant]

        def mean(group: str, key: str) -> float | None:
            return _mean([np.nan if e[group][key] is None else e[group][key] for e in entries])

        out[variant] = {"whole": {k: mean("whole", k) for k in SCORES},
                        "foreground": {k: mean("foreground", k) for k in SCORES},
                        "difference": {k: mean("difference", k) for k in ("whole", "foreground")},
                        "videos": len(entries)}
    return out


def evaluate(inputs: dict[str, tuple[Path, Path]], variants: list[str], infer_dir: str | Path,
             train_fraction: float, mask_threshold: float, novelty_k: int) -> Evaluation:
    """Evaluate every variant of every video: ``inputs`` maps a video to its (frames file, pose file);
    its infer files are ``<infer_dir>/<video>/<variant>.h5``."""
    if MEAN_KEY in inputs:
        raise DanceGenError("params.yaml", f"a personal video may not be named '{MEAN_KEY}' (a metrics key)")
    per_video: dict[str, dict[str, dict]] = {}
    pair_tables, run_tables = [], []
    for video, (frames_path, pose_path) in inputs.items():
        per_video[video] = {}
        for variant in variants:
            summary, pairs, run = evaluate_variant(Path(infer_dir) / video / f"{variant}.h5", frames_path,
                                                   pose_path, train_fraction, mask_threshold, novelty_k)
            per_video[video][variant] = summary
            pair_tables.append(pairs.assign(video=video, variant=variant))
            run_tables.append(run.assign(video=video, variant=variant))
    pairs = pd.concat(pair_tables, ignore_index=True)[list(PAIR_COLUMNS)]
    run = pd.concat(run_tables, ignore_index=True)[list(RUN_COLUMNS)]
    return Evaluation({**per_video, MEAN_KEY: _means_over_videos(per_video)}, pairs, run,
                      run[list(NOVELTY_COLUMNS)])


def finite_json(document: dict) -> str:
    """``document`` as JSON with NaN and infinities as null (JSON has no other spelling for them)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(clean(document), indent=2, allow_nan=False) + "\n"
