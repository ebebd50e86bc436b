"""The generators of a variant, the compositions their nets share, and save / load.

This is all inference needs; the discriminators and losses that train them are in
:mod:`dancegen.train.objective`.

Variants (:mod:`dancegen.model.variants`, one module each) decide which nets a :class:`Generators`
holds and how they compose: the two-stage ``ours`` and ``ours_baseline``, ``pix2pixhd`` and ``posewarp``.

Composition (``model.compose``) of the two-stage variants:
  ``paper``  as printed: G_s and G_f synthesise their images (tanh heads), I_comb is built on the
             background plate B.
  ``blend``  each net predicts a correction of a composite it is given (:func:`compose`): G_s of the
             tangram (the warped parts on green, :func:`dancegen.body.parts.tangram`), G_f of I_comb, and
             I_comb is built on B_in, the input frame's own room (:mod:`dancegen.model.inputs`). Each part
             is completed where another part hid it in I_in (:func:`dancegen.body.parts.warp_parts_amodal`),
             so a torso behind crossed arms has no hole once the arms have moved. The
             synthesis net predicts the person as a layer, colour and matte (:func:`compose_layer`),
             so H_gen is that matte rather than a chroma key of Ĩ_out. The
             heads start at 0, so at initialisation Ĩ_out is exactly the tangram on green and I_out
             exactly I_comb: the scene is right from the first step and training improves the person.
  ``flow``   ``blend``, and the synthesis net also predicts a flow that moves the tangram layer
             before it corrects it (:func:`move_layer`), as vid2vid warps the previous frame: a part
             the per-part affine warp left a few pixels off is moved, not repainted. The flow head
             starts at 0 too, so at initialisation this is exactly ``blend``.

Batch layout (:mod:`dancegen.model.inputs`, :class:`dancegen.model.dataset.PairDataset`, batched):
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

from dancegen.core.config import ModelParams
from dancegen.core.errors import DanceGenError
from dancegen.model.nets.generator import GlobalGenerator, LocalEnhancer
from dancegen.model.nets.refiner import Refiner, RefinerConfig
from dancegen.body.posemaps import CHANNELS as POSE_MAP_CHANNELS
from dancegen.core.store import atomic_path
from dancegen.model.variants import get_variant

SYNTHESIS, COMB, FINAL = "synthesis", "comb", "final"
# loss.synthesis_target → the outputs that judge the synthesis net (dancegen.train.objective.targets):
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
# Mattes for compositing are keyed on images averaged over KEY_POOL² pixels: the generators' pixel
# noise otherwise speckles them.
KEY_POOL = 3

_FORMAT = "dancegen-generators-1"

# Pixels composed at the render size in one go (4 frames at 256², 1 at 512²): the amodal warp of
# ten parts at H holds hundreds of MB per 512² frame, so a batch of 8 test pairs of Ours at 512²
# composed at once peaked at 5.0 GiB, in runs of this size at 3.1 GiB, the same bits (benchmarks/README.md).
RENDER_PIXELS = 4 * 256 * 256


def chroma_key(image: torch.Tensor) -> torch.Tensor:
    """Soft foreground mask H_gen of an image on green: ``(B, 3, H, W)`` in [-1, 1] → ``(B, 1, H, W)``.

    sigmoid(KEY_SHARPNESS · (‖image − GREEN‖₂ − KEY_THRESHOLD)): ≈ 0 on the green screen, ≈ 1 on
    anything clearly not green, and differentiable everywhere (the distance has a small epsilon so
    the gradient stays finite on exact green).
    """
    green = image.new_tensor(GREEN).view(1, 3, 1, 1)
    distance = ((image - green) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
    return torch.sigmoid(KEY_SHARPNESS * (distance - KEY_THRESHOLD))


def upsampled(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """``image (B, C, h, w)`` resized to ``size`` (H, W) by ``mode`` (bilinear, bicubic); unchanged
    when it has that size already, so that rendering at the nets' own size is exactly their output."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return nn.functional.interpolate(image, size=tuple(size), mode=mode, align_corners=False)


