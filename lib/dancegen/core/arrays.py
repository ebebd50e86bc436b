"""Small array helpers shared across the pipeline's roles."""

from __future__ import annotations

import numpy as np


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``, half-open, of the runs of True in ``flags: (T,) bool``."""
    edges = np.diff(np.concatenate([[0], np.asarray(flags).astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def finite_mean(values) -> float | None:
    """The mean of the finite ones of ``values`` (any iterable of numbers), None when there are none."""
    values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, np.float64).ravel()
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None
