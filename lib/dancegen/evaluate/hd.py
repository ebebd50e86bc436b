"""The test pairs scored at the render size H (``infer.size``) as well as at the nets' R.

Every output is compared with the true reference frame at H (area-resized from the stored frames,
as the frames at R are):
  ``<variant>``      the HD render: the nets run at R, their fields applied at H (the infer file's
                     ``pairs_hd``; :meth:`dancegen.model.generators.Generators.render`)
  ``<variant>@R``    the same model's R output upsampled to H (bicubic): what rendering at R gives
  ``input_frame``, ``tangram``   the trivial baselines built at H (:mod:`dancegen.evaluate.baselines`)
Scores: whole and foreground PSNR and SSIM (:mod:`dancegen.evaluate.metrics`), the perceptual
distance (:class:`dancegen.evaluate.metrics.PerceptualDistance`, whole frame) and the person's
sharpness relative to the truth's (:func:`dancegen.evaluate.metrics.sharpness` over the true person,
the ratio of the means over the pairs: 1 is as sharp as the real frames, below 1 blurred).

Table ``pairs_hd.csv``: output, in_frame, ref_frame, psnr, ssim, fg_psnr, fg_ssim, perceptual,
sharpness, truth_sharpness. Summary per output: ``{size, whole: {psnr, ssim}, foreground: {psnr,
ssim}, perceptual, sharpness, pairs}``.
"""

from __future__ import annotations

import math

import cv2
import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from dancegen.core.arrays import finite_mean
from dancegen.core.config import InputSpec
from dancegen.evaluate import metrics
from dancegen.evaluate.baselines import BaselineImages
from dancegen.model.personal import PersonalVideo

HD_BASELINES = ("input_frame", "tangram")
UPSAMPLED = "@R"          # suffix of a model's R output upsampled to H
HD_COLUMNS = ("output", "in_frame", "ref_frame", "psnr", "ssim", "fg_psnr", "fg_ssim", "perceptual", "sharpness",
              "truth_sharpness")


class Upsampled:
    """``images[i]``: ``(R, R, 3) uint8`` images resized to ``size``² by bicubic interpolation."""

    def __init__(self, images, size: int):
        self.images, self.size = images, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return cv2.resize(self.images[i], (self.size, self.size), interpolation=cv2.INTER_CUBIC)


def score_hd(images, index: np.ndarray, truth, perceptual: metrics.PerceptualDistance) -> pd.DataFrame:
    """Per test pair (``index: (N, 2)`` in, ref): the scores of ``images[i]`` ``(H, H, 3) uint8``
    against the truth at H (``truth``: a :class:`dancegen.evaluate.evaluate.GroundTruth` at H)."""
    rows = []
    for i, (t_in, t_ref) in enumerate(tqdm(index, desc="pairs at H", unit="pair", leave=False)):
        image, mask, _ = truth(int(t_ref))
        out = images[i]
        (_, psnr, ssim), (_, fg_psnr, fg_ssim) = metrics.region_scores(out, image, (None, mask))
        sharp = (metrics.sharpness(out, mask), metrics.sharpness(image, mask)) if mask.any() else (math.nan, math.nan)
        rows.append((int(t_in), int(t_ref), psnr, ssim, fg_psnr, fg_ssim,
                     perceptual.distance(out, image, key=int(t_ref)), *sharp))
    return pd.DataFrame(rows, columns=list(HD_COLUMNS[1:]))


def summary_hd(table: pd.DataFrame, size: int) -> dict:
    """The means of one output's :func:`score_hd` table; ``sharpness`` is the ratio of the means."""
    truth = finite_mean(table["truth_sharpness"])
    sharp = finite_mean(table["sharpness"])
    return {"size": size, "whole": {"psnr": finite_mean(table["psnr"]), "ssim": finite_mean(table["ssim"])},
            "foreground": {"psnr": finite_mean(table["fg_psnr"]), "ssim": finite_mean(table["fg_ssim"])},
            "perceptual": finite_mean(table["perceptual"].astype(float)),
            "sharpness": sharp / truth if sharp is not None and truth else None, "pairs": len(table)}


def evaluate_hd(infer_files: dict, video: PersonalVideo, spec: InputSpec, truth_at) -> tuple[dict, pd.DataFrame] | None:
    """Every variant's HD render and upsampled R output, and the baselines at H, on the test pairs →
    ({output: summary}, the ``pairs_hd`` table); None when the models rendered at R (no ``pairs_hd``).
    ``truth_at(size)`` gives the ground truth at a size."""
    with h5py.File(next(iter(infer_files.values())), "r") as f:
        if "pairs_hd" not in f:
            return None
        size, index = int(f.attrs["render_size"]), f["pairs_index"][:]
    truth, perceptual = truth_at(size), metrics.PerceptualDistance()
    tables = {}
    for variant, path in infer_files.items():
        with h5py.File(path, "r") as f:
            tables[variant] = score_hd(f["pairs_hd"], index, truth, perceptual)
            tables[variant + UPSAMPLED] = score_hd(Upsampled(f["pairs_out"], size), index, truth, perceptual)
    builder, K = video.builder(size, spec), spec.posemap.K
    jobs = [(int(a), video.history(int(b), K), int(b)) for a, b in index]
    for name in HD_BASELINES:
        tables[name] = score_hd(BaselineImages(name, builder, jobs), index, truth, perceptual)
    table = pd.concat([t.assign(output=name) for name, t in tables.items()], ignore_index=True)
    return {name: summary_hd(t, size) for name, t in tables.items()}, table[list(HD_COLUMNS)]
