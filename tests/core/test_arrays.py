import numpy as np

from dancegen.core.arrays import true_runs


def test_runs_of_true_are_half_open_and_cover_the_edges():
    assert true_runs(np.array([True, True, False, True, False, False, True])) == [(0, 2), (3, 4), (6, 7)]
    assert true_runs(np.zeros(4, bool)) == [] and true_runs(np.ones(3, bool)) == [(0, 3)]
