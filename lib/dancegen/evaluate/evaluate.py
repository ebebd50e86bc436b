"""Numerical evaluation on the test set (paper 4.4): Tables 1–3 and Fig. 10.

For each personal video and variant, from its infer file (:mod:`dancegen.transfer.infer`) and the video's
frames and pose files, at the model's resolution R — and for the trivial baselines of
:mod:`dancegen.evaluate.baselines` (input frame copied, background plate, tangram over B_in) on the same
pairs and run, so every table shows whether a model learnt anything:

* **whole / foreground** (Tables 1, 2): MSE (0–255), PSNR (dB) and SSIM of I_out against the
  reference frame, per test pair, then averaged over the pairs. The ground truth is the reference
  frame resized to R as the model saw it in training (``cv2.INTER_AREA``); the foreground is the
  reference person (:func:`dancegen.model.inputs.person_region`) resized likewise and kept where ≥ 0.5.
  A frame whose mask is empty at R has no foreground score. PSNR is infinite for an exact match
  and is written as null.
* **background region**: the same scores over the pixels outside the reference person grown by
  ``background.dilate_px`` (scaled to R): how well the scene is kept.
* **difference** (Table 3): MSE of the generated difference frame I_out^t − I_out^{t−1} against the
  true one, over the consecutive run's neighbouring frames (t and t−1 both in the run), whole and
  over the union of the two frames' person masks.
* **at the render size H** (``infer.size`` > R): the test pairs again at H — each model's HD render,
  its R output upsampled, the input frame and the tangram at H — with the perceptual distance and
  the sharpness ratio besides PSNR / SSIM (:mod:`dancegen.evaluate.hd`).
* **novelty** (Fig. 10): for each run frame, :func:`dancegen.evaluate.metrics.pose_novelty` of its pose
  against the valid training poses, paired with that frame's whole-frame SSIM.

:func:`evaluate_video` returns the :class:`Evaluation` of one personal video (the evaluate stage
writes it to ``reports/eval/<video>/``); its tables are the per-frame CSVs:
  ``pairs``    variant, in_frame, ref_frame, mse, psnr, ssim, fg_mse, fg_psnr, fg_ssim,
               bg_mse, bg_psnr, bg_ssim
  ``run``      variant, frame, ssim, diff_mse, diff_fg_mse, novelty
  ``novelty``  variant, frame, novelty, ssim
  ``pairs_hd`` :mod:`dancegen.evaluate.hd`'s table (empty when the models render at R)
and ``metrics`` is ``{variant or baseline: {whole: {mse, psnr, ssim}, foreground: {…}, background:
{…}, difference: {whole, foreground}, pairs, run_frames, config: {resolution, iterations,
perceptual, compose, upsample, synthesis_target, vgg_used, sp_used} (baselines: {resolution,
baseline: true}), hd: the scores at H (models: their HD render), hd_upsampled (models: their R
output upsampled)}}``; ``hd`` keys only where H > R, on the variants and the input frame and tangram.
:func:`metrics_document` gathers the videos into the ``reports/metrics.json`` document:
``{video: that, MEAN_KEY: {variant or baseline: {whole, foreground, background, difference, videos}}}``.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from dancegen.evaluate import metrics
from dancegen.evaluate.baselines import BASELINES, BaselineImages
from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.evaluate.figures import figure_test_results
from dancegen.evaluate.hd import HD_COLUMNS, UPSAMPLED, evaluate_hd
from dancegen.core.images import resize_area
from dancegen.model.inputs import person_region
from dancegen.core.layout import infer_file
from dancegen.model.personal import PersonalVideo
from dancegen.core.store import atomic_dir

MEAN_KEY = "mean_over_videos"
SCORES = ("mse", "psnr", "ssim")
GROUPS = ("whole", "foreground", "background")
PAIR_COLUMNS = ("variant", "in_frame", "ref_frame", "mse", "psnr", "ssim", "fg_mse", "fg_psnr", "fg_ssim",
                "bg_mse", "bg_psnr", "bg_ssim")
RUN_COLUMNS = ("variant", "frame", "ssim", "diff_mse", "diff_fg_mse", "novelty")
NOVELTY_COLUMNS = ("variant", "frame", "novelty", "ssim")


@dataclass
class Evaluation:
    metrics: dict
    pairs: pd.DataFrame
    run: pd.DataFrame
    novelty: pd.DataFrame
    pairs_hd: pd.DataFrame      # the test pairs at the render size (:mod:`dancegen.evaluate.hd`); empty at H = R


class GroundTruth:
    """Reference frames, person masks and background regions of one personal video at resolution R,
    each frame's made once (every variant and baseline is scored against the same test frames)."""

    def __init__(self, video: PersonalVideo, resolution: int, spec: InputSpec):
        self.frames, self.pose = video.frames, video.pose
        self.resolution, self.threshold = resolution, spec.mask_threshold
        grow = max(1, round(spec.scene_dilate_px * resolution / video.size))
        self._grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
        self._made: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame t as ``(R, R, 3) uint8 RGB``, its person ``(R, R) bool`` and its background
        region ``(R, R) bool`` (outside the grown person)."""
        if t not in self._made:
            person = person_region(self.pose.parsing(t), self.pose.mask(t), self.threshold)
            small = resize_area(person.astype(np.float32), self.resolution)
            grown = cv2.dilate((small > 0).astype(np.uint8), self._grow).astype(bool)
            self._made[t] = (resize_area(self.frames[t], self.resolution), small >= 0.5, ~grown)
        return self._made[t]


def score_pairs(generated, index: np.ndarray, truth: GroundTruth) -> pd.DataFrame:
    """Per test pair: whole, foreground and background-region scores; ``generated[i]``: pair i's
    ``(R, R, 3) uint8`` (an HDF5 dataset or :class:`BaselineImages`), ``index: (N, 2)`` in, ref."""
    rows = []
    for i, (t_in, t_ref) in enumerate(tqdm(index, desc="pairs", unit="pair", leave=False)):
        image, mask, scene = truth(int(t_ref))
        whole, fg, bg = metrics.region_scores(generated[i], image, (None, mask, scene))
        rows.append((int(t_in), int(t_ref), *whole, *fg, *bg))
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS[1:]))


def score_run(generated, frames: np.ndarray, truth: GroundTruth) -> pd.DataFrame:
    """Per run frame: whole SSIM and the difference-frame MSEs against the previous frame (NaN for a
    frame whose predecessor is not in the run); ``generated: (M, R, R, 3)``, ``frames: (M,)``."""
    rows = []
    prev = None
    for i, t in enumerate(tqdm(frames, desc="run", unit="frame", leave=False)):
        image, mask, _ = truth(int(t))
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
            "background": {k: _mean(pairs[f"bg_{k}"]) for k in SCORES},
            "difference": {"whole": _mean(run["diff_mse"]), "foreground": _mean(run["diff_fg_mse"])},
            "pairs": len(pairs), "run_frames": len(run)}


def _model_config(attrs: dict) -> dict:
    meta = json.loads(attrs.get("model_meta", "{}"))
    return {"resolution": int(attrs["resolution"]), "iterations": meta.get("steps"),
            "compose": meta.get("compose"), "upsample": meta.get("upsample"), "sources": meta.get("sources"),
            "synthesis_target": meta.get("synthesis_target"), "perceptual": meta.get("perceptual"),
            "vgg_used": meta.get("vgg_used"), "sp_used": meta.get("sp_used"), "engine": attrs.get("engine", "torch"),
            "hd_refiner": (meta.get("refine") or {}).get("size")}


def _novelty(video: PersonalVideo, run_frames: np.ndarray, novelty_k: int, min_conf: float) -> np.ndarray:
    try:
        return metrics.pose_novelty(video.pose.keypoints[run_frames], video.training_poses, novelty_k, min_conf)
    except ValueError as err:
        raise DanceGenError(video.paths.pose, f"pose novelty: {err} (evaluate.novelty_k)") from None


def _open_infer(infer_path: Path) -> h5py.File:
    if not infer_path.is_file():
        raise DanceGenError(infer_path, "not found (run the infer stage first: dvc repro)")
    f = h5py.File(infer_path, "r")
    missing = {"pairs_out", "pairs_index", "run_out", "run_frames"} - set(f)
    if missing:
        f.close()
        raise DanceGenError(infer_path, f"is not a dancegen infer file (missing {sorted(missing)})")
    return f


def evaluate_variant(infer_path: str | Path, video: PersonalVideo, spec: InputSpec, novelty_k: int,
                     truth_at) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Scores of one infer file → (summary for metrics.json, pairs table, run table with novelty);
    ``truth_at(size)``: the :class:`GroundTruth` at a size."""
    with _open_infer(Path(infer_path)) as f:
        attrs = dict(f.attrs)
        truth = truth_at(int(attrs["resolution"]))
        pairs = score_pairs(f["pairs_out"], f["pairs_index"][:], truth)
        run_frames = f["run_frames"][:]
        run = score_run(f["run_out"], run_frames, truth)
        run["novelty"] = _novelty(video, run_frames, novelty_k, spec.posemap.min_conf)
    return {**_summary(pairs, run), "config": _model_config(attrs)}, pairs, run


