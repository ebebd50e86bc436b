"""The generators of the two-stage model of Sec. 3 and of its baselines, with save / load.

This is all inference needs; the discriminators and losses that train them are in
:mod:`dancegen.objective`.

Variants (:data:`VARIANTS`):
  ``ours``           T = warp_parts(I_in) (3.1); synthesis net G_s(T ⊕ P_ref) → Ĩ_out on green (3.3);
                     H_gen = chroma_key(Ĩ_out); I_comb = H_gen Ĩ_out + (1 − H_gen) B (eq. 2);
                     fusion net G_f(I_comb ⊕ P_ref) → I_out (3.4). The synthesis net is judged by
                     D_s on Ĩ_out against Ĩ_ref = I_ref H_ref on green (the paper's), or on I_comb
                     against I_ref, or both (``loss.synthesis_target``, :func:`supervised_branches`);
                     I_out by D_f against I_ref.
  ``ours_baseline``  the same networks without Ĩ_out's supervision (no D_s, no synthesis losses):
                     G_s learns only through the fusion loss flowing back through I_comb.
  ``pix2pixhd``      one generator G(P_ref) → I_out judged against I_ref (the paper's baseline).

Composition (``model.compose``) of the two-stage variants:
  ``paper``  as printed: G_s and G_f synthesise their images (tanh heads), I_comb is built on the
             background plate B.
  ``blend``  each net predicts a correction of a composite it is given (:func:`compose`): G_s of the
             tangram (the warped parts on green, :func:`dancegen.parts.tangram`), G_f of I_comb, and
             I_comb is built on B_in, the input frame's own room (:mod:`dancegen.inputs`). Each part
             is completed where another part hid it in I_in (:func:`dancegen.parts.warp_parts_amodal`),
             so a torso behind crossed arms has no hole once the arms have moved. The
             synthesis net predicts the person as a layer, colour and matte (:func:`compose_layer`),
             so H_gen is that matte rather than a chroma key of Ĩ_out. The
             heads start at 0, so at initialisation Ĩ_out is exactly the tangram on green and I_out
             exactly I_comb: the scene is right from the first step and training improves the person.
  ``flow``   ``blend``, and the synthesis net also predicts a flow that moves the tangram layer
             before it corrects it (:func:`move_layer`), as vid2vid warps the previous frame: a part
             the per-part affine warp left a few pixels off is moved, not repainted. The flow head
             starts at 0 too, so at initialisation this is exactly ``blend``.
pix2pixhd has no image to start from and always synthesises.

Batch layout (:mod:`dancegen.inputs`, :class:`dancegen.dataset.PairDataset`, batched):
``I_in, I_ref, B, B_in: (B, 3, R, R)`` in [-1, 1]; ``parsing_in: (B, R, R)`` long 0..10;
``hidden_in: (B, 10, R, R)`` in {0, 1};
``theta: (B, 10, 2, 3)``; ``part_valid: (B, 10)`` bool; ``P_ref: (B, 15K, R, R)`` in [0, 1];
``H_ref: (B, 1, R, R)`` in {0, 1}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dancegen.config import VARIANTS, ModelParams
from dancegen.errors import DanceGenError
from dancegen.nets.generator import GlobalGenerator, LocalEnhancer
from dancegen.parts import tangram_layer, warp_parts_amodal, warp_parts_with_coverage
from dancegen.posemaps import CHANNELS as POSE_MAP_CHANNELS
from dancegen.skeleton import NUM_PARTS
from dancegen.store import atomic_path

TWO_STAGE = ("ours", "ours_baseline")
SYNTHESIS, COMB, FINAL = "synthesis", "comb", "final"
# loss.synthesis_target → the outputs that judge the synthesis net (dancegen.objective.targets):
# Ĩ_out against the reference person on green (the paper's), I_comb against the frame, or both.
SYNTHESIS_JUDGED = {"green": (SYNTHESIS,), "scene": (COMB,), "both": (SYNTHESIS, COMB)}

# The chroma-key colour, pure green in the [-1, 1] RGB of the networks.
GREEN = (-1.0, 1.0, -1.0)
# H_gen rises from 0 to 1 as a pixel's RGB distance to GREEN (0 … 2√3) crosses KEY_THRESHOLD;
# KEY_SHARPNESS makes the ramp ±0.4 wide around it (sigmoid(±10) at the ends). A generated screen
# is only roughly green (distances up to ~0.4 early in training) and must key out; a green shirt,
# around (−0.5, 0.3, −0.5), stays at distance ~1 and is kept. The soft edge gives the fusion loss
# a gradient into G_s.
KEY_THRESHOLD = 0.75
KEY_SHARPNESS = 25.0

# The compositions whose nets correct the composites they are given (model.compose).
BLENDING = ("blend", "flow")
# compose flow: the synthesis net's flow is FLOW_SCALE · its raw output, in grid_sample's [-1, 1]
# units (resolution-free: 0.2 is 1/10 of the frame's side per unit).
FLOW_SCALE = 0.2
# The fusion net's gate starts nearly shut (σ(−3) ≈ 0.05): a correction of I_comb has to earn its
# place, so an early, still noisy fusion net cannot paint over a scene and a person that are right.
FUSION_GATE_BIAS = -3.0

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


def compose(base: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """The fusion net's correction of ``base`` (I_comb): ``raw (B, 4, H, W)`` from a zero-initialised
    head holds an image change Δ = 2 tanh(raw[:3]) and a mask logit; the net's image base + Δ is
    blended over ``base`` by α = σ(logit): base + α Δ, clipped to [-1, 1]. ``raw`` = 0 gives ``base``."""
    delta = 2 * torch.tanh(raw[:, :3])
    alpha = torch.sigmoid(raw[:, 3:4] + FUSION_GATE_BIAS)
    return (base + alpha * delta).clamp(-1, 1)


def compose_layer(colour: torch.Tensor, alpha: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The synthesis net's correction of the tangram layer: ``raw (B, 4, H, W)`` from a zero head
    changes the colour by 2 tanh(raw[:3]) (green never rising above the larger of the tangram's
    green and the new red and blue) and the matte by raw[3]; → (colour in [-1, 1], matte in
    [0, 1]), both exactly the tangram's at ``raw`` = 0. Colour and shape are separate outputs, so the
    person's outline is learnt as a matte, not by pushing colours away from the green screen."""
    # Hard clips: a background pixel whose matte correction turned negative stays background.
    r, g, b = (colour + 2 * torch.tanh(raw[:, :3])).clamp(-1, 1).unbind(1)
    # No green the tangram did not have: where the target shows the green screen, the loss must
    # shrink the matte, not paint the person green (which the composite would then show).
    g = torch.minimum(g, torch.maximum(colour[:, 1], torch.maximum(r, b)))
    return torch.stack([r, g, b], 1), (alpha + raw[:, 3:4]).clamp(0, 1)


