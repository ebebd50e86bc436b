"""The two-stage model of Sec. 3 and its baselines: generators, discriminators and their losses.

Variants (:data:`VARIANTS`):
  ``ours``           T = warp_parts(I_in) (3.1); synthesis net G_s(T ⊕ P_ref) → Ĩ_out on green (3.3);
                     H_gen = chroma_key(Ĩ_out); I_comb = H_gen Ĩ_out + (1 − H_gen) B (eq. 2);
                     fusion net G_f(I_comb ⊕ P_ref) → I_out (3.4). Ĩ_out is judged by D_s against
                     Ĩ_ref = I_ref H_ref on green, I_out by D_f against I_ref.
  ``ours_baseline``  the same networks without Ĩ_out's supervision (no D_s, no synthesis losses):
                     G_s learns only through the fusion loss flowing back through I_comb.
  ``pix2pixhd``      one generator G(P_ref) → I_out judged against I_ref (the paper's baseline).

Each supervised output is a *branch*: ``synthesis`` (Ĩ_out) and ``final`` (I_out). A branch has a
conditional multi-scale discriminator D(image ⊕ P_ref) and the generator loss of eq. 8,
w_rela L_rela + w_FM L_FM + w_VGG L_VGG + w_SP L_SP; its discriminator minimises L_rela(D) + w_GP GP.
The synthesis branch's terms are further weighted by ``loss.w_synthesis`` (0 makes ``ours`` the
baseline). Both generators are trained jointly from the sum of all branches' losses.

Batch layout (from :class:`dancegen.dataset.PairDataset`, batched): ``I_in, I_ref, B: (B, 3, R, R)``
in [-1, 1]; ``parsing_in: (B, R, R)`` long 0..10; ``theta: (B, 10, 2, 3)``; ``part_valid: (B, 10)``
bool; ``P_ref: (B, 15K, R, R)`` in [0, 1]; ``H_ref: (B, 1, R, R)`` in {0, 1}.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dancegen.config import LossParams, ModelParams
from dancegen.errors import DanceGenError
from dancegen.losses import (VGGLoss, feature_matching_loss, gradient_penalty, rela_d_loss,
                             rela_g_loss, sp_loss)
from dancegen.nets.discriminator import MultiscaleDiscriminator
from dancegen.nets.generator import GlobalGenerator, LocalEnhancer
from dancegen.nets.sp_encoder import SPNet
from dancegen.nets.vgg import Vgg19Features
from dancegen.parts import warp_parts
from dancegen.posemaps import CHANNELS as POSE_MAP_CHANNELS
from dancegen.skeleton import NUM_PARTS
from dancegen.store import atomic_path

VARIANTS = ("ours", "ours_baseline", "pix2pixhd")
TWO_STAGE = ("ours", "ours_baseline")
SYNTHESIS, FINAL = "synthesis", "final"

# The chroma-key colour, pure green in the [-1, 1] RGB of the networks.
GREEN = (-1.0, 1.0, -1.0)
# H_gen rises from 0 to 1 as a pixel's RGB distance to GREEN (0 … 2√3) crosses KEY_THRESHOLD;
# KEY_SHARPNESS makes the ramp ±0.4 wide around it (sigmoid(±10) at the ends). A generated screen
# is only roughly green (distances up to ~0.4 early in training) and must key out; a green shirt,
# around (−0.5, 0.3, −0.5), stays at distance ~1 and is kept. The soft edge gives the fusion loss
# a gradient into G_s.
KEY_THRESHOLD = 0.75
KEY_SHARPNESS = 25.0

_FORMAT = "dancegen-generators-1"


def chroma_key(image: torch.Tensor) -> torch.Tensor:
    """Soft foreground mask H_gen of an image on green: ``(B, 3, H, W)`` in [-1, 1] → ``(B, 1, H, W)``.

    sigmoid(KEY_SHARPNESS · (‖image − GREEN‖₂ − KEY_THRESHOLD)): ≈ 0 on the green screen, ≈ 1 on
    anything clearly not green, and differentiable everywhere (the distance has a small epsilon so
    the gradient stays finite on exact green).
    """
    green = image.new_tensor(GREEN).view(1, 3, 1, 1)
    distance = ((image - green) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
    return torch.sigmoid(KEY_SHARPNESS * (distance - KEY_THRESHOLD))


def on_green(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image ⊗ mask`` on a green screen: ``(B, 3, H, W)``, ``mask (B, 1, H, W)`` in [0, 1]."""
    green = image.new_tensor(GREEN).view(1, 3, 1, 1)
    return image * mask + green * (1 - mask)


