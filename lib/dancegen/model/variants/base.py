"""What a variant is: the small contract every variant module fulfils (:class:`Variant`).

Images are ``(B, 3, R, R)`` tensors in [-1, 1]; mattes ``(B, 1, R, R)`` in [0, 1]. The batch
layout is :mod:`dancegen.model.inputs`'. ``generators`` is the :class:`dancegen.model.generators.Generators`
holding the nets this variant asked for, with ``run(name, x)`` and ``config``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from dancegen.core.config import InputSpec, LossParams
from dancegen.model.generators import FINAL, SYNTHESIS, upsampled
from dancegen.model.nets.generator import GlobalGenerator, GlobalKnobs, LocalEnhancer


@dataclass(frozen=True)
class Variant:
    """One variant; subclasses implement the methods. ``row``: its place in the paper's tables."""

    name: str
    label: str          # its name in the report's tables and figures
    row: int            # the paper's row order (Fig. 6, Tables 1–3)
    summary: str        # one line: what it is
    synthesis: bool     # it outputs Ĩ_out, the person on green (``synthesis``) besides I_out
    composes: bool = False     # model.compose decides how its nets compose (the two-stage variants)
    warps_parts: bool = False  # it cuts body parts out of a frame and moves them (Sec. 3.1)
    per_part: bool = False     # it can take each part from its own frame (sources.mode: per_part)

    @property
    def judges_synthesis(self) -> bool:
        """Whether a synthesis net of its own has losses of its own (``loss.synthesis_target``)."""
        return False

    def input_spec(self, spec: InputSpec) -> InputSpec:
        """``spec`` as this variant takes its inputs: every part from I_in where it warps one frame."""
        if self.per_part or spec.sources.mode == "single":
            return spec
        return dataclasses.replace(spec, sources=dataclasses.replace(spec.sources, mode="single"))

    def net(self, name: str, in_ch: int, out_ch: int, config) -> nn.Module:
        """The generator net ``name`` of ``config`` (:class:`dancegen.model.generators.GeneratorConfig`):
        pix2pixHD's global generator ``g``, or ``G = (g, g̃)`` once enhanced; a ``zero`` head where
        the variant corrects images it is given, else ``tanh``."""
        head = "zero" if self.corrects(config.compose) else "tanh"
        knobs = GlobalKnobs(config.ngf, config.n_downsample, config.n_blocks, config.upsample, head, config.stem)
        if config.enhanced:
            return LocalEnhancer(in_ch, out_ch, knobs, config.n_local_blocks)
        return GlobalGenerator(in_ch, out_ch, knobs)

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
