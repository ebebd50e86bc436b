"""SPNet: a small joint human-parsing + pose network whose encoders give the features of L_SP (eq. 7).

The paper takes φ_p / φ_s from the pose and parsing encoders of a pretrained joint network [19];
those weights are not available, so the ``train_sp`` stage trains this one on the personal video's
own frames and detections, and the training of the generator loads it frozen (:func:`load_sp`).

Layout, for an input ``x: (B, 3, R, R)`` RGB in [-1, 1] with R a multiple of 16 and ``w = width``::

    stem (shared)        (B, w, R/2)
    pose encoder         (B, 2w, R/4) -> (B, 4w, R/8) -> (B, 4w, R/16)     = pose features
    parsing encoder      (B, 2w, R/4) -> (B, 4w, R/8) -> (B, 4w, R/16)     = parsing features
    each decoder         top-down back to R/2 with skips from its encoder and the stem
    heads                parsing logits (B, n_parts, R/2, R/2), heatmaps (B, n_joints, R/2, R/2)

The heads sit at R/2 rather than R/4 because at the small demo resolutions a forearm is only a
few pixels wide and a R/4 grid cannot place it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dancegen.body import skeleton
from dancegen.core.errors import DanceGenError

# Keypoint-heatmap joints: the COCO body and the feet. Face and hand points are too small to
# locate at these resolutions, and the feet are where a generated figure most often goes wrong.
SP_JOINTS: tuple[int, ...] = tuple(range(skeleton.BODY.start, skeleton.FEET.stop))
N_SP_PARTS = skeleton.NUM_PARTS + 1   # background + the 10 parts
_FORMAT = "dancegen-spnet-1"


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class DownBlock(nn.Module):
    """Halve the resolution: a strided 3×3 conv, then a residual 3×3 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.down = _conv_bn(c_in, c_out, stride=2)
        self.conv = nn.Sequential(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        return F.relu(y + self.conv(y))


class Encoder(nn.Module):
    """``(B, w, R/2)`` stem features → ``[(B, 2w, R/4), (B, 4w, R/8), (B, 4w, R/16)]``."""

    def __init__(self, width: int):
        super().__init__()
        w = width
        self.blocks = nn.ModuleList([DownBlock(w, 2 * w), DownBlock(2 * w, 4 * w), DownBlock(4 * w, 4 * w)])
        self.channels = (2 * w, 4 * w, 4 * w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class Decoder(nn.Module):
    """Top-down path from the deepest encoder feature to R/2, adding 1×1-projected skips, then a head."""

    def __init__(self, stem_channels: int, enc_channels: tuple[int, ...], width: int, n_out: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in (stem_channels, *enc_channels))
        self.smooth = nn.ModuleList(_conv_bn(width, width) for _ in enc_channels)
        self.head = nn.Conv2d(width, n_out, 1)

    def forward(self, stem: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        skips = [stem, *feats]
        y = self.lateral[-1](skips[-1])
        for i in range(len(skips) - 2, -1, -1):
            y = F.interpolate(y, size=skips[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[i](y + self.lateral[i](skips[i]))
        return self.head(y)


class SPNet(nn.Module):
    """Joint parsing + keypoint network with separate pose and parsing encoders (layout in the module doc).

    ``forward(x)`` → (parsing logits ``(B, n_parts, R/2, R/2)``, heatmaps ``(B, n_joints, R/2, R/2)``);
    ``features(x)`` → the two encoders' intermediate representations, for L_SP.
    """

    def __init__(self, width: int = 16, n_parts: int = N_SP_PARTS, n_joints: int = len(SP_JOINTS)):
        super().__init__()
        self.width, self.n_parts, self.n_joints = width, n_parts, n_joints
        self.frozen = False     # set by load_sp: the net then stays in eval mode
        self.meta: dict = {}    # what save_sp stored beside the weights
        self.stem = nn.Sequential(_conv_bn(3, width, stride=2), _conv_bn(width, width))
        self.pose_encoder = Encoder(width)
        self.parse_encoder = Encoder(width)
        self.pose_decoder = Decoder(width, self.pose_encoder.channels, width, n_joints)
        self.parse_decoder = Decoder(width, self.parse_encoder.channels, width, n_parts)

    def train(self, mode: bool = True) -> "SPNet":
        # A frozen net stays in eval mode even when a parent module is switched to training, so
        # its batch-norm statistics never drift while it serves as a loss.
        return super().train(mode and not self.frozen)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"SPNet wants (B, 3, H, W) with H and W multiples of 16, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        stem = self.stem(x)
        pose_feats, parse_feats = self.pose_encoder(stem), self.parse_encoder(stem)
        return self.parse_decoder(stem, parse_feats), self.pose_decoder(stem, pose_feats)

    def features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``x: (B, 3, H, W)`` in [-1, 1] → (pose_feats, parse_feats), each
        ``[(B, 2w, H/4, W/4), (B, 4w, H/8, W/8), (B, 4w, H/16, W/16)]`` (φ_p and φ_s of eq. 7).

        Gradients flow to ``x`` (the generated image) even when the network itself is frozen.
        """
        self._check(x)
        stem = self.stem(x)
        return self.pose_encoder(stem), self.parse_encoder(stem)


def save_sp(path: str | Path, net: SPNet, meta: dict) -> None:
    """Write ``net``'s weights, constructor arguments and ``meta`` (plain JSON-like values) to ``path``."""
    torch.save({"format": _FORMAT,
                "config": {"width": net.width, "n_parts": net.n_parts, "n_joints": net.n_joints},
                "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                "meta": meta}, path)


def load_sp(path: str | Path, map_location: str | torch.device = "cpu") -> SPNet:
    """Load a :func:`save_sp` file as a frozen network (eval mode, ``requires_grad`` off); its
    ``meta`` dict is on ``net.meta``. A missing or unreadable file raises :class:`DanceGenError`."""
    path = Path(path)
    if not path.is_file():
        raise DanceGenError(path, "not found (run the train_sp stage first: dvc repro train_sp)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike for a damaged file
        raise DanceGenError(path, f"not a readable SPNet checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise DanceGenError(path, f"not an SPNet checkpoint (expected format '{_FORMAT}')")
    net = SPNet(**ckpt["config"])
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        problem = str(err).splitlines()[0]
        raise DanceGenError(path, f"weights do not fit SPNet{ckpt['config']} ({problem})") from None
    net.meta = ckpt.get("meta", {})
    net.eval()
    net.frozen = True
    net.requires_grad_(False)
    return net.to(map_location)
