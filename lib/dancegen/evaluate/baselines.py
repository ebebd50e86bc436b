"""Outputs that cost nothing, scored beside the trained variants: did a model learn anything?

For a pair (t_in, t_ref), from the very inputs the generators get (:class:`dancegen.model.inputs.InputBuilder`):
  ``input_frame``  I_in copied as I_out
  ``background``   the background plate B as I_out
  ``tangram``      the warped body parts T (3.1) — from I_in, or each from its own source frame
                   (``sources.mode: per_part``) — each completed where another part hid it
                   (:func:`dancegen.body.parts.warp_parts_amodal`), laid over B_in, the input frame's own
                   room with its person replaced by B (:func:`dancegen.body.parts.tangram`) — the
                   composite a ``blend`` model starts from, with no network at all
"""

from __future__ import annotations

import numpy as np

from dancegen.core.images import to_uint8
from dancegen.model.inputs import InputBuilder, part_stacks
from dancegen.body.parts import tangram, warp_parts_amodal

BASELINES = ("input_frame", "background", "tangram")
LABELS = {"input_frame": "Input frame (copied)", "background": "Background plate", "tangram": "Tangram over B_in"}


def baseline_image(name: str, builder: InputBuilder, t_in: int, ref_poses: np.ndarray,
                   exclude: int | None = None) -> np.ndarray:
    """The ``name`` baseline's I_out for input frame ``t_in`` under ``ref_poses: (K, 133, 3)`` (the
    reference's own frame ``exclude``, as :meth:`InputBuilder.sample`) → ``(R, R, 3) uint8 RGB``."""
    if name == "input_frame":
        return to_uint8(builder.frame_image(t_in))
    if name == "background":
        return to_uint8(builder.background)
    if name == "tangram":
        sample = builder.sample(t_in, ref_poses, exclude, with_pose_maps=False)
        images, parsing = part_stacks(sample)
        T, coverage, hidden = warp_parts_amodal(images[None], parsing[None], sample["theta"][None],
                                                sample["part_valid"][None], sample["hidden_in"][None])
        return to_uint8(tangram(T, coverage, sample["B_in"][None], hidden)[0])
    raise ValueError(f"unknown baseline '{name}' (known: {', '.join(BASELINES)})")


class BaselineImages:
    """The ``name`` baseline's images for a list of (t_in, reference pose history[, excluded frame])
    jobs, made on access so that no more than one is held: ``images[i]`` is job i's ``(R, R, 3) uint8``."""

    def __init__(self, name: str, builder: InputBuilder, jobs: list[tuple]):
        self.name, self.builder, self.jobs = name, builder, jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> np.ndarray:
        return baseline_image(self.name, self.builder, *self.jobs[i])
