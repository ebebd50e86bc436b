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


def _normalised(kps: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 17, 2)`` normalised body joints and ``(N, 17)`` presence (all False where no scale)."""
    xy = np.zeros((len(kps), 17, 2), np.float32)
    present = np.zeros((len(kps), 17), bool)
    for i, kp in enumerate(kps):
        norm = skeleton.normalize_body(kp, min_conf)
        if norm is not None:
            xy[i], present[i] = norm
    return xy, present


def pose_distances(query: np.ndarray, pool: np.ndarray, min_conf: float,
                   chunk: int = 256) -> np.ndarray:
    """Normalised keypoint distance of every query pose to every pool pose: ``(Nq, Np)``.

    Distance = mean Euclidean distance over the body joints present in both (inf if none shared).
    """
    qxy, qp = _normalised(query, min_conf)
    pxy, pp = _normalised(pool, min_conf)
    out = np.empty((len(query), len(pool)), np.float32)
    for a in range(0, len(query), chunk):
        d = np.linalg.norm(qxy[a:a + chunk, None] - pxy[None], axis=-1)       # (c, Np, 17)
        both = qp[a:a + chunk, None] & pp[None]
        n = both.sum(-1)
        out[a:a + chunk] = np.where(n > 0, (d * both).sum(-1) / np.maximum(n, 1), np.inf)
    return out


def nearest_poses(query: np.ndarray, pool: np.ndarray, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """For each query pose the index of the nearest ``pool`` pose and its distance, ``(Nq,)`` each.

    :func:`pose_distances` in blocks, so memory stays bounded for long videos.
    """
    index = np.empty(len(query), np.int64)
    distance = np.empty(len(query), np.float64)
    for a in range(0, len(query), _SEARCH_ROWS):
        d = pose_distances(query[a:a + _SEARCH_ROWS], pool, min_conf, _SEARCH_CHUNK)
        index[a:a + len(d)] = d.argmin(1)
        distance[a:a + len(d)] = d[np.arange(len(d)), index[a:a + len(d)]]
    return index, distance
