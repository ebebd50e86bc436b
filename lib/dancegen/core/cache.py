"""What the package keeps in the user's cache between processes, under a key of everything it was
computed from (input files' contents, parameters, the computing code), so an entry is never stale.

Nothing in it is a pipeline output (DVC tracks those): it only spares a later process work an
earlier one did — the OpenVINO export of a model file (:mod:`dancegen.transfer.engine`), each
training frame's part visibility (:func:`dancegen.model.sources.build_part_index`, seconds per
stage on a 2-core CPU otherwise). The folder is ``$XDG_CACHE_HOME/dancegen`` (default
``~/.cache/dancegen``); deleting it costs only time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/dancegen`` (default ``~/.cache/dancegen``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dancegen"


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_array(kind: str, key: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array ``compute()`` gives, read from ``<cache>/<kind>/<SHA-256 of key>.npy`` when an
    earlier process stored it, else computed and stored (written to a temporary name and renamed,
    so a reader never sees half a file). ``key``: JSON-serialisable, everything the array depends
    on. A cache that cannot be written (a read-only home) costs only the recomputing, and says so."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    path = cache_root() / kind / f"{digest}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):       # a damaged entry is computed again and replaced
            pass
    array = np.asarray(compute())
    tmp = path.with_name(f".{digest}.{os.getpid()}.npy")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("cache %s not written (%s): it is computed again next time", path, error)
    return array
