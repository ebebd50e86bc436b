"""``posewarp``: the paper's Posewarp baseline (Balakrishnan, Zhao, Dalca, Durand and Guttag,
"Synthesizing Images of Humans in Unseen Poses", CVPR 2018), four modules trained jointly from the
target frame alone:

1. **Source segmentation**: a U-Net on I_in ⊕ its own pose maps P_in gives a softmax over 11
   layers, the background and the 10 body parts; ``M_k`` (B, 11, R, R).
2. **Spatial transformation**: each part layer M_k ⊙ I_in is moved by its part's affine transform
   onto the target pose (our part affines and spatial-transformer warp, :func:`warp_stacks`):
   ``W`` (B, 10, 3, R, R).
3. **Foreground synthesis**: a U-Net on W ⊕ P_ref gives the person y_fg (tanh) and its mask M_t
   (sigmoid).
4. **Background synthesis**: a U-Net on the background layer M_bg ⊙ I_in ⊕ M_bg fills the hole the
   person leaves, y_bg (tanh). I_out = M_t y_fg + (1 − M_t) y_bg.

Where we depart from [Balakrishnan et al.], and why:
- The segmentation is *guided* by our parsing of I_in: its logits are :data:`GUIDE` × the one-hot
  parsing plus :data:`REFINE` × tanh of the net's output, so at initialisation the layers are the
  parsed parts and the net can move a pixel at most half-way to another layer (theirs learns the
  layers from scratch, with 10⁵ steps and a GPU; ours trains for minutes on a CPU). Unbounded, the
  net emptied every part layer within the demo's 450 steps on a real clip (the background branch
  pulls the softmax towards its own layer faster than the foreground net learns to use the parts).
- The foreground mask M_t is guided the same way: its logit is the net's plus :data:`KEY_GUIDE`
  where the moved part layers land and minus it elsewhere. With a free mask, 2 of 3 seeds on a real
  clip shut it within the demo's 450 steps: the background net painted a blurred person into the
  hole faster than the foreground net learnt to pass the warped layers through, after which the
  foreground net got no gradient.
- The background branch's input is blanked over the person's grown region (``hole_in``, where B_in
  takes the plate) besides being weighted by the soft background layer: no pixel of the person
  reaches it, so it must hole-fill rather than copy the person.
- Poses are our 15-channel part and landmark maps (their 14 joint Gaussians), at the resolution the
  schedule gives (their 256²), and the loss is the same eq. 8 objective as the other variants'
  (relativistic GAN, feature matching, perceptual and L1, one conditional discriminator on I_out)
  from the first step: theirs is a VGG19 perceptual loss, then a GAN stage with a conditional
  discriminator; VGG19 we have offline only where its weights are found (``loss.perceptual``).
- Its U-Nets run at the model's resolution in both phases of the schedule (fully convolutional,
  they are not wrapped in pix2pixHD's two-scale G); it synthesises every pixel, so a render above
  R is its output upsampled, and it takes every part from I_in (``sources.mode`` does not apply).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dancegen.body.parts import part_masks, warp_stacks
from dancegen.body.posemaps import CHANNELS as POSE_MAP_CHANNELS
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.config import LossParams
from dancegen.model.generators import FINAL, GREEN
from dancegen.model.nets.unet import UNet
from dancegen.model.variants.base import Variant

SEGMENT, FOREGROUND, BACKGROUND = "segment", "foreground", "background"
# The parsing's weight in the segmentation logits: softmax(GUIDE · one-hot) puts 0.976 of a pixel
# in its parsed layer at initialisation (e^6 / (e^6 + 10)); the net's own logits lie within ±REFINE.
GUIDE = 6.0
REFINE = GUIDE / 2
# The foreground mask's logit starts at ±KEY_GUIDE where the moved part layers do / do not land
# (σ(4) = 0.98), so the foreground net is the one the loss asks about the person from the first step.
KEY_GUIDE = 4.0
# The U-Nets go this many stride-2 steps deeper than pix2pixHD's n_downsample (the authors' go to
# 2 × 2 at 256²): hole-filling the background needs a receptive field the person's size.
EXTRA_DEPTH = 2


@dataclass(frozen=True)
class Posewarp(Variant):
    def corrects(self, compose: str) -> bool:
        return False

    def net_channels(self, pose_channels: int, compose: str) -> dict[str, tuple[int, int]]:
        return {SEGMENT: (3 + POSE_MAP_CHANNELS, 1 + NUM_PARTS), FOREGROUND: (3 * NUM_PARTS + pose_channels, 4),
                BACKGROUND: (3 + 1, 3)}

    def net(self, name: str, in_ch: int, out_ch: int, config) -> nn.Module:
        """A U-Net (:class:`UNet`) of width ``model.ngf``, ``model.n_downsample`` + :data:`EXTRA_DEPTH`
        deep; the segmentation's starts at 0 (the parsing, :func:`segment`), the others as pix2pixHD's."""
        return UNet(in_ch, out_ch, config.ngf, config.n_downsample + EXTRA_DEPTH,
                    zero_head=name == SEGMENT)

    def forward(self, generators, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``layers`` M (B, 11, R, R), ``W`` the warped part layers (B, 10, 3, R, R), ``foreground``
        y_fg, ``key`` M_t (B, 1, R, R), ``background`` y_bg and ``final`` I_out; batch keys ``I_in,
        P_in, parsing_in, hole_in, theta, part_valid, P_ref``."""
        layers = segment(generators, batch)
        W, coverage = warp_layers(batch["I_in"], layers[:, 1:], batch["theta"], batch["part_valid"])
        raw_fg = generators.run(FOREGROUND, torch.cat([W.flatten(1, 2), batch["P_ref"]], 1))
        foreground = torch.tanh(raw_fg[:, :3])
        key = torch.sigmoid(raw_fg[:, 3:4] + KEY_GUIDE * (2 * coverage.sum(1, keepdim=True).clamp(max=1) - 1))
        background = fill_background(generators, batch["I_in"], layers[:, :1], batch["hole_in"])
        final = key * foreground + (1 - key) * background
        return {"layers": layers, "W": W, "foreground": foreground, "key": key, "background": background,
                FINAL: final}

    def judged(self, loss: LossParams) -> tuple[str, ...]:
        return (FINAL,)

    def matte(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              corrects: bool) -> torch.Tensor:
        """The foreground synthesis net's own mask M_t."""
        return outputs["key"]

    def sample_columns(self, batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                       n: int) -> list[torch.Tensor]:
        """The warped part layers (summed; grey between) | y_fg on green under M_t | y_bg."""
        green = outputs["foreground"].new_tensor(GREEN).view(1, 3, 1, 1)
        key = outputs["key"][:n]
        return [outputs["W"][:n].sum(1), outputs["foreground"][:n] * key + green * (1 - key),
                outputs["background"][:n]]


