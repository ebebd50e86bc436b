"""The ``dancegen`` console script (pyproject.toml): ``dancegen live …`` (:mod:`dancegen.transfer.live`).

Kept apart from :mod:`dancegen.core.cli`, the stages' plumbing, so that no stage's code depends on the
live mode's.
"""

from __future__ import annotations

import argparse

from dancegen.transfer import live
from dancegen.core.cli import run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dancegen", description="dancegen: personalised motion transfer")
    commands = parser.add_subparsers(dest="command", required=True)
    live.add_arguments(commands.add_parser("live", help="drive a trained model from a camera, file or stream",
                                           description=live.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    run_stage(args.command, lambda: live.main(args))


if __name__ == "__main__":
    main()
