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

Hidden parts (the ``blend`` composition, our addition): where a part of I_in is hidden behind
another part (a torso behind crossed arms), the paper's T has a hole that travels with the part and
shows once the arms have moved away. :func:`hidden_regions` finds those pixels in I_in (inside the
part's own shape in the input pose, on the person, labelled as another part), and
:func:`warp_parts_amodal` completes each part there with its own colours (pull-push interpolation,
:func:`fill_from_neighbours`) before warping. In the tangram layer a completed pixel weighs
:data:`HIDDEN_WEIGHT` against a visible one, so a part that is in front in the reference pose keeps
its colour.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dancegen.body.skeleton import NUM_PARTS, PARTS, part_segments

# Segments shorter than this (pixels of the frame) give no direction to align.
MIN_SEGMENT_PX = 1.0
# A pixel lies inside a part's shape where the input pose's (blurred) part map is at least this: a
# little outside the drawn rectangle, since pose and parsing disagree by a few pixels.
HIDDEN_SHAPE_THRESHOLD = 0.3
# Weight of a completed (hidden) pixel against a visible one where parts overlap in the tangram.
HIDDEN_WEIGHT = 0.1

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
    identity, and :func:`warp_parts_with_coverage` leaves its channels zero.
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
    """``parsing: (B, H, W)`` long labels 0..10 → ``(B, 10, H, W)`` float one-hot of the parts.
    Per-part sources: ``parsing (B, 10, H, W)``, channel i the parsing of part i's own source frame
    → part i's mask in it."""
    labels = torch.tensor([p.label for p in PARTS], device=parsing.device)
    per_frame = parsing if parsing.dim() == 4 else parsing[:, None]
    return (per_frame == labels[None, :, None, None]).float()


def _part_images(image_in: torch.Tensor) -> torch.Tensor:
    """``image_in (B, C, H, W)`` (one frame for every part) or ``(B, 10, C, H, W)`` (each part's own
    source frame) → ``(B, 1 or 10, C, H, W)``, broadcasting against the parts."""
    return image_in if image_in.dim() == 5 else image_in[:, None]


def warp_parts_with_coverage(image_in: torch.Tensor, parsing_in: torch.Tensor, theta: torch.Tensor,
                             valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The transformed body parts T of section 3.1 (a spatial transformer, differentiable in the image).

    ``image_in: (B, 3, H, W)`` float in any range, ``parsing_in: (B, H, W)`` long labels 0..10 at the
    same size (per-part sources: ``(B, 10, 3, H, W)`` and ``(B, 10, H, W)``, part i from its own frame), ``theta: (B, 10, 2, 3)`` and ``valid: (B, 10)`` bool from :func:`part_affines` →
    ``T: (B, 30, H, W)``, part-major RGB (channels 3i..3i+2 = part i), values in ``image_in``'s range
    inside the warped parts and 0 elsewhere and in invalid parts, and ``coverage: (B, 10, H, W)``
    in [0, 1], each part's warped mask (T is premultiplied by it). Bilinear sampling, zero padding.
    """
    images = _part_images(image_in)
    B, _, C, H, W = images.shape
    if parsing_in.shape[-2:] != (H, W) or parsing_in.shape[0] != B:
        raise ValueError(f"parsing {tuple(parsing_in.shape)} does not match image {tuple(image_in.shape)}")
    masks = part_masks(parsing_in).to(image_in.dtype)
    # Each part as premultiplied RGB plus its mask, warped together.
    warped = warp_stacks(torch.cat([images * masks[:, :, None], masks[:, :, None]], 2), theta, valid)
    return warped[:, :, :C].reshape(B, NUM_PARTS * C, H, W), warped[:, :, C]


def warp_stacks(stacks: torch.Tensor, theta: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Each part's channels moved by its own affine: ``stacks (B, 10, Ch, H, W)``, ``theta (B, 10, 2,
    3)``, ``valid (B, 10)`` → ``(B, 10, Ch, H, W)``, bilinear, zero padding, invalid parts zero."""
    B, P, Ch, H, W = stacks.shape
    theta = theta.to(device=stacks.device, dtype=stacks.dtype).reshape(B * P, 2, 3)
    grid = F.affine_grid(theta, [B * P, Ch, H, W], align_corners=False)
    warped = F.grid_sample(stacks.reshape(B * P, Ch, H, W), grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    keep = valid.to(device=stacks.device, dtype=stacks.dtype).reshape(B * P, 1, 1, 1)
    return (warped * keep).reshape(B, P, Ch, H, W)


def hidden_regions(parsing: torch.Tensor, part_shapes: torch.Tensor) -> torch.Tensor:
    """Where each part of a frame is hidden behind another part: ``parsing (..., H, W)`` long labels
    0..10 and ``part_shapes (..., 10, H, W)`` in [0, 1], the frame's own pose maps of the parts
    (:func:`dancegen.body.posemaps.pose_maps`, channels 0–9) → ``(..., 10, H, W) float32`` in {0, 1}:
    inside part i's shape (≥ :data:`HIDDEN_SHAPE_THRESHOLD`), on the person, labelled another part."""
    masks = part_masks(parsing.reshape(-1, *parsing.shape[-2:])).reshape(*parsing.shape[:-2], NUM_PARTS,
                                                                           *parsing.shape[-2:])
    person = (parsing > 0).unsqueeze(-3)
    return ((part_shapes >= HIDDEN_SHAPE_THRESHOLD) & person & (masks == 0)).float()


def part_visibility(parsing: torch.Tensor, part_shapes: torch.Tensor) -> torch.Tensor:
    """How much of each part a frame shows: ``parsing (H, W)`` long labels 0..10 and ``part_shapes
    (10, H, W)`` its own pose maps of the parts → ``(10,) float32`` in [0, 1], the pixels labelled
    the part over those plus the pixels where it is hidden (:func:`hidden_regions`); 0 for a part
    with neither (not parsed at all)."""
    shown = part_masks(parsing[None])[0].sum((1, 2))
    hidden = hidden_regions(parsing, part_shapes).sum((1, 2))
    return shown / (shown + hidden).clamp(min=1.0)


def fill_from_neighbours(premultiplied: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Colour everywhere from the pixels that have some: ``premultiplied (N, C, H, W)`` (colour ×
    weight), ``weight (N, 1, H, W)`` in [0, 1] → ``(N, C, H, W)``, the colour itself where the weight
    is 1 and, elsewhere, blended towards the weighted mean of ever coarser neighbourhoods (pull-push
    interpolation: average-pool both down a pyramid, then fill each level's gaps from the one above).
    0 where the whole image has no weight. Differentiable; H and W need not be powers of 2."""
    colour = premultiplied / weight.clamp(min=1e-6)
    if min(weight.shape[-2:]) < 2:
        return colour
    coarse = fill_from_neighbours(F.avg_pool2d(premultiplied, 2, ceil_mode=True),
                                  F.avg_pool2d(weight, 2, ceil_mode=True))
    coarse = F.interpolate(coarse, size=weight.shape[-2:], mode="bilinear", align_corners=False)
    w = weight.clamp(max=1.0)
    return w * colour + (1 - w) * coarse


def _completion(visible: torch.Tensor, masks: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Each part's own colours where it is hidden: ``visible (B, 10, C, H, W)`` (premultiplied by
    ``masks (B, 10, H, W)``), ``hidden (B, 10, H, W)`` → ``(B, 10, C, H, W)``, the part filled from its
    visible pixels (:func:`fill_from_neighbours`) times ``hidden``. Only the parts with a hidden pixel
    are filled (the pyramid works on each image alone, so the others' zero is what filling them gave)."""
    B, P, C, H, W = visible.shape
    out = torch.zeros_like(visible).reshape(B * P, C, H, W)
    some = (hidden.reshape(B * P, -1) > 0).any(1).nonzero()[:, 0]
    if len(some):
        filled = fill_from_neighbours(visible.reshape(B * P, C, H, W)[some], masks.reshape(B * P, 1, H, W)[some])
        out = out.index_copy(0, some, filled * hidden.reshape(B * P, 1, H, W)[some])
    return out.reshape(B, P, C, H, W)


def warp_parts_amodal(image_in: torch.Tensor, parsing_in: torch.Tensor, theta: torch.Tensor, valid: torch.Tensor,
                      hidden_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`warp_parts_with_coverage` of the parts completed behind the parts that hid them:
    ``hidden_in (B, 10, H, W)`` from :func:`hidden_regions` of I_in; the other arguments as there →
    ``T (B, 30, H, W)`` and ``coverage (B, 10, H, W)`` of the completed parts (T premultiplied by it)
    and ``hidden (B, 10, H, W)``, the completed pixels' share of ``coverage``. Without hidden pixels
    this is exactly :func:`warp_parts_with_coverage` with a zero ``hidden``."""
    images = _part_images(image_in)
    B, _, C, H, W = images.shape
    if parsing_in.shape[-2:] != (H, W) or parsing_in.shape[0] != B or hidden_in.shape != (B, NUM_PARTS, H, W):
        raise ValueError(f"parsing {tuple(parsing_in.shape)} or hidden {tuple(hidden_in.shape)} does not match "
                         f"image {tuple(image_in.shape)}")
    masks = part_masks(parsing_in).to(image_in.dtype)
    visible = images * masks[:, :, None]
    # A part with no visible pixel at all has no colour to complete itself with.
    hidden_in = hidden_in.to(image_in.dtype) * (masks.amax((2, 3), keepdim=True) > 0)
    complete = masks + hidden_in
    warped = warp_stacks(torch.cat([visible + _completion(visible, masks, hidden_in),
                                    complete[:, :, None], hidden_in[:, :, None]], 2), theta, valid)
    return warped[:, :, :C].reshape(B, NUM_PARTS * C, H, W), warped[:, :, C], warped[:, :, C + 1]


def tangram_layer(T: torch.Tensor, coverage: torch.Tensor,
                  hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The warped parts as one layer: ``T (B, 30, H, W)``, ``coverage (B, 10, H, W)`` and, for
    completed parts, ``hidden (B, 10, H, W)`` (:func:`warp_parts_amodal`) → colour ``(B, 3, H, W)``
    (where parts overlap, their colours averaged by coverage, a hidden pixel weighing
    :data:`HIDDEN_WEIGHT`; 0 where no part is) and alpha ``(B, 1, H, W)``, the union of the parts'
    coverage (at most 1)."""
    B, _, H, W = T.shape
    parts = T.reshape(B, NUM_PARTS, -1, H, W)
    if hidden is None:
        colour = parts.sum(1) / coverage.sum(1, keepdim=True).clamp(min=1e-6)
    else:
        weight = (coverage - (1 - HIDDEN_WEIGHT) * hidden).clamp(min=0)[:, :, None]
        own = parts / coverage[:, :, None].clamp(min=1e-6)
        colour = (own * weight).sum(1) / weight.sum(1).clamp(min=1e-6)
    return colour, coverage.sum(1, keepdim=True).clamp(max=1.0)


def tangram(T: torch.Tensor, coverage: torch.Tensor, base: torch.Tensor,
            hidden: torch.Tensor | None = None) -> torch.Tensor:
    """The warped parts laid over ``base (B, 3, H, W)`` through :func:`tangram_layer`'s alpha."""
    colour, alpha = tangram_layer(T, coverage, hidden)
    return alpha * colour + (1 - alpha) * base
