"""The variants a personal model can be trained as, one module each, found by name.

A variant module (``ours.py``, ``ours_baseline.py``, ``pix2pixhd.py`` …) defines ``VARIANT``, a
:class:`Variant`: its nets, how they compose the output, which outputs are judged in training, the
person's matte for compositing, its sample-grid columns and its label in the report. Every
consumer asks that object (:func:`get_variant`); adding a variant is one new module here.
:data:`NAMES` lists the modules without importing them, so that the config can check
``train.variants`` without loading torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dancegen.model.variants.base import Variant

# Every module of this package but the shared ones (base, the leading underscore) is a variant.
NAMES: tuple[str, ...] = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                                      if m.name != "base" and not m.name.startswith("_")))


def get_variant(name: str) -> Variant:
    """The :class:`Variant` of ``name``; ValueError for an unknown name."""
    if name not in NAMES:
        raise ValueError(f"unknown variant '{name}' (known: {', '.join(NAMES)})")
    return importlib.import_module(f"{__name__}.{name}").VARIANT


def ordered(names) -> list[str]:
    """``names`` in the paper's row order (Fig. 6, Tables 1–3: baselines first, Ours last)."""
    return sorted(names, key=lambda n: get_variant(n).row)


def label(name: str) -> str:
    """The variant's name in the report."""
    return get_variant(name).label