def move_layer(colour: torch.Tensor, alpha: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer ``colour (B, 3, H, W)`` (0 where empty), ``alpha (B, 1, H, W)`` sampled at each
    pixel's position plus ``flow (B, 2, H, W)`` (x, y, in grid_sample's [-1, 1] units), bilinearly
    and premultiplied, so that an edge does not take in the empty layer's colour → (colour, alpha)
    in the same layout. ``flow`` = 0 returns the layer exactly."""
    _, _, H, W = colour.shape
    ys = (torch.arange(H, device=colour.device, dtype=colour.dtype) * 2 + 1) / H - 1
    xs = (torch.arange(W, device=colour.device, dtype=colour.dtype) * 2 + 1) / W - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None] + flow.permute(0, 2, 3, 1)
    moved = nn.functional.grid_sample(torch.cat([colour * alpha, alpha], 1), grid, mode="bilinear",
                                      padding_mode="zeros", align_corners=False)
    colour, alpha = moved[:, :3], moved[:, 3:4]
    return torch.where(alpha > 1e-6, colour / alpha.clamp(min=1e-6), 0.0), alpha.clamp(0, 1)


def pose_channels(K: int) -> int:
    """Channels of the stacked pose maps P_ref: 15 per pose."""
    return POSE_MAP_CHANNELS * K


def supervised_branches(variant: str, w_synthesis: float, synthesis_target: str) -> tuple[str, ...]:
    """The outputs of ``variant`` that have a discriminator and losses of their own: ``final``, and
    for ``ours`` those that judge the synthesis net (``loss.synthesis_target``,
    :data:`SYNTHESIS_JUDGED`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
    if synthesis_target not in SYNTHESIS_JUDGED:
        raise ValueError(f"unknown synthesis target '{synthesis_target}' "
                         f"(known: {', '.join(SYNTHESIS_JUDGED)})")
    if variant == "ours" and w_synthesis > 0:
        return (*SYNTHESIS_JUDGED[synthesis_target], FINAL)
    return (FINAL,)


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
    upsample: str = "transpose"   # model.upsample (the defaults here are pix2pixHD's / the paper's)
    compose: str = "paper"        # model.compose
    hidden_parts: bool = False    # complete the parts behind the parts that hid them (blend, flow; older files: no)

    @classmethod
    def from_params(cls, variant: str, model: ModelParams, K: int) -> GeneratorConfig:
        return cls(variant, pose_channels(K), model.ngf, model.n_downsample, model.n_blocks,
                   model.n_local_blocks, upsample=model.upsample, compose=model.compose,
                   hidden_parts=model.compose in BLENDING)

    @property
    def blends(self) -> bool:
        """Whether the nets predict corrections of composites (``blend`` or ``flow`` on a two-stage variant)."""
        return self.compose in BLENDING and self.variant in TWO_STAGE

    @property
    def flow(self) -> bool:
        """Whether the synthesis net also moves the tangram layer (``flow`` on a two-stage variant)."""
        return self.compose == "flow" and self.variant in TWO_STAGE


class Generators(nn.Module):
    """The generator networks of one variant; ``forward(batch)`` → dict of (B, C, R, R) images.

    Two-stage variants return ``T`` (B, 30, R, R), ``synthesis`` Ĩ_out, ``key`` H_gen (B, 1, R, R),
    ``comb`` I_comb and ``final`` I_out; pix2pixhd returns ``final`` only. Batch keys used: two-stage
    ``I_in, parsing_in, theta, part_valid, P_ref`` and ``B`` (paper) or ``B_in, hidden_in`` (blend);
    pix2pixhd ``P_ref``.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        pc = config.pose_channels
        # A correcting net: image change and mask (compose_layer, compose), and for flow a 2-channel
        # flow (move_layer); a synthesising net: the image.
        out_ch, flow_ch = (4, 2 * config.flow) if config.blends else (3, 0)
        if config.variant in TWO_STAGE:
            self.nets = nn.ModuleDict({SYNTHESIS: self._net(3 * NUM_PARTS + pc, out_ch + flow_ch),
                                       FINAL: self._net(3 + pc, out_ch)})
        else:
            self.nets = nn.ModuleDict({FINAL: self._net(pc, out_ch)})

    def _net(self, in_ch: int, out_ch: int) -> nn.Module:
        c = self.config
        head = "zero" if c.blends else "tanh"
        if c.enhanced:
            return LocalEnhancer(in_ch, out_ch, c.ngf // 2, c.n_downsample, c.n_blocks, c.n_local_blocks,
                                 c.upsample, head)
        return GlobalGenerator(in_ch, out_ch, c.ngf, c.n_downsample, c.n_blocks, c.upsample, head)

    def enhance(self) -> None:
        """Wrap every trained global generator g in G = (g, g̃) for the high resolution (Sec. 4.2)."""
        if self.config.enhanced:
            raise RuntimeError("the generators are already two-scale")
        for name, g in self.nets.items():
            self.nets[name] = LocalEnhancer.from_global(g, self.config.n_local_blocks)
        self.config = dataclasses.replace(self.config, enhanced=True)

    def _run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """One net, under the caller's autocast if any; its output back in float32, so that the
        composites (which copy pixels of I_in and B_in) are computed at full precision."""
        return self.nets[name](x).float()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pose = batch["P_ref"]
        if self.config.variant not in TWO_STAGE:
            return {FINAL: self._run(FINAL, pose)}
        # The warp in float32 even under autocast: its interpolation and fill in bfloat16 cost the
        # composite detail (0.001 foreground SSIM on a nearly static clip, benchmarks/README.md).
        with torch.autocast(pose.device.type, enabled=False):
            if self.config.blends and self.config.hidden_parts:
                T, coverage, hidden = warp_parts_amodal(batch["I_in"], batch["parsing_in"], batch["theta"],
                                                        batch["part_valid"], batch["hidden_in"])
            else:
                T, coverage = warp_parts_with_coverage(batch["I_in"], batch["parsing_in"], batch["theta"],
                                                       batch["part_valid"])
                hidden = None
        raw = self._run(SYNTHESIS, torch.cat([T, pose], 1))
        if self.config.blends:
            # The person as a layer (colour, matte): Ĩ_out is it on green, I_comb over B_in.
            colour, alpha = tangram_layer(T, coverage, hidden)
            if self.config.flow:
                colour, alpha = move_layer(colour, alpha, FLOW_SCALE * raw[:, 4:6])
            person, key = compose_layer(colour, alpha, raw[:, :4])
            synthesis, comb = on_green(person, key), key * person + (1 - key) * batch["B_in"]
        else:
            # Eq. 2: the person keyed out of Ĩ_out, over the background plate.
            synthesis = raw
            key = chroma_key(synthesis)
            comb = key * synthesis + (1 - key) * batch["B"]
        raw = self._run(FINAL, torch.cat([comb, pose], 1))
        final = compose(comb, raw) if self.config.blends else raw
        return {"T": T, SYNTHESIS: synthesis, "key": key, COMB: comb, FINAL: final}


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