def evaluate_baselines(infer_path: str | Path, video: PersonalVideo, spec: InputSpec, novelty_k: int,
                       truth_at) -> dict[str, tuple[dict, pd.DataFrame, pd.DataFrame]]:
    """Every baseline of :mod:`dancegen.evaluate.baselines` scored on the pairs and run of ``infer_path``
    (at its resolution, with its run's fixed input frame) → {baseline: (summary, pairs, run)};
    ``truth_at`` as :func:`evaluate_variant`'s."""
    with _open_infer(Path(infer_path)) as f:
        resolution, index = int(f.attrs["resolution"]), f["pairs_index"][:]
        run_frames, run_input = f["run_frames"][:], int(f.attrs["run_input_frame"])
    truth, builder, K = truth_at(resolution), video.builder(resolution, spec), spec.posemap.K
    pair_jobs = [(int(a), video.history(int(b), K), int(b)) for a, b in index]
    run_jobs = [(run_input, video.history(int(t), K), int(t)) for t in run_frames]
    novelty = _novelty(video, run_frames, novelty_k, spec.posemap.min_conf)
    out = {}
    for name in BASELINES:
        pairs = score_pairs(BaselineImages(name, builder, pair_jobs), index, truth)
        run = score_run(BaselineImages(name, builder, run_jobs), run_frames, truth)
        run["novelty"] = novelty
        out[name] = ({**_summary(pairs, run), "config": {"resolution": resolution, "baseline": True}}, pairs, run)
    return out


