"""Drawing the posed figure: anti-aliased signed-distance shapes, shading, clothing, labels for the mask and parts."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import cv2
import numpy as np

from dancegen.body import skeleton
from dancegen.demo.body import Camera, map_points
from dancegen.demo.cast import ELEVATION, LIGHT, Role
from dancegen.demo.scene import to_pixels


class Canvas:
    """A float RGB image (0..1) with a part-label image, painted with anti-aliased shapes."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb                                   # (S, S, 3) float32, painted in place
        self.size = rgb.shape[0]
        self.labels = np.zeros(rgb.shape[:2], np.uint8)  # (S, S) part label of the top-most shape
        self._axis = np.arange(self.size, dtype=np.float32) + 0.5

    def grid(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        """The pixel box covering [lo, hi] (clipped), with its X (1, w) and Y (h, 1) centre coordinates."""
        x0, y0 = np.maximum(np.floor(lo).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(hi).astype(int) + 1, self.size)
        if x1 <= x0 or y1 <= y0:
            return None
        return (slice(y0, y1), slice(x0, x1)), self._axis[None, x0:x1], self._axis[y0:y1, None]

    def paint(self, box: tuple[slice, slice], dist: np.ndarray, color: np.ndarray, label: int = 0) -> None:
        """Blend ``color`` ((3,) or (h, w, 3)) where the signed distance ``dist`` (px) is inside."""
        alpha = np.minimum(np.maximum(0.5 - dist, 0.0), 1.0)
        region = self.rgb[box]
        region += alpha[..., None] * (color - region)
        if label:
            self.labels[box][alpha >= 0.5] = label

    @contextlib.contextmanager
    def bytes_region(self, lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """Lend the box [lo, hi] as ``(rgb (h, w, 3) uint8, labels (h, w) uint8, origin xy)`` for
        OpenCV's anti-aliased drawing (8-bit only); the RGB is written back on exit.

        Draw with :func:`_cv_points` (``origin``-relative, 4 fractional bits).
        """
        g = self.grid(lo, hi)
        if g is None:
            yield None
            return
        box = g[0]
        rgb = to_pixels(self.rgb[box])
        yield rgb, self.labels[box], np.array([box[1].start + 0.5, box[0].start + 0.5])
        self.rgb[box] = rgb * np.float32(1 / 255)


def _cv_points(pts: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.round((pts - origin) * 16).astype(np.int32)


def _cv_color(color) -> tuple[float, float, float]:
    return tuple(float(c) * 255 for c in color)


def _shade(nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, ambient: float = 0.5) -> np.ndarray:
    lambert = np.maximum(nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2], 0.0)
    return ambient + (1 - ambient) * lambert


class Capsule(NamedTuple):
    """A tapered capsule from ``a`` to ``b`` (pixels), radii ``ra``→``rb`` (pixels)."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float


def _capsule(cv: Canvas, shape: Capsule, color, label: int, texture: Callable | None = None,
             ambient: float = 0.5) -> None:
    """A shaded tapered capsule ``shape``.

    ``texture(s, w) -> (h, w)`` multiplies the colour; s runs along the capsule and w across it, in px.
    """
    a, b, ra, rb = shape
    r = max(ra, rb)
    g = cv.grid(np.minimum(a, b) - r, np.maximum(a, b) + r)
    if g is None:
        return
    box, X, Y = g
    ab = b - a
    abx, aby = float(ab[0]), float(ab[1])
    length2 = max(abx * abx + aby * aby, 1e-6)
    dx, dy = X - float(a[0]), Y - float(a[1])
    t = dx * (abx / length2) + dy * (aby / length2)
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    px, py = dx - t * abx, dy - t * aby
    rad = ra + (rb - ra) * t
    nx, ny = px / rad, py / rad
    q2 = nx * nx + ny * ny
    shade = _shade(nx, ny, np.sqrt(np.maximum(1.0 - q2, 0.0)), ambient)
    if texture is not None:
        length = np.sqrt(length2)
        shade *= texture(t * length, (abx * dy - aby * dx) * (1 / length))
    cv.paint(box, (np.sqrt(q2) - 1.0) * rad, shade[..., None] * np.asarray(color, np.float32), label)


def _segment_distance(X: np.ndarray, Y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (px) from pixel centres ``X (1, w)``, ``Y (h, 1)`` to the segment a-b."""
    ab = b - a
    dx, dy = X - float(a[0]), Y - float(a[1])
    t = np.clip((dx * ab[0] + dy * ab[1]) / max(float(ab @ ab), 1e-6), 0.0, 1.0)
    return np.hypot(dx - t * ab[0], dy - t * ab[1])


def _ellipse(cv: Canvas, c: np.ndarray, ax: float, ay: float, ang: float, color, label: int) -> None:
    """A shaded ellipse (an ellipsoid seen from the front), semi-axes ``ax``, ``ay`` px, rotated by ``ang``."""
    r = max(ax, ay)
    g = cv.grid(c - r, c + r)
    if g is None:
        return
    box, X, Y = g
    u, v = _local(X, Y, c, ang)
    ku, kv = u / ax, v / ay
    k = np.sqrt(ku * ku + kv * kv)
    shade = _shade(ku, kv, np.sqrt(np.maximum(1 - k * k, 0.0)), 0.55)
    cv.paint(box, (k - 1) * min(ax, ay), shade[..., None] * np.asarray(color, np.float32), label)


def _local(X: np.ndarray, Y: np.ndarray, c: np.ndarray, ang: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to ``c`` in a frame rotated by ``ang``."""
    co, si = np.cos(ang), np.sin(ang)
    dx, dy = X - c[0], Y - c[1]
    return dx * co + dy * si, -dx * si + dy * co


def _cloth(noise: np.ndarray, stripe_px: float | None, amount: float = 0.08) -> Callable:
    """A fabric texture: fine noise that moves with the limb, optionally with stripes along it."""
    n = noise.shape[0]

    def texture(s: np.ndarray, w: np.ndarray) -> np.ndarray:
        tex = 1 + amount * noise[s.astype(np.int32) % n, w.astype(np.int32) % n]
        if stripe_px:
            tex = tex * np.where(np.sin(s * (np.pi / stripe_px)) > 0.55, 1.18, 1.0)
        return tex

    return texture


class Figure:
    """Draws one role's figure from projected joints (pixels)."""

    def __init__(self, spec: Role, cam: Camera, noise: np.ndarray):
        self.body, self.look, self.cam = spec.body, spec.look, cam
        self.px = cam.scale                              # pixels per unit height
        stripe = 0.018 * self.px if spec.look.stripe else None
        self.shirt_tex = _cloth(noise, stripe)
        self.pants_tex = _cloth(noise, None, 0.12)

    def draw(self, cv: Canvas, pts: dict[str, np.ndarray]) -> None:
        points = {k: v for k, v in pts.items() if v.ndim >= 1}
        p2 = map_points(points, self.cam)
        z = {k: v[..., 2] for k, v in points.items()}
        layers = [(float(z["knee_l"] + z["hip_l"]) / 2 - 0.06, lambda: self._leg(cv, p2, "l")),
                  (float(z["knee_r"] + z["hip_r"]) / 2 - 0.06, lambda: self._leg(cv, p2, "r")),
                  (0.0, lambda: self._torso(cv, p2, float(pts["yaw"]))),
                  (0.01, lambda: self._head(cv, p2, pts)),
                  (float(z["elbow_l"]) + 0.02, lambda: self._arm(cv, p2, "l")),
                  (float(z["elbow_r"]) + 0.02, lambda: self._arm(cv, p2, "r"))]
        for _, draw in sorted(layers, key=lambda layer: layer[0]):
            draw()

    def _label(self, name: str) -> int:
        return skeleton.PARTS[skeleton.PART_NAMES.index(name)].label

    def _leg(self, cv: Canvas, p2: dict, s: str) -> None:
        b, px, side = self.body, self.px, "left" if s == "l" else "right"
        pants = self.look.pants
        _capsule(cv, Capsule(p2[f"hip_{s}"], p2[f"knee_{s}"], b.r_thigh[0] * px, b.r_thigh[1] * px), pants,
                 self._label(f"{side}_upper_leg"), self.pants_tex)
        _capsule(cv, Capsule(p2[f"knee_{s}"], p2[f"ankle_{s}"], b.r_shin[0] * px, b.r_shin[1] * px), pants,
                 self._label(f"{side}_lower_leg"), self.pants_tex)
        toe = (p2[f"big_toe_{s}"] + p2[f"small_toe_{s}"]) / 2
        lower = self._label(f"{side}_lower_leg")
        _capsule(cv, Capsule(p2[f"ankle_{s}"], p2[f"heel_{s}"], 0.026 * px, 0.024 * px), self.look.shoe, lower)
        _capsule(cv, Capsule(p2[f"heel_{s}"], toe, 0.026 * px, 0.022 * px), self.look.shoe, lower)
        sole = np.array([0.0, 0.012 * px])
        _capsule(cv, Capsule(p2[f"heel_{s}"] + sole, toe + sole, 0.01 * px, 0.01 * px), (0.2, 0.2, 0.2), lower)

    def _torso(self, cv: Canvas, p2: dict, yaw: float) -> None:
        b, px = self.body, self.px
        neck = (p2["shoulder_l"] + p2["shoulder_r"]) / 2
        pelvis = (p2["hip_l"] + p2["hip_r"]) / 2
        axis = pelvis - neck
        length = float(np.linalg.norm(axis))
        turn = abs(np.cos(yaw)) + 0.35 * abs(np.sin(yaw))
        widths = np.array(b.torso_w) * px * turn
        r_sh = b.r_upper_arm[0] * px * 1.15
        lo = np.minimum(neck, pelvis) - widths.max() - r_sh
        hi = np.maximum(neck, pelvis) + widths.max() + r_sh
        g = cv.grid(lo, hi)
        if g is None:
            return
        box, X, Y = g
        ang = np.arctan2(axis[0], axis[1])        # 0 when upright; the local v axis runs down the torso
        w, s = _local(X, Y, neck, -ang)
        frac = s / length
        half = np.interp(frac, [0.0, 0.3, 0.62, 0.92, 1.12], [widths[0], widths[1], widths[2], widths[3], widths[3] * 0.92])
        dist = np.maximum(np.abs(w) - half, np.maximum(-s, s - 1.12 * length))
        # round shoulders, and the trapezius rising towards the neck
        collar = neck - axis / max(length, 1e-6) * (0.025 * px)
        dist = np.minimum(dist, _segment_distance(X, Y, p2["shoulder_r"], p2["shoulder_l"]) - r_sh)
        for s_ in ("l", "r"):
            dist = np.minimum(dist, _segment_distance(X, Y, p2[f"shoulder_{s_}"], collar) - 0.8 * r_sh)
        nx = np.clip(w / np.maximum(half, 1e-3), -1, 1)
        shade = _shade(nx, np.full_like(nx, -0.15), np.sqrt(1 - nx * nx))
        hem = frac < 0.84
        color = np.where(hem[..., None], np.asarray(self.look.shirt, np.float32), np.asarray(self.look.pants, np.float32))
        tex = np.where(hem, self.shirt_tex(s, w), self.pants_tex(s, w))
        cv.paint(box, dist, (shade * tex)[..., None] * color, self._label("torso"))
        # the neck (part of the head) over the collar: a bare neckline tells a detector it sees the front
        _capsule(cv, Capsule(neck, p2["head"] + (neck - p2["head"]) * 0.35, b.r_neck * px, 0.9 * b.r_neck * px),
                 self.look.skin, self._label("head"), ambient=0.4)

    def _arm(self, cv: Canvas, p2: dict, s: str) -> None:
        b, px, look, side = self.body, self.px, self.look, "left" if s == "l" else "right"
        sh, el, wr = p2[f"shoulder_{s}"], p2[f"elbow_{s}"], p2[f"wrist_{s}"]
        upper, lower = self._label(f"{side}_upper_arm"), self._label(f"{side}_lower_arm")
        hand = p2[f"hand_{s}"]
        self._hand(cv, hand, lower)
        upper_arm = Capsule(sh, el, b.r_upper_arm[0] * px, b.r_upper_arm[1] * px)
        forearm = Capsule(el, wr, b.r_forearm[0] * px, b.r_forearm[1] * px)
        if look.long_sleeves:
            _capsule(cv, upper_arm, look.shirt, upper, self.shirt_tex)
            _capsule(cv, forearm, look.shirt, lower, self.shirt_tex)
            return
        _capsule(cv, upper_arm, look.skin, upper)
        _capsule(cv, forearm, look.skin, lower)
        sleeve_end = sh + 0.5 * (el - sh)
        _capsule(cv, Capsule(sh, sleeve_end, b.r_upper_arm[0] * px * 1.12, b.r_upper_arm[0] * px * 1.08), look.shirt,
                 upper, self.shirt_tex)

    def _hand(self, cv: Canvas, hand: np.ndarray, label: int) -> None:
        b, px, skin = self.body, self.px, self.look.skin
        wrist = hand[0]
        palm_end = (hand[5] + hand[17]) / 2
        with cv.bytes_region(hand.min(0) - 2, hand.max(0) + 2) as region:
            if region is not None:
                rgb, labels, origin = region
                fingers = [_cv_points(hand[i:i + 4], origin) for i in (1, 5, 9, 13, 17)]
                width = max(1, int(round(0.014 * px)))
                cv2.polylines(rgb, fingers, False, _cv_color(np.asarray(skin) * 0.85), width, cv2.LINE_AA, 4)
                cv2.polylines(labels, fingers, False, label, width, cv2.LINE_8, 4)
        _capsule(cv, Capsule(wrist + 0.25 * (palm_end - wrist), palm_end - 0.15 * (palm_end - wrist),
                             b.r_palm * px, b.r_palm * px * 0.95), skin, label)

    def _head(self, cv: Canvas, p2: dict, pts: dict) -> None:
        b, px, look = self.body, self.px, self.look
        head_label = self._label("head")
        roll, yaw = float(pts["roll"]), float(pts["yaw"])
        a, hb = b.head_a * px, b.head_b * px * np.cos(ELEVATION)
        for ear in p2["ear_shapes"]:
            _ellipse(cv, ear, 0.16 * a, 0.28 * hb, roll, look.skin, head_label)
        c = p2["head"]
        _ellipse(cv, c, a, hb, roll, look.skin, head_label)
        self._face(cv, p2["face"], a)
        self._hair(cv, c, a, hb, roll, yaw, head_label)

    def _face(self, cv: Canvas, f: np.ndarray, a: float) -> None:
        """Eyes, brows, nose and mouth from the 68 face landmarks ``f: (68, 2)`` px; ``a`` head half-width px."""
        look = self.look
        with cv.bytes_region(f.min(0) - 2, f.max(0) + 2) as region:
            if region is None:
                return
            rgb, _, origin = region
            pts = _cv_points(f, origin)
            thin = max(1, int(round(0.08 * a)))
            aa = cv2.LINE_AA
            cv2.fillPoly(rgb, [pts[36:42], pts[42:48]], _cv_color((0.95, 0.94, 0.92)), aa, 4)
            for eye in (f[36:42], f[42:48]):
                centre = _cv_points(eye.mean(0), origin)
                cv2.circle(rgb, tuple(int(c) for c in centre), int(round(0.11 * a * 16)), _cv_color((0.2, 0.12, 0.07)), -1, aa, 4)
            lids = [pts[36:40], pts[42:46]]
            cv2.polylines(rgb, lids, False, _cv_color((0.12, 0.08, 0.06)), thin, aa, 4)
            cv2.polylines(rgb, [pts[17:22], pts[22:27]], False, _cv_color(np.asarray(look.hair) * 0.8), thin, aa, 4)
            skin_dark = np.asarray(look.skin) * 0.7
            cv2.polylines(rgb, [pts[28:31], pts[31:36]], False, _cv_color(skin_dark), thin, aa, 4)
            cv2.fillPoly(rgb, [pts[48:60]], _cv_color(look.lips), aa, 4)
            cv2.polylines(rgb, [pts[60:65]], False, _cv_color((0.3, 0.1, 0.1)), thin, aa, 4)

    def _hair(self, cv: Canvas, c: np.ndarray, a: float, hb: float, roll: float, yaw: float, label: int) -> None:
        r = 1.3 * max(a, hb)
        g = cv.grid(c - r - (0.5 * hb if self.look.bun else 0), c + r)
        if g is None:
            return
        box, X, Y = g
        u, v = _local(X, Y, c, roll)
        hu, hv = u / a, v / hb
        k = np.sqrt((hu / 1.1) ** 2 + ((hv + 0.1) / 1.06) ** 2)
        dist = (k - 1) * min(a, hb)
        hairline = -0.5 + 0.55 * (hu - 0.8 * np.sin(yaw)) ** 4
        dist = np.maximum(dist, (hv - hairline) * hb)
        if self.look.bun:
            dist = np.minimum(dist, np.hypot(hu * a, (hv + 1.12) * hb) - 0.42 * a)
        shade = _shade(np.clip(hu, -1, 1), np.clip(hv, -1, 1), np.sqrt(np.clip(1 - k * k, 0, 1)), 0.55)
        strands = 1 + 0.12 * np.sin(hu * 23 + hv * 4)
        cv.paint(box, dist, (shade * strands)[..., None] * np.asarray(self.look.hair, np.float32), label)
