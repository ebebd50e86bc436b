"""``pix2pixhd``: the paper's pix2pixHD baseline — one generator G(P_ref) → I_out judged against
I_ref. It has no image to start from and always synthesises (a tanh head), whatever ``model.compose``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dancegen.body.posemaps import CHANNELS as POSE_MAP_CHANNELS
from dancegen.core.config import LossParams
from dancegen.model.generators import FINAL, key_pooled
from dancegen.model.variants.base import Variant

# pix2pixhd draws the person straight into the scene: its matte is where I_out departs from the
# background B by more than DIFF_THRESHOLD (RGB distance in [-1, 1]), inside the current pose's
# shapes grown by REGION_GROW of the frame side.
DIFF_THRESHOLD = 0.35
DIFF_SHARPNESS = 20.0
REGION_GROW = 1 / 16


@dataclass(frozen=True)
class Pix2PixHD(Variant):
    def corrects(self, compose: str) -> bool:
        return False

    def net_channels(self, pose_channels: int, compose: str) -> dict[str, tuple[int, int]]:
        return {FINAL: (pose_channels, 3)}

    def forward(self, generators, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``final`` I_out from ``P_ref`` alone."""
        return {FINAL: generators.run(FINAL, batch["P_ref"])}

    def judged(self, loss: LossParams) -> tuple[str, ...]:
        return (FINAL,)

    def matte(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              corrects: bool) -> torch.Tensor:
        """A soft threshold on the RGB distance of I_out to B (both averaged over
        :data:`dancegen.model.generators.KEY_POOL`² pixels), limited to the current pose's part and
        landmark shapes grown by :data:`REGION_GROW` of the side. It misses person pixels of the
        background's colour and keeps generated shadows near the body."""
        distance = (key_pooled(outputs[FINAL] - batch["B"]) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
        differs = torch.sigmoid(DIFF_SHARPNESS * (distance - DIFF_THRESHOLD))
        side = batch["P_ref"].shape[-1]
        grow = 2 * round(side * REGION_GROW) + 1
        region = (batch["P_ref"][:, :POSE_MAP_CHANNELS].amax(1, keepdim=True) > 0.05).float()
        region = F.max_pool2d(region, grow, stride=1, padding=grow // 2)
        return differs * region

    def sample_columns(self, batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                       n: int) -> list[torch.Tensor]:
        """The current pose's maps, as a grey image."""
        current = batch["P_ref"][:n, :POSE_MAP_CHANNELS]
        return [current.amax(1, keepdim=True).expand(-1, 3, -1, -1) * 2 - 1]


VARIANT = Pix2PixHD(name="pix2pixhd", label="pix2pixHD", row=1, synthesis=False,
                    summary="pix2pixHD from the pose maps alone")