def _means_over_videos(per_video: dict[str, dict[str, dict]]) -> dict:
    out = {}
    variants = sorted({v for by_variant in per_video.values() for v in by_variant})
    for variant in variants:
        entries = [by_variant[variant] for by_variant in per_video.values() if variant in by_variant]

        def mean(group: str, key: str) -> float | None:
            return _mean([np.nan if e[group][key] is None else e[group][key] for e in entries])

        out[variant] = {**{group: {k: mean(group, k) for k in SCORES} for group in GROUPS},
                        "difference": {k: mean("difference", k) for k in ("whole", "foreground")},
                        "videos": len(entries)}
        for key in ("hd", "hd_upsampled"):
            if all(key in e for e in entries):
                out[variant][key] = _nested_mean([e[key] for e in entries])
    return out


def _nested_mean(documents: list[dict]) -> dict:
    """The mean of every number of equally shaped nested dicts (None where none is finite)."""
    out = {}
    for key, value in documents[0].items():
        if isinstance(value, dict):
            out[key] = _nested_mean([d[key] for d in documents])
        else:
            out[key] = _mean([np.nan if d[key] is None else d[key] for d in documents])
    return out


def evaluate_video(video: PersonalVideo, variants: list[str], data: str | Path, spec: InputSpec,
                   novelty_k: int) -> Evaluation:
    """Evaluate every variant of one personal video, and the baselines on the same test pairs: its
    infer files are :func:`dancegen.core.layout.infer_file` under ``data``; ``metrics`` is ``{variant or
    baseline: summary}``, the tables have no ``video`` column."""
    clash = set(variants) & set(BASELINES)
    if clash:
        raise DanceGenError("params.yaml", f"'train.variants' may not name a baseline ({sorted(clash)})")
    if not variants:
        raise DanceGenError("params.yaml", "'train.variants' is empty: there is nothing to evaluate")
    infer_files = {variant: infer_file(video.name, variant, data) for variant in variants}
    truth_at = functools.cache(lambda size: GroundTruth(video, size, spec))    # one per size, shared
    results = {variant: evaluate_variant(path, video, spec, novelty_k, truth_at)
               for variant, path in infer_files.items()}
    results.update(evaluate_baselines(infer_files[variants[0]], video, spec, novelty_k, truth_at))
    pairs = pd.concat([p.assign(variant=name) for name, (_, p, _) in results.items()], ignore_index=True)
    run = pd.concat([r.assign(variant=name) for name, (_, _, r) in results.items()], ignore_index=True)
    run = run[list(RUN_COLUMNS)]
    summaries = {name: summary for name, (summary, _, _) in results.items()}
    hd = evaluate_hd(infer_files, video, spec, truth_at)
    if hd is not None:
        for output, summary in hd[0].items():
            name, upsampled = output.removesuffix(UPSAMPLED), output.endswith(UPSAMPLED)
            summaries[name]["hd_upsampled" if upsampled else "hd"] = summary
    pairs_hd = hd[1] if hd is not None else pd.DataFrame(columns=list(HD_COLUMNS))
    return Evaluation(summaries, pairs[list(PAIR_COLUMNS)], run, run[list(NOVELTY_COLUMNS)], pairs_hd)


