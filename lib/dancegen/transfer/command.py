"""The ``dancegen`` console script (pyproject.toml): ``dancegen live …`` (:mod:`dancegen.transfer.live`)
and ``dancegen repro …``, the pipeline with independent stages side by side (:mod:`dancegen.core.repro`).

Kept apart from :mod:`dancegen.core.cli`, the stages' plumbing, so that no stage's code depends on the
live mode's.
"""

from __future__ import annotations

import argparse

from dancegen.core import repro
from dancegen.core.cli import run_stage
from dancegen.transfer import live


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dancegen", description="dancegen: personalised motion transfer")
    commands = parser.add_subparsers(dest="command", required=True)
    live.add_arguments(commands.add_parser("live", help="drive a trained model from a camera, file or stream",
                                           description=live.__doc__.splitlines()[0]))
    repro.add_arguments(commands.add_parser("repro", help="dvc repro, running stages that do not depend on "
                                            "each other at the same time", description=repro.DESCRIPTION))
    args = parser.parse_args(argv)
    run_stage(args.command, lambda: (live if args.command == "live" else repro).main(args))


if __name__ == "__main__":
    main()
