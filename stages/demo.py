"""Render the built-in demo videos and their ground truth: ``python stages/demo.py``.

Writes data/demo/{personal,reference}.mp4, data/demo/{personal,reference}_truth.h5 and
data/demo/scene.png (see :mod:`dancegen.demo`), deterministically from the ``demo`` section of params.yaml.
"""

from __future__ import annotations

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.demo import write_demo

OUT_DIR = "data/demo"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    params = load_params()
    write_demo(OUT_DIR, params.demo)


if __name__ == "__main__":
    run_stage("demo", main)
