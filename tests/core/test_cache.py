"""The user's cache (dancegen.core.cache): content-keyed arrays, written whole or not at all."""

import logging

import numpy as np
import pytest

from dancegen.core import cache


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "dancegen"


def test_an_array_is_computed_once_per_key(root):
    calls = []

    def compute(value):
        return lambda: calls.append(value) or np.full((3, 2), value, np.float32)

    first = cache.cached_array("kind", {"a": 1}, compute(1.5))
    again = cache.cached_array("kind", {"a": 1}, compute(9.0))
    other = cache.cached_array("kind", {"a": 2}, compute(2.5))
    assert calls == [1.5, 2.5]
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32 and again.shape == (3, 2) and (other == 2.5).all()
    assert sorted(p.suffix for p in (root / "kind").iterdir()) == [".npy", ".npy"]    # no temporary left


def test_a_damaged_entry_is_computed_again(root):
    cache.cached_array("kind", {"a": 1}, lambda: np.arange(4))
    (entry,) = (root / "kind").iterdir()
    entry.write_bytes(b"not an array")
    np.testing.assert_array_equal(cache.cached_array("kind", {"a": 1}, lambda: np.arange(4) * 2), np.arange(4) * 2)
    np.testing.assert_array_equal(np.load(entry), np.arange(4) * 2)


def test_an_unwritable_cache_only_costs_the_computing(root, caplog):
    root.parent.mkdir(exist_ok=True)
    root.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING):
        out = cache.cached_array("kind", {"a": 1}, lambda: np.ones(2))
    np.testing.assert_array_equal(out, np.ones(2))
    assert "not written" in caplog.text
