"""How alike two poses are: the normalised keypoint distance, and the nearest poses of a pool.

A pose is centred and scaled by its body size (:func:`dancegen.body.skeleton.normalize_body`), so the
distance ignores where the body stands and how large it is. Keypoint arrays are ``(N, 133, 3)
float32`` x, y, confidence in pixels (COCO-WholeBody order).
"""

from __future__ import annotations

import numpy as np

from dancegen.body import skeleton

# Nearest-pose search against M pool poses: query poses go in blocks of _SEARCH_ROWS (an
# (rows, M) distance matrix), compared _SEARCH_CHUNK at a time ((chunk, M, 17) temporaries).
_SEARCH_ROWS = 512
_SEARCH_CHUNK = 32
# Query × pool pose pairs compared at once by default, so that the (chunk, M, 17, 2) temporaries stay
# near 36 MB however long the video (256 queries at a time grew them to ~1.5 GB for a 10-minute pool).
_BLOCK_PAIRS = 1 << 18


def _normalised(kps: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 17, 2)`` normalised body joints and ``(N, 17)`` presence (all False where no scale)."""
    xy = np.zeros((len(kps), 17, 2), np.float32)
    present = np.zeros((len(kps), 17), bool)
    for i, kp in enumerate(kps):
        norm = skeleton.normalize_body(kp, min_conf)
        if norm is not None:
            xy[i], present[i] = norm
    return xy, present


class PosePool:
    """Poses to search, normalised once (:func:`skeleton.normalize_body`): ``pool (M, 133, 3)``.

    For a stream of queries against one pool (``dancegen live``: one per frame), where normalising
    the pool again for every query would cost more than the search."""

    def __init__(self, pool: np.ndarray, min_conf: float):
        self.min_conf = min_conf
        self.xy, self.present = _normalised(pool, min_conf)          # (M, 17, 2), (M, 17)

    def distances(self, query: np.ndarray, chunk: int | None = None) -> np.ndarray:
        """Normalised keypoint distance of every query pose ``(Nq, 133, 3)`` to every pool pose:
        ``(Nq, M)``, the mean Euclidean distance over the body joints present in both (inf if none);
        ``chunk`` query poses at a time (by default as many as keep ``_BLOCK_PAIRS`` pairs)."""
        qxy, qp = _normalised(query, self.min_conf)
        out = np.empty((len(query), len(self.xy)), np.float32)
        chunk = chunk or max(1, _BLOCK_PAIRS // max(1, len(self.xy)))
        for a in range(0, len(query), chunk):
            d = np.linalg.norm(qxy[a:a + chunk, None] - self.xy[None], axis=-1)     # (c, M, 17)
            both = qp[a:a + chunk, None] & self.present[None]
            n = both.sum(-1)
            out[a:a + chunk] = np.where(n > 0, (d * both).sum(-1) / np.maximum(n, 1), np.inf)
        return out

    def nearest(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each query pose the index of the nearest pool pose and its distance, ``(Nq,)`` each;
        in blocks of queries, so memory stays bounded for long videos."""
        index = np.empty(len(query), np.int64)
        distance = np.empty(len(query), np.float64)
        for a in range(0, len(query), _SEARCH_ROWS):
            d = self.distances(query[a:a + _SEARCH_ROWS], _SEARCH_CHUNK)
            index[a:a + len(d)] = d.argmin(1)
            distance[a:a + len(d)] = d[np.arange(len(d)), index[a:a + len(d)]]
        return index, distance


def pose_distances(query: np.ndarray, pool: np.ndarray, min_conf: float, chunk: int | None = None) -> np.ndarray:
    """:meth:`PosePool.distances` of ``query`` to ``pool``: ``(Nq, Np)``."""
    return PosePool(pool, min_conf).distances(query, chunk)


def nearest_poses(query: np.ndarray, pool: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`PosePool.nearest` of ``query`` in ``pool``: index and distance, ``(Nq,)`` each."""
    return PosePool(pool, min_conf).nearest(query)


# --------------------------------------------------------------------------- one part's pose

# The context of each part (:func:`part_descriptors`): two vectors, each a pair of joints or a part
# whose segment is taken. "shoulders"/"hips"/"eyes" run from the person's right joint to the left
# one, so they show which way the body or face is turned (they flip from a front to a back view).
_CONTEXT: dict[str, tuple[str, str]] = {
    "head": ("eyes", "shoulders"),
    "torso": ("shoulders", "hips"),
    "left_upper_arm": ("shoulders", "left_lower_arm"),
    "left_lower_arm": ("left_upper_arm", "shoulders"),
    "right_upper_arm": ("shoulders", "right_lower_arm"),
    "right_lower_arm": ("right_upper_arm", "shoulders"),
    "left_upper_leg": ("hips", "left_lower_leg"),
    "left_lower_leg": ("left_upper_leg", "hips"),
    "right_upper_leg": ("hips", "right_lower_leg"),
    "right_lower_leg": ("right_upper_leg", "hips"),
}
_LINES = {"shoulders": ("right_shoulder", "left_shoulder"), "hips": ("right_hip", "left_hip"),
          "eyes": ("right_eye", "left_eye")}
PART_DESCRIPTOR_DIM = 6   # the part's own segment (2) and its two context vectors (4)


def _vector(kp: np.ndarray, name: str, segments: dict, min_conf: float) -> np.ndarray | None:
    """A context vector of ``kp: (133, 3)``: a joint line of :data:`_LINES` or a part's segment."""
    if name in _LINES:
        a, b = (skeleton.J[j] for j in _LINES[name])
        return kp[b, :2] - kp[a, :2] if min(kp[a, 2], kp[b, 2]) >= min_conf else None
    segment = segments[name]
    return None if segment is None else segment[1] - segment[0]


def part_descriptors(kps: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How each body part is posed, independent of where the body stands and how large it is.

    ``kps: (N, 133, 3)`` → ``descriptors (N, 10, 6) float32`` (parts in :data:`skeleton.PARTS`
    order): the part's own segment (start → end of :func:`skeleton.part_segments`, relative to the
    joint it hangs from) and the two context vectors of :data:`_CONTEXT` (the way the body faces, the
    next part of the limb), all divided by :func:`skeleton.body_scale`; ``own (N, 10) bool`` where
    the segment is known and ``context (N, 10) bool`` where both context vectors are too."""
    out = np.zeros((len(kps), skeleton.NUM_PARTS, PART_DESCRIPTOR_DIM), np.float32)
    own = np.zeros((len(kps), skeleton.NUM_PARTS), bool)
    context = np.zeros_like(own)
    for i, kp in enumerate(kps):
        scale = skeleton.body_scale(kp, min_conf)
        if scale is None:
            continue
        segments = skeleton.part_segments(kp, min_conf)
        for k, part in enumerate(skeleton.PARTS):
            vectors = [_vector(kp, name, segments, min_conf) for name in (part.name, *_CONTEXT[part.name])]
            own[i, k], context[i, k] = vectors[0] is not None, all(v is not None for v in vectors)
            for j, v in enumerate(vectors):
                if v is not None:
                    out[i, k, 2 * j:2 * j + 2] = v / scale
    return out, own, context