def write_evaluation(out_dir: str | Path, video: PersonalVideo, variants: list[str], data: str | Path,
                     spec: InputSpec, novelty_k: int) -> Evaluation:
    """The evaluate stage: :func:`evaluate_video`, written to the directory ``out_dir``
    (``reports/eval/<video>/``: ``metrics.json``, ``pairs.csv``, ``run.csv``, ``novelty.csv``,
    ``pairs_hd.csv`` and the Fig. 6 figure ``test_results.png``), which appears or is replaced only when complete."""
    result = evaluate_video(video, variants, data, spec, novelty_k)
    with atomic_dir(out_dir) as tmp:
        (tmp / "metrics.json").write_text(finite_json(result.metrics))
        for name, table in (("pairs", result.pairs), ("run", result.run), ("novelty", result.novelty),
                            ("pairs_hd", result.pairs_hd)):
            table.to_csv(tmp / f"{name}.csv", index=False)
        figure_test_results(video, data, variants, spec, tmp / "test_results.png")
    return result


def metrics_document(per_video: dict[str, dict[str, dict]]) -> dict:
    """The ``reports/metrics.json`` document (module docstring) from each personal video's
    :attr:`Evaluation.metrics`: the videos' scores and their means over videos."""
    if MEAN_KEY in per_video:
        raise DanceGenError("params.yaml", f"a personal video may not be named '{MEAN_KEY}' (a metrics key)")
    return {**per_video, MEAN_KEY: _means_over_videos(per_video)}


def finite_json(document: dict) -> str:
    """``document`` as JSON with NaN and infinities as null (JSON has no other spelling for them)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(clean(document), indent=2, allow_nan=False) + "\n"