def key_pooled(image: torch.Tensor) -> torch.Tensor:
    """``image (B, C, H, W)`` averaged over :data:`KEY_POOL`² pixels (same size), before keying a matte."""
    return nn.functional.avg_pool2d(image, KEY_POOL, stride=1, padding=KEY_POOL // 2, count_include_pad=False)


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


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a :class:`Generators` (stored in model files)."""

    variant: str
    pose_channels: int
    ngf: int
    n_downsample: int
    n_blocks: int
    n_local_blocks: int
    upsample: str            # model.upsample
    compose: str             # model.compose
    enhanced: bool = False   # True once g has been wrapped in G = (g, g̃) for the high resolution
    hidden_parts: bool = False    # complete the parts behind the parts that hid them (blend, flow; older files: no)
    stem: int = 0                 # model.stem: 0, or the channels of a 1×1 projection before the 7×7 stems

    @classmethod
    def from_params(cls, variant: str, model: ModelParams, K: int) -> GeneratorConfig:
        return cls(variant, pose_channels(K), model.ngf, model.n_downsample, model.n_blocks,
                   model.n_local_blocks, upsample=model.upsample, compose=model.compose,
                   hidden_parts=model.compose in BLENDING, stem=model.stem)

    @property
    def blends(self) -> bool:
        """Whether the nets predict corrections of composites (``blend`` or ``flow``, where the variant
        has an image to correct)."""
        return get_variant(self.variant).corrects(self.compose)


class Generators(nn.Module):
    """The generator nets of one variant (:mod:`dancegen.model.variants`); ``forward(batch)`` → the
    variant's dict of (B, C, R, R) outputs, ``final`` (I_out) always."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.variant = get_variant(config.variant)
        channels = self.variant.net_channels(config.pose_channels, config.compose)
        self.nets = nn.ModuleDict({name: self.variant.net(name, i, o, config) for name, (i, o) in channels.items()})
        # The HD refiner of I_out at its render size (:mod:`dancegen.model.nets.refiner`), once trained.
        self.refiner: Refiner | None = None

    def enhance(self) -> None:
        """Wrap every trained global generator g in G = (g, g̃) for the high resolution (Sec. 4.2);
        other nets (Posewarp's U-Nets) are fully convolutional and go on at the new size as they are."""
        if self.config.enhanced:
            raise RuntimeError("the generators are already two-scale")
        for name, g in self.nets.items():
            if isinstance(g, GlobalGenerator):
                self.nets[name] = LocalEnhancer.from_global(g, self.config.n_local_blocks)
        self.config = dataclasses.replace(self.config, enhanced=True)

    def run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """One net, under the caller's autocast if any; its output back in float32, so that the
        composites (which copy pixels of I_in and B_in) are computed at full precision."""
        return self.nets[name](x).float()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.variant.forward(self, batch)

    def matte(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              rendered: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The generated person's soft matte ``(B, 1, R, R)`` in [0, 1], for compositing; with the
        ``rendered`` outputs of :meth:`render`, at their size (a correcting variant's own H_gen there,
        else the matte at R upsampled)."""
        if rendered is not None and self.config.blends:
            return rendered["key"]
        matte = self.variant.matte(outputs, batch, self.config.blends)
        return matte if rendered is None else upsampled(matte, rendered[FINAL].shape[-2:], "bilinear").clamp(0, 1)

    def render(self, batch: dict[str, torch.Tensor], batch_hd: dict[str, torch.Tensor]
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(the outputs at R, the outputs at the render size H of ``batch_hd``): the nets run at R on
        ``batch`` and the variant composes at H on ``batch_hd``, the same inputs built at H without
        pose maps (:meth:`dancegen.model.variants.base.Variant.render`); I_out at H is then refined
        where the generators hold a refiner trained at this H (:meth:`refined`). At H = R both are
        ``forward``'s."""
        outputs = self(batch)
        height, width = batch_hd["I_in"].shape[-2:]
        if (height, width) == batch["I_in"].shape[-2:]:
            return outputs, outputs
        n, step = len(batch_hd["I_in"]), max(1, RENDER_PIXELS // (height * width))
        runs = [self.variant.render(self, _rows(outputs, i, i + step), _rows(batch_hd, i, i + step))
                for i in range(0, n, step)]
        return outputs, self.refined(outputs, {k: torch.cat([run[k] for run in runs]) for k in runs[0]})

    def refined(self, outputs: dict[str, torch.Tensor], rendered: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``rendered`` (at H) with I_out refined by :attr:`refiner` from it and the R output upsampled
        bilinearly; unchanged where there is no refiner or it was trained at another size."""
        size = tuple(rendered[FINAL].shape[-2:])
        if self.refiner is None or size != (self.refiner.config.size,) * 2:
            return rendered
        return {**rendered, FINAL: self.refiner(rendered[FINAL], upsampled(outputs[FINAL], size, "bilinear"))}


def _rows(batch: dict, start: int, stop: int) -> dict:
    """Samples ``start:stop`` of a batch: every tensor (and tuple of tensors) sliced on its first axis."""
    return {k: tuple(t[start:stop] for t in v) if isinstance(v, tuple) else v[start:stop] for k, v in batch.items()}


def save_generators(path: str | Path, generators: Generators, resolution: int, meta: dict) -> None:
    """Write the generators, their :class:`GeneratorConfig` (and their refiner's), the resolution and
    ``meta`` atomically."""
    state = {k: v.detach().cpu() for k, v in generators.state_dict().items()}
    saved = {"format": _FORMAT, "config": dataclasses.asdict(generators.config),
             "resolution": int(resolution), "state_dict": state, "meta": meta}
    if generators.refiner is not None:
        saved["refiner"] = dataclasses.asdict(generators.refiner.config)
    with atomic_path(path) as tmp:
        torch.save(saved, tmp)


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
    if "refiner" in saved:
        generators.refiner = Refiner(RefinerConfig(**saved["refiner"]))
    generators.load_state_dict(saved["state_dict"])
    return generators.to(map_location).eval(), int(saved["resolution"]), saved["meta"]
