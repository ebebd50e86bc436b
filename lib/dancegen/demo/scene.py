"""The rooms the figures dance in: a living room and a brick-walled studio, textured procedurally."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from dancegen.demo.cast import ROLES, role_spec


def _value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise ``(size, size) float32`` in about [-1, 1] with ``cells`` features per side."""
    grid = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _fill_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color) -> None:
    s = img.shape[0]
    img[int(y0 * s):int(y1 * s), int(x0 * s):int(x1 * s)] = color


@functools.lru_cache(maxsize=8)
def scene_image(role: str, size: int, seed: int) -> np.ndarray:
    """The role's empty scene ``(S, S, 3) float32`` RGB 0..1 at neutral lighting (read-only, cached)."""
    rng = np.random.default_rng([seed, ROLES.index(role), 7])
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    xx, yy = xx / s, yy / s
    fine = _value_noise(rng, s, max(s // 4, 8))
    broad = _value_noise(rng, s, 5)
    img = _personal_room(rng, xx, yy, fine, broad) if role == "personal" else _studio(rng, xx, yy, fine, broad)
    vignette = 1 - 0.18 * ((xx - 0.5) ** 2 + (yy - 0.45) ** 2)
    img = np.clip(img * vignette[..., None], 0, 1).astype(np.float32)
    img.setflags(write=False)
    return img


def _floor_coords(xx: np.ndarray, yy: np.ndarray, vp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Floor-plane coordinates (lateral, depth) under a pinhole view with vanishing point ``vp``."""
    below = np.maximum(yy - vp[1], 1e-3)
    return (xx - vp[0]) / below, 1.0 / below


def _personal_room(rng, xx, yy, fine, broad) -> np.ndarray:
    horizon = 0.6
    wall = np.array([0.66, 0.72, 0.78], np.float32)
    stripes = 1 + 0.035 * np.sign(np.sin(xx * 2 * np.pi * 14))
    img = wall * (stripes * (1 + 0.03 * fine + 0.05 * broad) * (1.05 - 0.15 * xx))[..., None]
    # a framed picture and a window
    _fill_rect(img, 0.07, 0.12, 0.33, 0.36, (0.30, 0.20, 0.12))
    picture = np.stack([0.35 + 0.4 * (1 - yy), 0.55 + 0.2 * (1 - yy), 0.75 + 0.0 * yy], -1)
    hills = yy > 0.27 + 0.03 * np.sin(xx * 40)
    picture[hills] = (0.30, 0.50, 0.22)
    sub = (slice(int(0.14 * xx.shape[0]), int(0.34 * xx.shape[0])), slice(int(0.09 * xx.shape[0]), int(0.31 * xx.shape[0])))
    img[sub] = picture[sub]
    _fill_rect(img, 0.70, 0.06, 0.95, 0.42, (0.92, 0.92, 0.90))
    sky = np.stack([0.55 + 0.3 * yy, 0.72 + 0.2 * yy, 0.92 + 0.0 * yy], -1)
    win = (slice(int(0.08 * xx.shape[0]), int(0.40 * xx.shape[0])), slice(int(0.72 * xx.shape[0]), int(0.93 * xx.shape[0])))
    img[win] = sky[win]
    _fill_rect(img, 0.815, 0.08, 0.835, 0.40, (0.92, 0.92, 0.90))
    _fill_rect(img, 0.72, 0.235, 0.93, 0.25, (0.92, 0.92, 0.90))
    # a plant in a pot
    pot = (np.abs(xx - 0.13) < 0.05 - 0.3 * (yy - 0.50)) & (yy > 0.50) & (yy < horizon + 0.02)
    img[pot] = (0.62, 0.32, 0.20)
    for i in range(7):
        cx, cy = 0.13 + rng.uniform(-0.07, 0.07), 0.44 + rng.uniform(-0.08, 0.05)
        leaf = ((xx - cx) / 0.025) ** 2 + ((yy - cy) / 0.05) ** 2 < 1
        img[leaf] = np.array([0.16, 0.42, 0.16]) * rng.uniform(0.8, 1.2)
    # wooden floor in perspective, and a skirting board
    lateral, depth = _floor_coords(xx, yy, (0.52, 0.30))
    plank = np.floor(lateral / 0.35)
    offset = (plank * 0.37) % 1.0
    board = np.floor(depth * 0.9 + offset)
    tone = 0.85 + 0.3 * ((np.sin(plank * 12.9898 + board * 78.233) * 43758.5453) % 1.0)
    grain = 1 + 0.06 * np.sin(lateral * 60 + 3 * fine)
    seam = ((lateral / 0.35) % 1.0 < 0.04) | ((depth * 0.9 + offset) % 1.0 < 0.02)
    wood = np.array([0.55, 0.36, 0.21], np.float32) * (tone * grain * np.where(seam, 0.7, 1.0))[..., None]
    floor = yy >= horizon
    img[floor] = wood[floor]
    skirting = (yy >= horizon - 0.025) & (yy < horizon)
    img[skirting] = (0.90, 0.89, 0.86)
    return img


def _studio(rng, xx, yy, fine, broad) -> np.ndarray:
    horizon = 0.55
    row = np.floor(yy / 0.045)
    col = np.floor(xx / 0.11 + 0.5 * (row % 2))
    brick_tone = 0.85 + 0.25 * ((np.sin(row * 91.7 + col * 47.3) * 43758.5453) % 1.0)
    mortar = ((yy / 0.045) % 1.0 < 0.12) | ((xx / 0.11 + 0.5 * (row % 2)) % 1.0 < 0.05)
    brick = np.array([0.70, 0.42, 0.32], np.float32) * (brick_tone * (1 + 0.06 * fine))[..., None]
    img = np.where(mortar[..., None], np.float32([0.82, 0.80, 0.76]), brick)
    img = img * (1 + 0.05 * broad)[..., None]
    # a poster and a mirror strip
    _fill_rect(img, 0.62, 0.10, 0.86, 0.40, (0.95, 0.85, 0.30))
    _fill_rect(img, 0.65, 0.14, 0.83, 0.22, (0.15, 0.15, 0.35))
    _fill_rect(img, 0.67, 0.27, 0.81, 0.36, (0.85, 0.20, 0.25))
    _fill_rect(img, 0.03, 0.15, 0.10, 0.52, (0.80, 0.85, 0.88))
    # grey tiles in perspective
    lateral, depth = _floor_coords(xx, yy, (0.45, 0.25))
    checker = (np.floor(lateral / 0.5) + np.floor(depth * 1.2)) % 2
    tiles = np.where(checker[..., None], np.float32([0.74, 0.73, 0.70]), np.float32([0.58, 0.58, 0.60]))
    tiles = tiles * (1 + 0.04 * fine)[..., None]
    floor = yy >= horizon
    img[floor] = tiles[floor]
    skirting = (yy >= horizon - 0.02) & (yy < horizon)
    img[skirting] = (0.25, 0.25, 0.27)
    return img


def true_background(role: str, size: int, seed: int) -> np.ndarray:
    """The empty scene of ``role`` at neutral lighting: ``(S, S, 3) uint8 RGB``."""
    role_spec(role)
    return to_pixels(scene_image(role, size, seed))


def to_pixels(img: np.ndarray, gain: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """``img: (h, w, 3) float`` RGB 0..1, times a per-channel ``gain`` -> rounded, saturated uint8."""
    scaled = cv2.multiply(np.asarray(img, np.float32), tuple(255.0 * g for g in gain) + (0.0,))
    return cv2.convertScaleAbs(scaled)
