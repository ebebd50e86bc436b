"""What a variant is: the small contract every variant module fulfils (:class:`Variant`).

Images are ``(B, 3, R, R)`` tensors in [-1, 1]; mattes ``(B, 1, R, R)`` in [0, 1]. The batch
layout is :mod:`dancegen.model.inputs`'. ``generators`` is the :class:`dancegen.model.generators.Generators`
holding the nets this variant asked for, with ``run(name, x)`` and ``config``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dancegen.core.config import LossParams
from dancegen.model.generators import FINAL, SYNTHESIS, upsampled



@dataclass(frozen=True)
class Variant:
    """One variant; subclasses implement the methods. ``row``: its place in the paper's tables."""

    name: str
    label: str          # its name in the report's tables and figures
    row: int            # the paper's row order (Fig. 6, Tables 1–3)
    summary: str        # one line: what it is
    synthesis: bool     # it outputs Ĩ_out, the person on green (``synthesis``) besides I_out

    def corrects(self, compose: str) -> bool:
        """Whether its nets correct images they are given (zero-initialised heads) under ``compose``."""
        raise NotImplementedError

    def net_channels(self, pose_channels: int, compose: str) -> dict[str, tuple[int, int]]:
        """Its generator nets: name → (input channels, output channels)."""
        raise NotImplementedError

    def forward(self, generators, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The outputs (``final`` always) of a batch."""
        raise NotImplementedError

    def render(self, generators, outputs: dict[str, torch.Tensor], batch_hd: dict[str, torch.Tensor]
               ) -> dict[str, torch.Tensor]:
        """``outputs`` (of :meth:`forward` at R) at the size of ``batch_hd`` (the inputs built at H):
        a variant that paints every pixel has nothing sharper to start from, so its images are
        upsampled (bicubic); a variant that corrects images it is given applies its nets' fields to
        the inputs at H instead."""
        size = batch_hd["I_in"].shape[-2:]
        return {k: upsampled(v, size, "bicubic").clamp(-1, 1) for k, v in outputs.items()
                if k in (FINAL, SYNTHESIS)}

    def judged(self, loss: LossParams) -> tuple[str, ...]:
        """The outputs that have a discriminator and losses of their own (``final`` last)."""
        raise NotImplementedError

    def matte(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              corrects: bool) -> torch.Tensor:
        """The generated person's soft matte ``(B, 1, R, R)``, for compositing it elsewhere."""
        raise NotImplementedError

    def sample_columns(self, batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                       n: int) -> list[torch.Tensor]:
        """The training sample grid's columns between I_in and I_out | I_ref, ``n`` rows each."""
        raise NotImplementedError
