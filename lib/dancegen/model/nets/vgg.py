"""ImageNet VGG19 features for the perceptual loss (eq. 6), from a local torchvision state dict.

The layers mirror torchvision's ``vgg19().features`` index for index, so torchvision's
``vgg19-dcbb9e9d.pth`` (keys ``features.N.weight`` / ``features.N.bias``) loads as is. Nothing is
ever downloaded: without the file the perceptual term is off, loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from dancegen.core.errors import DanceGenError

log = logging.getLogger(__name__)

TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's configuration "E" up to relu5_1: output widths, "M" = 2x2 max-pool.
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
# pix2pixHD's slices end after these ``features`` indices: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
_TAPS = (1, 6, 11, 20, 29)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU()]
            in_ch = item
    return nn.Sequential(*layers)


class Vgg19Features(nn.Module):
    """Frozen VGG19: (B, 3, H, W) RGB in [-1, 1] -> [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1].

    The i-th output is (B, 64 * 2**min(i, 3), H / 2**i, W / 2**i). Images are mapped to [0, 1] and
    normalised with ImageNet's mean and std, as the ImageNet weights expect.
    """

    def __init__(self):
        super().__init__()
        self.features = _features()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        outputs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                outputs.append(x)
        return outputs


def hub_vgg19_path() -> Path:
    """Where torchvision would have cached its VGG19 weights: ``<torch hub dir>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def load_vgg19(spec: str) -> Vgg19Features | None:
    """The VGG19 of ``spec`` (a state-dict path, or ``"auto"`` for the torch hub cache), or None.

    ``"auto"`` without a cached file returns None with a warning: the perceptual term is then off.
    A named file that is missing, unreadable or not a torchvision VGG19 raises DanceGenError.
    Keys past relu5_1 and the classifier's keys are ignored.
    """
    path = hub_vgg19_path() if spec == "auto" else Path(spec)
    if spec == "auto" and not path.is_file():
        log.warning(
            "PERCEPTUAL LOSS OFF: no VGG19 weights at %s (loss.vgg_weights: auto) and nothing is "
            "downloaded at run time; training goes on without the VGG term of eq. 6. Put "
            "torchvision's %s there or set loss.vgg_weights to its path.", path, TORCHVISION_FILE)
        return None
    if not path.is_file():
        raise DanceGenError(path, "VGG19 weights not found (loss.vgg_weights)")
    vgg = Vgg19Features()
    vgg.load_state_dict(_matching_state(path, vgg.state_dict()))
    return vgg


def _matching_state(path: Path, expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike for a bad file
        raise DanceGenError(path, f"not a readable PyTorch state dict ({type(err).__name__})") from None
    if not isinstance(state, Mapping):
        raise DanceGenError(path, f"not a state dict but a {type(state).__name__}")
    for key, want in expected.items():
        got = state.get(key)
        if not isinstance(got, torch.Tensor):
            raise DanceGenError(path, f"not a torchvision VGG19 state dict: no tensor '{key}'")
        if got.shape != want.shape:
            raise DanceGenError(path, f"not a torchvision VGG19 state dict: '{key}' has shape "
                                f"{tuple(got.shape)}, expected {tuple(want.shape)}")
    return {key: state[key].float() for key in expected}
