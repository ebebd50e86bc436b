"""Render the built-in demo videos and their ground truth: ``python stages/demo.py``.

Writes data/demo/{personal,reference}.mp4, data/demo/{personal,reference}_truth.h5 and
data/demo/scene.png (see :mod:`dancegen.demo`), deterministically from the ``demo`` section of params.yaml.
"""

from __future__ import annotations

import sys

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.demo import write_demo
from dancegen.errors import DanceGenError

OUT_DIR = "data/demo"


def main() -> None:
    if len(sys.argv) > 1:
        raise DanceGenError("stages/demo.py", f"takes no arguments, got {sys.argv[1:]}")
    params = load_params()
    write_demo(OUT_DIR, params.demo)


if __name__ == "__main__":
    run_stage("demo", main)