def pose_channels(K: int) -> int:
    """Channels of the stacked pose maps P_ref: 15 per pose."""
    return POSE_MAP_CHANNELS * K


def supervised_branches(variant: str, w_synthesis: float) -> tuple[str, ...]:
    """The outputs of ``variant`` that have a discriminator and losses of their own."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
    if variant == "ours" and w_synthesis > 0:
        return (SYNTHESIS, FINAL)
    return (FINAL,)


def targets(batch: dict[str, torch.Tensor], branches: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Ground truth of each branch: Ĩ_ref = I_ref ⊗ H_ref on green for synthesis, I_ref for final."""
    real = {SYNTHESIS: lambda: on_green(batch["I_ref"], batch["H_ref"]), FINAL: lambda: batch["I_ref"]}
    return {name: real[name]() for name in branches}


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a :class:`Generators` (stored in model files)."""

    variant: str
    pose_channels: int
    ngf: int
    n_downsample: int
    n_blocks: int
    n_local_blocks: int
    enhanced: bool = False   # True once g has been wrapped in G = (g, g̃) for the high resolution

    @classmethod
    def from_params(cls, variant: str, model: ModelParams, K: int) -> GeneratorConfig:
        return cls(variant, pose_channels(K), model.ngf, model.n_downsample, model.n_blocks,
                   model.n_local_blocks)


class Generators(nn.Module):
    """The generator networks of one variant; ``forward(batch)`` → dict of (B, C, R, R) images.

    Two-stage variants return ``T`` (B, 30, R, R), ``synthesis`` Ĩ_out, ``key`` H_gen (B, 1, R, R),
    ``comb`` I_comb and ``final`` I_out; pix2pixhd returns ``final`` only. Batch keys used: two-stage
    ``I_in, parsing_in, theta, part_valid, P_ref, B``; pix2pixhd ``P_ref``.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        pc = config.pose_channels
        if config.variant in TWO_STAGE:
            self.nets = nn.ModuleDict({SYNTHESIS: self._net(3 * NUM_PARTS + pc), FINAL: self._net(3 + pc)})
        else:
            self.nets = nn.ModuleDict({FINAL: self._net(pc)})

    def _net(self, in_ch: int) -> nn.Module:
        c = self.config
        if c.enhanced:
            return LocalEnhancer(in_ch, 3, c.ngf // 2, c.n_downsample, c.n_blocks, c.n_local_blocks)
        return GlobalGenerator(in_ch, 3, c.ngf, c.n_downsample, c.n_blocks)

    def enhance(self) -> None:
        """Wrap every trained global generator g in G = (g, g̃) for the high resolution (Sec. 4.2)."""
        if self.config.enhanced:
            raise RuntimeError("the generators are already two-scale")
        for name, g in self.nets.items():
            self.nets[name] = LocalEnhancer.from_global(g, self.config.n_local_blocks)
        self.config = dataclasses.replace(self.config, enhanced=True)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pose = batch["P_ref"]
        if self.config.variant not in TWO_STAGE:
            return {FINAL: self.nets[FINAL](pose)}
        T = warp_parts(batch["I_in"], batch["parsing_in"], batch["theta"], batch["part_valid"])
        synthesis = self.nets[SYNTHESIS](torch.cat([T, pose], 1))
        key = chroma_key(synthesis)
        comb = key * synthesis + (1 - key) * batch["B"]
        final = self.nets[FINAL](torch.cat([comb, pose], 1))
        return {"T": T, SYNTHESIS: synthesis, "key": key, "comb": comb, FINAL: final}


class Critics(nn.Module):
    """One conditional :class:`MultiscaleDiscriminator` per supervised branch, with its loss.

    ``forward(reals, fakes, cond)`` → (L_D, terms, real_outputs): L_D = Σ_branches L_rela(D) +
    w_GP GP; ``terms`` holds ``<branch>/d_rela`` and ``<branch>/gp`` (skipped when w_GP = 0);
    ``real_outputs`` are the discriminators' outputs on the real images (detached), reused by the
    generator loss. ``fakes`` must be detached. The gradient penalty runs in fp32 even under
    autocast: its double backward is where reduced precision under- or overflows first.
    """

    def __init__(self, branches: tuple[str, ...], cond_channels: int, model: ModelParams, num_d: int,
                 w_gp: float):
        super().__init__()
        self.nets = nn.ModuleDict({
            name: MultiscaleDiscriminator(3 + cond_channels, model.ndf, model.n_layers_d, num_d)
            for name in branches})
        self.w_gp = w_gp

    def forward(self, reals: dict[str, torch.Tensor], fakes: dict[str, torch.Tensor], cond: torch.Tensor):
        loss = cond.new_zeros((), dtype=torch.float32)
        terms: dict[str, torch.Tensor] = {}
        real_outputs = {}
        for name, disc in self.nets.items():
            real_out = disc(torch.cat([reals[name], cond], 1))
            fake_out = disc(torch.cat([fakes[name], cond], 1))
            terms[f"{name}/d_rela"] = rela_d_loss(real_out, fake_out).float()
            loss = loss + terms[f"{name}/d_rela"]
            if self.w_gp > 0:
                with torch.autocast(cond.device.type, enabled=False):
                    terms[f"{name}/gp"] = gradient_penalty(disc, reals[name].float(), fakes[name].float(),
                                                           cond.float())
                loss = loss + self.w_gp * terms[f"{name}/gp"]
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

    ``vgg`` None drops L_VGG, ``sp`` None drops L_SP. ``sp_resolution``: the side SP was trained
    at; images are resized to it (antialiased bilinear) before φ_p / φ_s, so the encoders see the
    person at the scale they learnt.
    """

    def __init__(self, loss: LossParams, vgg: Vgg19Features | None, sp: SPNet | None,
                 sp_resolution: int | None = None):
        super().__init__()
        self.w = loss
        self.vgg = VGGLoss(vgg) if vgg is not None else None
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
        """→ (L_G, terms ``<branch>/g_rela``, ``/fm``, ``/vgg``, ``/sp``). ``critics`` must be the
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
            if self.vgg is not None:
                branch["vgg"] = self.vgg(fake, real)
                total = total + w.w_vgg * branch["vgg"]
            if self.sp is not None:
                with torch.no_grad():
                    phi_p_real, phi_s_real = self._sp_features(real)
                phi_p_fake, phi_s_fake = self._sp_features(fake)
                branch["sp"] = sp_loss(phi_p_real, phi_p_fake, phi_s_real, phi_s_fake, w.w_s)
                total = total + w.w_sp * branch["sp"]
            loss = loss + (w.w_synthesis if name == SYNTHESIS else 1.0) * total.float()
            terms.update({f"{name}/{k}": v.float() for k, v in branch.items()})
        return loss, terms


def save_generators(path: str | Path, generators: Generators, resolution: int, meta: dict) -> None:
    """Write the generators, their :class:`GeneratorConfig`, the resolution and ``meta`` atomically."""
    state = {k: v.detach().cpu() for k, v in generators.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": _FORMAT, "config": dataclasses.asdict(generators.config),
                    "resolution": int(resolution), "state_dict": state, "meta": meta}, tmp)


def load_generators(path: str | Path,
                    map_location: str | torch.device = "cpu") -> tuple[Generators, int, dict]:
    """Read a :func:`save_generators` file → (generators in eval mode, resolution R, meta)."""
    path = Path(path)
    if not path.is_file():
        raise DanceGenError(path, "not found (run the train stage first: dvc repro)")
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike for a damaged file
        raise DanceGenError(path, f"not a readable model file ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        raise DanceGenError(path, f"not a dancegen model file (expected format '{_FORMAT}')")
    generators = Generators(GeneratorConfig(**saved["config"]))
    generators.load_state_dict(saved["state_dict"])
    return generators.to(map_location).eval(), int(saved["resolution"]), saved["meta"]
