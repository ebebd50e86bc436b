"""The generators of Sec. 4.2: the global net ``g`` and the two-scale ``G = (g, g̃)``.

pix2pixHD's architecture with its vocabulary (``ngf``, ``n_downsample``, ``n_blocks``); the paper
halves pix2pixHD's widths, which is only a smaller ``ngf`` here. Training follows pix2pixHD: ``g``
alone at the low resolution, then :meth:`LocalEnhancer.from_global` wraps the trained ``g`` in
``G`` for the high resolution. All tensors are (B, C, H, W).

Three knobs go beyond pix2pixHD, each with pix2pixHD's form selectable:
  ``upsample``  ``transpose``: 3×3 stride-2 transposed convolutions (pix2pixHD, the paper);
                ``resize``: ×2 nearest-neighbour upsampling, then a 3×3 convolution — transposed
                convolutions overlap unevenly and print a checkerboard on the image (Odena,
                Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).
  ``head``      ``tanh``: the image in [-1, 1] (pix2pixHD); ``zero``: a linear output conv whose
                weights and bias start at 0, for nets that predict a correction of an image they are
                given (:func:`dancegen.model.generators.compose`): at initialisation the correction is exactly 0.
  ``stem``      0: the first 7×7 convolution reads every input channel (pix2pixHD); N > 0: a 1×1
                convolution projects the inputs to N channels first. With this project's 48–75 input
                channels (three poses' maps, ten warped parts) at full resolution, the 7×7 stems are
                about two thirds of the generators' multiply-adds; N = 16 cuts them ~4× (benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def halve(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/2, W/2): pix2pixHD's 2x downsampling between scales.

    ``G`` feeds ``g`` with ``halve(input)``; make ``g``'s low-resolution inputs the same way, so the
    ``g`` trained at low resolution sees inside ``G`` what it was trained on.
    """
    return nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


