"""pix2pixHD's PatchGAN discriminators, single- and multi-scale (Sec. 3.5, 4.2).

The discriminator is conditional, D(x, p): the caller concatenates the image (B, 3, H, W) and the
stacked pose maps (B, C_p, H, W) on channels, so ``in_ch = 3 + C_p`` (``3 + 15 K`` for our pose maps).
Every layer's output is returned, not just the patch prediction, for the feature-matching loss.
"""

from __future__ import annotations

import torch
from torch import nn

from dancegen.model.nets.generator import halve, init_weights


class NLayerDiscriminator(nn.Module):
    """(B, in_ch, H, W) -> list of ``n_layers + 2`` feature maps (B, C_i, H_i, W_i).

    4x4 convs: one stride-2 conv without norm, ``n_layers - 1`` stride-2 convs with InstanceNorm, one
    stride-1 conv with InstanceNorm (each LeakyReLU 0.2), and a stride-1 conv to one channel, whose
    output, last in the list, is the unbounded patch prediction (B, 1, H_p, W_p).
    """

    def __init__(self, in_ch: int, ndf: int = 32, n_layers: int = 3):
        super().__init__()
        widths = [min(ndf * 2 ** i, 512) for i in range(n_layers + 1)]
        layers = [nn.Sequential(nn.Conv2d(in_ch, ndf, 4, stride=2, padding=2),
                                nn.LeakyReLU(0.2))]
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            layers.append(nn.Sequential(
                nn.Conv2d(widths[i - 1], widths[i], 4, stride=stride, padding=2),
                nn.InstanceNorm2d(widths[i]), nn.LeakyReLU(0.2)))
        layers.append(nn.Conv2d(widths[-1], 1, 4, stride=1, padding=2))
        self.layers = nn.ModuleList(layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs, the k-th (from 0) on the input halved k times.

    (B, in_ch, H, W) -> list over scales (finest first) of lists over layers, as
    :class:`NLayerDiscriminator` returns them.
    """

    def __init__(self, in_ch: int, ndf: int = 32, n_layers: int = 3, num_D: int = 2):
        super().__init__()
        self.scales = nn.ModuleList(NLayerDiscriminator(in_ch, ndf, n_layers) for _ in range(num_D))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for i, disc in enumerate(self.scales):
            if i:
                x = halve(x)
            results.append(disc(x))
        return results
