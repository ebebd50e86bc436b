"""The U-Net of Posewarp (Balakrishnan et al., CVPR 2018, Sec. 3): an encoder of stride-2
convolutions and a decoder that upsamples and concatenates the encoder's feature map of the same
size before each convolution, so that the image it is given reaches the output at full resolution.

As in the authors' networks: 3×3 convolutions with LeakyReLU(0.2) and no normalisation. The output
is a linear 3×3 convolution (the caller applies tanh, sigmoid or softmax to the channels it
reads), optionally starting at exactly 0 for a net that corrects something it is given; the net is fully convolutional: trained at one size, it runs at
another whose sides are divisible by 2**depth. All tensors are (B, C, H, W).
"""

from __future__ import annotations

import torch
from torch import nn

from dancegen.model.nets.generator import init_weights

# Feature widths stop doubling at this multiple of ngf (the authors' stop at 512 = 8 × 64).
MAX_WIDTH_FACTOR = 8


def _conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), nn.LeakyReLU(0.2, True))


class UNet(nn.Module):
    """(B, in_ch, H, W) → (B, out_ch, H, W), H and W divisible by 2**depth; ``depth`` stride-2
    convolutions, widths ``ngf · 2**i`` capped at ``MAX_WIDTH_FACTOR · ngf``; with ``zero_head``
    the output is 0 at initialisation."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int, depth: int, zero_head: bool = False):
        super().__init__()
        widths = [ngf * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(depth + 1)]
        self.stem = _conv(in_ch, widths[0])
        self.down = nn.ModuleList(_conv(widths[i], widths[i + 1], stride=2) for i in range(depth))
        self.up = nn.ModuleList(_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_ch, 3, padding=1)
        self.depth = depth
        init_weights(self)
        if zero_head:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"U-Net input {tuple(x.shape[-2:])} is not divisible by 2**{self.depth}")
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.up:
            y = nn.functional.interpolate(y, scale_factor=2, mode="nearest")
            y = up(torch.cat([y, skips.pop()], 1))
        return self.head(y)
