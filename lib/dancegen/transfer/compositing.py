"""Compositing a generated person: layering it over a new scene (Fig. 9) or back into the personal
video's own framing. The person's matte is the variant's (:meth:`dancegen.model.generators.Generators.matte`).

Images are ``(R, R, 3) uint8 RGB`` arrays.
"""

from __future__ import annotations

import cv2
import numpy as np


def despill_green(images: np.ndarray) -> np.ndarray:
    """Green no stronger than the larger of red and blue, ``(..., 3) uint8 RGB``: removes the screen's
    cast from the edge and noise pixels of a keyed person. Colours where green does not dominate
    are unchanged; green clothes turn grey, the price of any green key."""
    out = images.copy()
    out[..., 1] = np.minimum(images[..., 1], np.maximum(images[..., 0], images[..., 2]))
    return out


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
