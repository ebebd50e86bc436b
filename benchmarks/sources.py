"""Per-part sources without training: the tangram of each form on the test pairs, and the index's cost.

    .venv/bin/python benchmarks/sources.py tangram --work /tmp/dancegen-hd --clips woman basketball fashion \
        --weights 2,1,0 2,1,0.15
    .venv/bin/python benchmarks/sources.py index --work /tmp/dancegen-hd --clips woman

``tangram``: for every preprocessed clip (``<work>/<clip>/base``, as ``quality.py`` or ``hd.py`` leave
it), the tangram over B_in (no network) on the test pairs at R = 128, scored against the true frames
(whole and foreground SSIM / PSNR, :mod:`dancegen.evaluate.evaluate`'s scorers), under
  * ``single``          the paper's: every part from the pair's I_in (random, as the test pairs are drawn)
  * ``single_nearest``  every part from the training frame of nearest whole-body pose (transfer's I_in)
  * ``per_part``        each part from its own frame (:mod:`dancegen.model.sources`), for each
                        ``--weights w_context,w_visible,keep_margin``, over either I_in above (the
                        frame that keeps each part unless another poses it nearer by the margin)
with the distinct source frames used and the seam measure: the mean |ΔL*| (CIELAB lightness) between
each part in its source frame and the same part in the true frame.

``index``: build and query time of :class:`dancegen.model.sources.PartIndex` at growing video
lengths (a clip's training poses tiled), so that query time is seen flat in the length.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from dancegen.body.distances import pose_distances  # noqa: E402
from dancegen.body.skeleton import PARTS  # noqa: E402
from dancegen.core.config import load_params  # noqa: E402
from dancegen.core.layout import VideoPaths  # noqa: E402
from dancegen.evaluate.baselines import baseline_image  # noqa: E402
from dancegen.evaluate.evaluate import GroundTruth, score_pairs  # noqa: E402
from dancegen.model.personal import PersonalVideo  # noqa: E402
from dancegen.model.sources import PartIndex, frame_visibility  # noqa: E402
from dancegen.transfer.infer import read_test_pairs  # noqa: E402

R = 128


def part_lightness(video: PersonalVideo, t: int, cache: dict) -> dict[int, float]:
    """Mean L* (CIELAB, 0..100) of every part label with 20+ pixels in frame t (cached)."""
    if t not in cache:
        parsing = video.pose.parsing(t)
        lightness = cv2.cvtColor(video.frames[t], cv2.COLOR_RGB2LAB)[..., 0].astype(np.float64) * 100 / 255
        cache[t] = {p.label: float(lightness[parsing == p.label].mean()) for p in PARTS
                    if (parsing == p.label).sum() >= 20}
    return cache[t]


def lightness_gap(video: PersonalVideo, sources: np.ndarray, t_ref: int, cache: dict) -> float:
    """Mean over parts of |mean L* of part i in frame sources[i] − mean L* of part i in frame t_ref|."""
    truth = part_lightness(video, t_ref, cache)
    gaps = [abs(part_lightness(video, int(t), cache)[p.label] - truth[p.label]) for p, t in zip(PARTS, sources)
            if p.label in truth and p.label in part_lightness(video, int(t), cache)]
    return float(np.mean(gaps)) if gaps else float("nan")


def nearest_inputs(video: PersonalVideo, refs: np.ndarray, window: int, min_conf: float) -> np.ndarray:
    """For each reference frame, the training frame of nearest whole-body pose outside ``± window``."""
    pool = video.train_frames
    d = pose_distances(video.pose.keypoints[refs], video.pose.keypoints[pool], min_conf)
    d[np.abs(pool[None] - refs[:, None]) <= window] = np.inf
    return pool[d.argmin(1)]


def score_form(video: PersonalVideo, spec, index: np.ndarray, inputs: np.ndarray) -> dict:
    builder, truth, K = video.builder(R, spec), GroundTruth(video, R, spec), spec.posemap.K
    jobs = [(int(a), video.history(int(b), K), int(b)) for a, b in zip(inputs, index[:, 1])]
    images = [baseline_image("tangram", builder, *job) for job in jobs]
    table = score_pairs(images, np.stack([inputs, index[:, 1]], 1), truth)
    sources = [builder.sources(int(a), video.pose.keypoints[int(b)], int(b)) for a, b in zip(inputs, index[:, 1])]
    cache: dict = {}
    gaps = [lightness_gap(video, s, int(b), cache) for s, b in zip(sources, index[:, 1])]
    return {"whole_ssim": table["ssim"].mean(), "fg_ssim": table["fg_ssim"].mean(),
            "whole_psnr": table["psnr"].mean(), "fg_psnr": table["fg_psnr"].mean(),
            "distinct_sources": len(np.unique(np.concatenate(sources))), "lightness_gap": np.nanmean(gaps)}


def tangram(work: Path, clips: list[str], weights: list[str]) -> None:
    print("| clip | form | whole SSIM | fg SSIM | whole PSNR | fg PSNR | distinct source frames | part ΔL* vs truth |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in clips:
        base = work / clip / "base"
        params = load_params(base / "params.yaml")
        spec = params.inputs
        with PersonalVideo(VideoPaths.of(clip, base / "data")) as video:
            index = read_test_pairs(video.paths.pairs, video)
            window = spec.sources.exclude_window
            forms = {"single (random I_in)": (spec, index[:, 0]),
                     "single (nearest I_in)": (spec, nearest_inputs(video, index[:, 1], window, spec.posemap.min_conf))}
            for w in weights:
                wc, wv, margin = (float(x) for x in w.split(","))
                sources = dataclasses.replace(spec.sources, mode="per_part", w_context=wc, w_visible=wv,
                                              keep_margin=margin)
                for over in ("random", "nearest"):
                    forms[f"per_part (w_context {wc:g}, w_visible {wv:g}, keep_margin {margin:g}; {over} I_in)"] = (
                        dataclasses.replace(spec, sources=sources), forms[f"single ({over} I_in)"][1])
            for name, (form_spec, inputs) in forms.items():
                s = score_form(video, form_spec, index, inputs)
                print(f"| {clip} | {name} | {s['whole_ssim']:.4f} | {s['fg_ssim']:.4f} | {s['whole_psnr']:.2f} | "
                      f"{s['fg_psnr']:.2f} | {s['distinct_sources']} | {s['lightness_gap']:.2f} |", flush=True)


def index_cost(work: Path, clip: str, lengths: list[int]) -> None:
    base = work / clip / "base"
    params = load_params(base / "params.yaml")
    with PersonalVideo(VideoPaths.of(clip, base / "data")) as video:
        frames = video.train_frames
        began = time.perf_counter()
        visible = np.stack([frame_visibility(video.pose, int(t), params.posemap) for t in frames])
        per_frame = (time.perf_counter() - began) / len(frames)
        keypoints = video.pose.keypoints[frames]
        queries = video.pose.keypoints[video.test_frames]
    print(f"visibility: {per_frame * 1000:.2f} ms per frame ({video.size}² parsing)")
    sources = dataclasses.replace(params.sources, mode="per_part")
    for n in lengths:
        reps = -(-n // len(frames))
        kp = np.tile(keypoints, (reps, 1, 1))[:n]
        vis = np.tile(visible, (reps, 1))[:n]
        began = time.perf_counter()
        part_index = PartIndex(np.arange(n), kp, vis, sources, params.posemap.min_conf)
        build = time.perf_counter() - began
        times = []
        for q in queries:
            began = time.perf_counter()
            part_index.sources(q, exclude=n // 2)
            times.append(time.perf_counter() - began)
        print(f"N = {n}: index built in {build:.2f} s (+ visibility {per_frame * n:.1f} s), "
              f"query median {np.median(times) * 1000:.2f} ms over {len(times)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("tangram", "index"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dancegen-hd"))
    parser.add_argument("--clips", nargs="+", default=["woman", "basketball", "fashion"])
    parser.add_argument("--weights", nargs="+", default=["2,1,0", "2,1,0.15"],
                        help="per-part forms, each w_context,w_visible,keep_margin")
    parser.add_argument("--lengths", nargs="+", type=int, default=[250, 1000, 5000, 20000])
    args = parser.parse_args()
    if args.what == "tangram":
        tangram(args.work, args.clips, args.weights)
    else:
        index_cost(args.work, args.clips[0], args.lengths)


if __name__ == "__main__":
    main()