def init_weights(module: nn.Module) -> None:
    """pix2pixHD's initialisation, N(0, 0.02) convolution weights and zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _stem(in_ch: int, out_ch: int, project: int = 0) -> list[nn.Module]:
    """7×7 conv, IN, ReLU; with ``project`` > 0, a 1×1 conv of the input to ``project`` channels first."""
    front = [nn.Conv2d(in_ch, project, 1, bias=False)] if project else []
    return [*front, nn.ReflectionPad2d(3), nn.Conv2d(project or in_ch, out_ch, 7), nn.InstanceNorm2d(out_ch),
            nn.ReLU(True)]


def _down_block(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.InstanceNorm2d(out_ch),
            nn.ReLU(True)]


UPSAMPLE = ("resize", "transpose")
HEADS = ("tanh", "zero")


def _up_block(in_ch: int, out_ch: int, upsample: str) -> list[nn.Module]:
    if upsample == "transpose":
        up = [nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1)]
    elif upsample == "resize":
        up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3)]
    else:
        raise ValueError(f"unknown upsample '{upsample}' (known: {', '.join(UPSAMPLE)})")
    return [*up, nn.InstanceNorm2d(out_ch), nn.ReLU(True)]


def _output_head(in_ch: int, out_ch: int, head: str) -> nn.Sequential:
    if head not in HEADS:
        raise ValueError(f"unknown head '{head}' (known: {', '.join(HEADS)})")
    conv = nn.Conv2d(in_ch, out_ch, 7)
    return nn.Sequential(nn.ReflectionPad2d(3), conv, *([nn.Tanh()] if head == "tanh" else []))


def _zero_head(module: nn.Module, head: str) -> None:
    """Start a ``zero`` head at exactly 0 output (called after :func:`init_weights`)."""
    if head == "zero":
        conv = module.head[1]
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)


class ResnetBlock(nn.Module):
    """x + (pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN)(x), width preserved."""

    def __init__(self, ch: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@dataclass(frozen=True)
class GlobalKnobs:
    """The architecture knobs of a global generator ``g`` (:class:`GlobalGenerator`'s, but its channels),
    which ``G`` (:class:`LocalEnhancer`) is built around; the defaults are pix2pixHD's, at the paper's width."""

    ngf: int = 32
    n_downsample: int = 3
    n_blocks: int = 9
    upsample: str = "transpose"
    head: str = "tanh"
    stem: int = 0            # 0: the 7×7 stem reads every input channel; N: a 1×1 projection to N first


class GlobalGenerator(nn.Module):
    """``g``: (B, in_ch, H, W) -> (B, out_ch, H, W); H, W divisible by 2**knobs.n_downsample.

    ``trunk`` (the stem: a 7x7 conv, after a 1x1 projection with ``knobs.stem``; ``n_downsample``
    stride-2 convs, ``n_blocks`` residual blocks, as many upsampling blocks) ends in ``ngf`` channels
    at full resolution; ``head`` (7x7 conv, then tanh or nothing, see the module docstring) maps them
    to the output. ``G`` reuses the trunk without the head.
    """

    def __init__(self, in_ch: int, out_ch: int = 3, knobs: GlobalKnobs = GlobalKnobs()):
        super().__init__()
        self.in_ch, self.out_ch, self.ngf, self.knobs = in_ch, out_ch, knobs.ngf, knobs
        ngf, depth = knobs.ngf, knobs.n_downsample
        layers = _stem(in_ch, ngf, knobs.stem)
        for i in range(depth):
            layers += _down_block(ngf * 2 ** i, ngf * 2 ** (i + 1))
        layers += [ResnetBlock(ngf * 2 ** depth) for _ in range(knobs.n_blocks)]
        for i in reversed(range(depth)):
            layers += _up_block(ngf * 2 ** (i + 1), ngf * 2 ** i, knobs.upsample)
        self.trunk = nn.Sequential(*layers)
        self.head = _output_head(ngf, out_ch, knobs.head)
        init_weights(self)
        _zero_head(self, knobs.head)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, ngf, H, W): everything before the output conv."""
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class LocalEnhancer(nn.Module):
    """``G = (g, g̃)``: (B, in_ch, H, W) -> (B, out_ch, H, W).

    ``g`` (``global_knobs``: width ``2 * ngf``, as in pix2pixHD, with ``ngf = global_knobs.ngf // 2``) runs
    on ``halve(x)``; its trunk features are added to the output of ``g̃``'s front end (7x7 conv to
    ``ngf``, one stride-2 conv to ``2 * ngf``), and ``g̃``'s ``n_local_blocks`` residual blocks and one
    upsampling block bring the sum back to full resolution. H, W must be divisible by
    2**(global_knobs.n_downsample + 1). ``upsample``, ``head`` and ``stem`` are ``g``'s for ``g̃`` too.

    With a ``zero`` head (a net predicting a correction), ``g``'s own head is kept too and its
    output, upsampled ×2 (bilinear), is added to ``g̃``'s: :meth:`from_global` then gives a ``G``
    whose output is exactly the trained ``g``'s upsampled, so the corrections learnt at the low
    resolution carry over the phase switch instead of restarting from 0. (pix2pixHD, and the
    ``tanh`` head here, drop ``g``'s head.)
    """

    def __init__(self, in_ch: int, out_ch: int, global_knobs: GlobalKnobs, n_local_blocks: int):
        super().__init__()
        ngf, upsample, head = global_knobs.ngf // 2, global_knobs.upsample, global_knobs.head
        self.global_trunk = GlobalGenerator(in_ch, out_ch, global_knobs).trunk
        self.local_down = nn.Sequential(*_stem(in_ch, ngf, global_knobs.stem), *_down_block(ngf, 2 * ngf))
        self.local_up = nn.Sequential(*[ResnetBlock(2 * ngf) for _ in range(n_local_blocks)],
                                      *_up_block(2 * ngf, ngf, upsample))
        self.head = _output_head(ngf, out_ch, head)
        self.global_head = _output_head(2 * ngf, out_ch, head) if head == "zero" else None
        init_weights(self)
        _zero_head(self, head)
        if self.global_head is not None:
            nn.init.zeros_(self.global_head[1].weight)
            nn.init.zeros_(self.global_head[1].bias)

    @classmethod
    def from_global(cls, g: GlobalGenerator, n_local_blocks: int) -> LocalEnhancer:
        """``G`` around a copy of the trained ``g``'s trunk (``g``'s head is dropped, as in pix2pixHD,
        or kept as ``global_head`` with a ``zero`` head, see the class docstring).

        ``g.ngf`` must be even: ``g̃`` runs at half of ``g``'s width.
        """
        if g.ngf % 2:
            raise ValueError(f"the global generator's ngf must be even to build G, got {g.ngf}")
        enhancer = cls(g.in_ch, g.out_ch, g.knobs, n_local_blocks)
        enhancer.global_trunk.load_state_dict(g.trunk.state_dict())
        if enhancer.global_head is not None:
            enhancer.global_head.load_state_dict(g.head.state_dict())
        return enhancer.to(next(g.parameters()).device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.global_trunk(halve(x))
        out = self.head(self.local_up(self.local_down(x) + coarse))
        if self.global_head is None:
            return out
        return out + nn.functional.interpolate(self.global_head(coarse), scale_factor=2, mode="bilinear",
                                               align_corners=False)
