"""Compositing a generated person: the person's matte, and layering it over a new scene (Fig. 9)
or back into the personal video's own framing.

Images are ``(R, R, 3) uint8 RGB`` arrays; the network outputs the matte is keyed from are
``(B, 3, R, R)`` tensors in [-1, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dancegen.model import FINAL, SYNTHESIS, chroma_key

# Mattes for the composite are keyed on images averaged over KEY_POOL² pixels: the generators'
# pixel noise otherwise speckles them. pix2pixhd has no Ĩ_out: its person is keyed where I_out
# departs from the background B by more than DIFF_THRESHOLD (RGB distance in [-1, 1]), inside
# the current pose's shapes grown by REGION_GROW of the frame side.
KEY_POOL = 3
DIFF_THRESHOLD = 0.35
DIFF_SHARPNESS = 20.0
REGION_GROW = 1 / 16


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
