"""Compositing a generated person: layering it over a new scene (Fig. 9) or back into the personal
video's own framing at its native size (:class:`FullFrame`). The person's matte is the variant's (:meth:`dancegen.model.generators.Generators.matte`).

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


# full.mp4's shorter side is at most this many pixels (1080p): a 4K source gives a 1080p video.
FULL_FRAME_CAP = 1080


class FullFrame:
    """Squares cut at ``crop`` ``(x0, y0, side)`` from a ``source_size`` (W, H) video, put back into
    that video's whole frame at its native size (the shorter side capped at ``cap``; even sides):
    ``surround`` (the frame without the person, any size) resized to it once, each square resized to
    the crop's side at that scale and pasted where it was cut from; parts of the square past the
    frame's edges (its padding) are left out. Squares are ``(S, S, 3) uint8`` of any side S."""

    def __init__(self, surround: np.ndarray, crop: tuple[int, int, int], source_size: tuple[int, int],
                 cap: int = FULL_FRAME_CAP):
        self.scale = min(1.0, cap / min(source_size))
        w, h = (max(2, 2 * round(v * self.scale / 2)) for v in source_size)
        shrink = w < surround.shape[1]
        self.surround = cv2.resize(surround, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        x0, y0, side = crop
        self.side, self.origin = max(1, round(side * self.scale)), (round(x0 * self.scale), round(y0 * self.scale))

    def __call__(self, square: np.ndarray) -> np.ndarray:
        """``square`` in the whole frame → ``(h, w, 3) uint8``."""
        n, (ox, oy) = self.side, self.origin
        shrink = n < square.shape[0]
        square = cv2.resize(square, (n, n), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        out = self.surround.copy()
        h, w = out.shape[:2]
        left, top, right, bottom = max(0, ox), max(0, oy), min(w, ox + n), min(h, oy + n)
        if right > left and bottom > top:
            out[top:bottom, left:right] = square[top - oy:bottom - oy, left - ox:right - ox]
        return out
