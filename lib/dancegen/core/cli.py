"""Shared plumbing for the thin entry points in ``stages/``: one-line errors, exit codes."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from dancegen.core.errors import DanceGenError


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a :class:`DanceGenError` becomes one line on stderr and exit code 1."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s", stream=sys.stderr)
    try:
        main()
    except DanceGenError as err:
        print(f"[{name}] error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"[{name}] interrupted", file=sys.stderr)
        sys.exit(130)
