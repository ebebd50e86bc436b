"""What the face and hand landmarks buy in the output: live's two detectors on the real clips.

MediaPipe Pose (``dancegen live --detector pose``) gives the very body and feet landmarks that
Holistic does (tests/preprocess/test_detect.py) and no face or hands. So the test pairs of trained
models are rendered at R twice: with the reference frame's Holistic poses as stored, and with their
face and hand keypoints removed (their pose-map channels empty), and both are scored against the
true frame (whole and foreground SSIM, as ``evaluate``). The models are hd.py's workspaces (``--work``:
``CLIP/hd-*ours-s*/``, Ours at the default schedule, R = 128).

    .venv/bin/python benchmarks/live_detector.py --work /tmp/dancegen-hd --out benchmarks/results/live_detector.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from dancegen.body import skeleton
from dancegen.core.config import load_params
from dancegen.core.layout import VideoPaths, model_path
from dancegen.evaluate import metrics
from dancegen.evaluate.evaluate import GroundTruth
from dancegen.model.personal import PersonalVideo
from dancegen.transfer.infer import open_renderer, read_test_pairs

FIELDS = ("clip", "run", "detector", "pairs", "whole_ssim", "fg_ssim")


def body_only(poses: np.ndarray) -> np.ndarray:
    """``poses (K, 133, 3)`` without face and hands, as MediaPipe Pose detects them."""
    out = poses.copy()
    for group in (skeleton.FACE, skeleton.LEFT_HAND, skeleton.RIGHT_HAND):
        out[:, group] = 0
    return out


def score_run(run: Path, n_pairs: int) -> list[dict]:
    """The two rows (holistic, pose) of one trained workspace ``run`` (``CLIP/NAME``)."""
    clip = run.parent.name
    params = load_params(run / "params.yaml")
    scores = {"holistic": [], "pose": []}
    with PersonalVideo(VideoPaths.of(clip, run / "data")) as video, torch.inference_mode():
        renderer, _ = open_renderer(model_path(clip, "ours", run / "data"), video, params.inputs, None,
                                    params.infer.engine)
        pairs = read_test_pairs(run / "data" / "pairs" / f"{clip}.csv", video)
        pairs = pairs[np.linspace(0, len(pairs) - 1, min(n_pairs, len(pairs))).astype(int)]
        truth = GroundTruth(video, renderer.builder.resolution, params.inputs)
        for t_in, t_ref in pairs:
            image, person, _ = truth(int(t_ref))
            poses = video.history(int(t_ref), params.inputs.posemap.K)
            for name, driving in (("holistic", poses), ("pose", body_only(poses))):
                out = renderer([(int(t_in), driving)]).final[0]
                scores[name].append((metrics.ssim(out, image), metrics.ssim(out, image, person) if person.any() else np.nan))
    return [{"clip": clip, "run": run.name, "detector": name, "pairs": len(v),
             "whole_ssim": float(np.nanmean(np.array(v)[:, 0])), "fg_ssim": float(np.nanmean(np.array(v)[:, 1]))}
            for name, v in scores.items()]


def summary(rows: list[dict]) -> None:
    """Per clip: each detector's mean over runs, and the mean ± sd of pose − holistic."""
    for clip in sorted({r["clip"] for r in rows}):
        runs = sorted({r["run"] for r in rows if r["clip"] == clip})
        by = {(r["run"], r["detector"]): r for r in rows if r["clip"] == clip}
        for key in ("whole_ssim", "fg_ssim"):
            hol = np.array([by[run, "holistic"][key] for run in runs])
            diff = np.array([by[run, "pose"][key] for run in runs]) - hol
            print(f"{clip} {key}: holistic {hol.mean():.4f} ± {hol.std(ddof=1) if len(hol) > 1 else 0:.4f}, "
                  f"pose − holistic {diff.mean():+.4f} ± {diff.std(ddof=1) if len(diff) > 1 else 0:.4f} ({len(runs)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="hd.py's --work folder of trained workspaces")
    parser.add_argument("--pairs", type=int, default=40, help="test pairs per run, spread evenly")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for run in sorted(p for p in args.work.glob("*/hd-*ours-s*") if (p / "data" / "models").is_dir()):
        if not any((run / "data" / "models").glob("*/ours/model.pt")):
            print(f"{run}: no trained model, skipped")
            continue
        rows += score_run(run, args.pairs)
        print(rows[-2], rows[-1], sep="\n", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    summary(rows)


if __name__ == "__main__":
    main()
