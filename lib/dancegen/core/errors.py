"""The one user-facing exception type.

Library code raises :class:`DanceGenError` with the file (or params key) and the problem; stage
entry points catch it and print it as one line (see :func:`dancegen.core.cli.run_stage`).
"""

from __future__ import annotations

from pathlib import Path


class DanceGenError(Exception):
    """A problem a user can act on: names the file (or params key) and what is wrong with it."""

    def __init__(self, where: str | Path, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")

    def __reduce__(self):
        # Rebuilt from its two parts, so that it crosses a process boundary (detect's workers) as itself.
        return type(self), (self.where, self.problem)
