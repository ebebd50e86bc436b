"""Body-part transformation of section 3.1: per-part affine matrices and the spatial-transformer warp.

Each of the 10 parts of :data:`skeleton.PARTS` is cut out of the input frame with its parsing label
and moved by its own affine transform onto the reference pose, giving the 30-channel volume
``T: (B, 30, H, W)``, part-major: channels 3i, 3i+1, 3i+2 are R, G, B of part i in ``PARTS`` order.

The transforms are ``theta: (10, 2, 3)`` in torch's normalised coordinates with
``align_corners=False`` (x, y in [-1, 1] across the frame edges): they map a point of the
reference layout to where it is sampled in the input frame, as ``F.affine_grid`` expects.
Normalised coordinates make them independent of resolution: computed once from keypoints of the
S×S frame, they apply to images of any size. Keypoints are continuous pixel coordinates (pixel i
covers [i, i+1)).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dancegen.skeleton import NUM_PARTS, PARTS, part_segments

# Segments shorter than this (pixels of the frame) give no direction to align.
MIN_SEGMENT_PX = 1.0

_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)


def _frame(start: np.ndarray, end: np.ndarray, width: float) -> np.ndarray | None:
    """``(2, 2)`` columns: the segment vector and the across-limb vector of length ``width``."""
    along = np.asarray(end, np.float64) - np.asarray(start, np.float64)
    length = float(np.hypot(*along))
    if length < MIN_SEGMENT_PX or not width > 0:
        return None
    across = np.array([-along[1], along[0]]) / length * width
    return np.column_stack([along, across])


def _reference_to_input(seg_in: tuple, seg_ref: tuple, size: int) -> np.ndarray | None:
    """Normalised ``(2, 3)`` map from the reference layout into the input frame, or None if degenerate.

    In pixels: q = A (p - a_ref) + a_in, where A takes the reference part's (along, across) frame to
    the input part's, so rotation and length follow the segments and the across-limb scale is the
    ratio of widths.
    """
    frame_in = _frame(*seg_in)
    frame_ref = _frame(*seg_ref)
    if frame_in is None or frame_ref is None:
        return None
    A = frame_in @ np.linalg.inv(frame_ref)
    t = np.asarray(seg_in[0], np.float64) - A @ np.asarray(seg_ref[0], np.float64)
    # p_pix = size/2 (p_n + 1) and q_n = 2 q_pix / size - 1.
    offset = A @ np.ones(2) + 2.0 * t / size - 1.0
    return np.column_stack([A, offset]).astype(np.float32)


def part_affines(kp_in: np.ndarray, kp_ref: np.ndarray, size: int,
                 min_conf: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """The affine transform of every part that carries it from the input pose onto the reference pose.

    ``kp_in, kp_ref: (133, 3)`` x, y, confidence in pixels of the same ``size``² frame →
    ``theta: (10, 2, 3) float32`` (normalised, reference → input, see the module docstring) and
    ``valid: (10,) bool``. A part missing or degenerate in either pose gets ``valid`` False and the
    identity, and :func:`warp_parts` leaves its channels zero.
    """
    seg_in = part_segments(kp_in, min_conf)
    seg_ref = part_segments(kp_ref, min_conf)
    theta = np.repeat(_IDENTITY[None], NUM_PARTS, axis=0)
    valid = np.zeros(NUM_PARTS, bool)
    for i, part in enumerate(PARTS):
        if seg_in[part.name] is None or seg_ref[part.name] is None:
            continue
        m = _reference_to_input(seg_in[part.name], seg_ref[part.name], size)
        if m is not None:
            theta[i], valid[i] = m, True
    return theta, valid


def part_masks(parsing: torch.Tensor) -> torch.Tensor:
    """``parsing: (B, H, W)`` long labels 0..10 → ``(B, 10, H, W)`` float one-hot of the parts."""
    labels = torch.tensor([p.label for p in PARTS], device=parsing.device)
    return (parsing[:, None] == labels[None, :, None, None]).float()


def warp_parts(image_in: torch.Tensor, parsing_in: torch.Tensor, theta: torch.Tensor,
               valid: torch.Tensor) -> torch.Tensor:
    """T of :func:`warp_parts_with_coverage` alone."""
    return warp_parts_with_coverage(image_in, parsing_in, theta, valid)[0]


def warp_parts_with_coverage(image_in: torch.Tensor, parsing_in: torch.Tensor, theta: torch.Tensor,
                             valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The transformed body parts T of section 3.1 (a spatial transformer, differentiable in the image).

    ``image_in: (B, 3, H, W)`` float in any range, ``parsing_in: (B, H, W)`` long labels 0..10 at the
    same size, ``theta: (B, 10, 2, 3)`` and ``valid: (B, 10)`` bool from :func:`part_affines` →
    ``T: (B, 30, H, W)``, part-major RGB (channels 3i..3i+2 = part i), values in ``image_in``'s range
    inside the warped parts and 0 elsewhere and in invalid parts, and ``coverage: (B, 10, H, W)``
    in [0, 1], each part's warped mask (T is premultiplied by it). Bilinear sampling, zero padding.
    """
    B, C, H, W = image_in.shape
    if parsing_in.shape != (B, H, W):
        raise ValueError(f"parsing {tuple(parsing_in.shape)} does not match image {tuple(image_in.shape)}")
    masks = part_masks(parsing_in).to(image_in.dtype)
    # Each part as premultiplied RGB plus its mask, warped together.
    parts = torch.cat([image_in[:, None] * masks[:, :, None], masks[:, :, None]], 2)
    parts = parts.reshape(B * NUM_PARTS, C + 1, H, W)
    theta = theta.to(device=image_in.device, dtype=image_in.dtype).reshape(B * NUM_PARTS, 2, 3)
    grid = F.affine_grid(theta, [B * NUM_PARTS, C + 1, H, W], align_corners=False)
    warped = F.grid_sample(parts, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    keep = valid.to(device=image_in.device, dtype=image_in.dtype).reshape(B * NUM_PARTS, 1, 1, 1)
    warped = (warped * keep).reshape(B, NUM_PARTS, C + 1, H, W)
    return warped[:, :, :C].reshape(B, NUM_PARTS * C, H, W), warped[:, :, C]


def tangram_layer(T: torch.Tensor, coverage: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The warped parts as one layer: ``T (B, 30, H, W)``, ``coverage (B, 10, H, W)`` → colour
    ``(B, 3, H, W)`` (where parts overlap, their colours averaged by coverage; 0 where no part is)
    and alpha ``(B, 1, H, W)``, the union of the parts' coverage (at most 1)."""
    B, _, H, W = T.shape
    total = coverage.sum(1, keepdim=True)
    colour = T.reshape(B, NUM_PARTS, -1, H, W).sum(1) / total.clamp(min=1e-6)
    return colour, total.clamp(max=1.0)


def tangram(T: torch.Tensor, coverage: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """The warped parts laid over ``base (B, 3, H, W)`` through :func:`tangram_layer`'s alpha."""
    colour, alpha = tangram_layer(T, coverage)
    return alpha * colour + (1 - alpha) * base