def segment(generators, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The source segmentation ``(B, 11, R, R)``, a softmax over the background (channel 0) and the
    10 parts, guided by the parsing of I_in (module docstring)."""
    raw = generators.run(SEGMENT, torch.cat([batch["I_in"], batch["P_in"]], 1))
    parsed = torch.cat([(batch["parsing_in"] == 0).float()[:, None], part_masks(batch["parsing_in"])], 1)
    return F.softmax(REFINE * torch.tanh(raw) + GUIDE * parsed, dim=1)


def warp_layers(image: torch.Tensor, part_layers: torch.Tensor, theta: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each part layer of ``image (B, 3, H, W)`` (× ``part_layers (B, 10, H, W)``) moved by its
    affine ``theta (B, 10, 2, 3)`` → (``(B, 10, 3, H, W)``, the moved layers ``(B, 10, H, W)``),
    zero for parts not ``valid (B, 10)``."""
    moved = warp_stacks(torch.cat([image[:, None] * part_layers[:, :, None], part_layers[:, :, None]], 2),
                        theta, valid)
    return moved[:, :, :3], moved[:, :, 3]


def fill_background(generators, image: torch.Tensor, background_layer: torch.Tensor,
                    hole: torch.Tensor) -> torch.Tensor:
    """y_bg ``(B, 3, H, W)``: the background net's hole-filling of ``image`` seen through its
    ``background_layer (B, 1, H, W)``, with the grown person region ``hole (B, 1, H, W)`` blanked."""
    seen = background_layer * (1 - hole)
    return torch.tanh(generators.run(BACKGROUND, torch.cat([image * seen, seen], 1)))


VARIANT = Posewarp(name="posewarp", label="Posewarp", row=0, synthesis=False, warps_parts=True,
                   summary="Posewarp (Balakrishnan et al. 2018): part layers warped, a U-Net each for "
                           "the foreground and the hole-filled background")
