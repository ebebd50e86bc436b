"""The HD refiner: a small net at the render size H that refines a correcting variant's HD render.

The HD render (:meth:`dancegen.model.generators.Generators.render`) is the person's own pixels moved,
matted and recoloured by fields the nets computed at R: sharp, but where the warp put a limb a few
pixels off it is sharp and wrong, and its two bilinear resamplings soften the texture. The nets' own
output at R, upsampled, is the opposite: placed as the nets learnt, but a blur. The refiner sees both
at H and adds a residual to the render: ``refined = clip(render + Δ)``, Δ from a zero-initialised head,
so an untrained refiner returns the render exactly. It works on 2 × 2 pixel blocks
(``pixel_unshuffle``), so its ``layers`` 3 × 3 convolutions of ``width`` channels see ~4·layers + 2
pixels of H around each pixel, at a quarter of the cost of running at H.

Layout: ``render, upsampled: (B, 3, H, W)`` in [-1, 1], H and W even → ``(B, 3, H, W)`` in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

BLOCK = 2    # the refiner's pixels are BLOCK × BLOCK blocks of H


@dataclass(frozen=True)
class RefinerConfig:
    """Everything needed to rebuild a :class:`Refiner`; ``size``: the render size H it was trained at."""

    width: int
    layers: int
    size: int


class Refiner(nn.Module):
    """``forward(render, upsampled)`` → the refined render (module docstring)."""

    def __init__(self, config: RefinerConfig):
        super().__init__()
        self.config = config
        blocks = 2 * 3 * BLOCK * BLOCK
        layers: list[nn.Module] = []
        for i in range(config.layers):
            layers += [nn.Conv2d(blocks if i == 0 else config.width, config.width, 3, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(config.width, 3 * BLOCK * BLOCK, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, render: torch.Tensor, upsampled: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(torch.cat([render, upsampled], 1), BLOCK)
        delta = F.pixel_shuffle(self.head(self.body(x)), BLOCK)
        return (render + delta.float()).clamp(-1, 1)
