"""The HD refiner's training (:mod:`dancegen.model.nets.refiner`), after a correcting variant's nets.

Where the frames are larger than the nets' resolution R, ``refine.pairs`` training pairs (the pairs
file's train split, drawn with ``refine.seed``) are rendered at H, the frames' size, by the trained
generators exactly as inference renders them (:meth:`dancegen.model.generators.Generators.render`),
beside their R output upsampled. The refiner then learns for ``refine.iters`` Adam steps, on batches
of ``refine.crop``² crops (4 in 5 centred on a pixel of the reference person), to map (render, R
output) to the true frame: L1 plus ``refine.w_detail`` × the L1 distance between the local means of
|Laplacian| (8 × 8 pixels) of output and truth. L1 alone blurs wherever the warp is unsure of a limb;
the detail term asks for the truth's amount of detail without asking where each stroke goes.

``refine.iters`` = 0, a variant that paints every pixel (pix2pixHD: nothing sharp to refine), or
frames no larger than R: no refiner, the plain HD render (said in the log and the model's meta).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from dancegen.core.config import InputSpec, RefineParams
from dancegen.core.images import to_uint8
from dancegen.model.dataset import PairDataset
from dancegen.model.generators import FINAL, Generators, upsampled
from dancegen.model.inputs import stacked
from dancegen.model.nets.refiner import Refiner, RefinerConfig
from dancegen.model.personal import PersonalVideo

log = logging.getLogger(__name__)

DETAIL_POOL = 8     # px at H over which the detail term compares the mean |Laplacian|
ON_PERSON = 0.8     # share of the crops centred on a pixel of the reference person


def attach_refiner(generators: Generators, video: PersonalVideo, spec: InputSpec, resolution: int,
                   refine: RefineParams) -> dict:
    """Train a refiner for ``generators`` (trained at ``resolution`` R) at the frames' size of ``video``
    and attach it (:attr:`Generators.refiner`); → what was done, for the model's meta."""
    size = video.size
    why_not = ("refine.iters is 0" if refine.iters == 0 else
               f"{generators.config.variant} paints every pixel" if not generators.config.blends else
               f"the frames ({size}²) are no larger than R = {resolution}" if size <= resolution else None)
    if why_not:
        log.info("no HD refiner: %s; the HD render is the plain one", why_not)
        return {"refined": False, "why_not": why_not}
    device = next(generators.parameters()).device
    began = time.perf_counter()
    examples = render_examples(generators, video, spec, resolution, refine)
    rendered = time.perf_counter() - began
    refiner = Refiner(RefinerConfig(refine.width, refine.layers, size)).to(device)
    loss = fit(refiner, examples, refine)
    generators.refiner = refiner.eval()
    summary = {"refined": True, "size": size, "pairs": len(examples[0]), "iters": refine.iters,
               "seconds_rendering": round(rendered, 1), "seconds": round(time.perf_counter() - began, 1),
               "last_loss": loss}
    log.info("HD refiner at %d² trained: %s", size, summary)
    return summary


@torch.no_grad()
def render_examples(generators: Generators, video: PersonalVideo, spec: InputSpec, resolution: int,
                    refine: RefineParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """(renders, R outputs upsampled, truths: ``(N, 3, H, H) uint8``, the person's pixels of each
    truth: ``(n_i, 2)`` rows y, x) of ``refine.pairs`` training pairs rendered at the frames' size H."""
    pairs = PairDataset(video, "train", resolution, spec).pairs
    rng = np.random.default_rng(refine.seed)
    pairs = pairs[np.sort(rng.choice(len(pairs), min(refine.pairs, len(pairs)), replace=False))]
    builder, builder_hd, K = video.builder(resolution, spec), video.builder(video.size, spec), spec.posemap.K
    device, mode = next(generators.parameters()).device, generators.training
    generators.eval()
    renders, lows = [], []
    for start in range(0, len(pairs), refine.batch_size):
        jobs = [(int(a), video.history(int(b), K), int(b)) for a, b in pairs[start:start + refine.batch_size]]
        batch = stacked([builder.sample(*job) for job in jobs], device)
        batch_hd = stacked([builder_hd.sample(*job, with_pose_maps=False) for job in jobs], device)
        outputs, rendered = generators.render(batch, batch_hd)
        renders.append(_uint8(rendered[FINAL]))
        lows.append(_uint8(upsampled(outputs[FINAL], (video.size, video.size), "bilinear")))
    generators.train(mode)
    truths = torch.from_numpy(np.stack([video.frames[int(b)] for _, b in pairs])).permute(0, 3, 1, 2)
    people = [np.argwhere(video.pose.mask(int(b)) > 255 * spec.mask_threshold) for _, b in pairs]
    return torch.cat(renders), torch.cat(lows), truths.contiguous(), people


def fit(refiner: Refiner, examples: tuple, refine: RefineParams) -> float:
    """``refine.iters`` Adam steps of ``refiner`` on crops of :func:`render_examples`' ``examples``
    (module docstring); → the mean loss of the last 50 steps."""
    renders, lows, truths, people = examples
    rng = np.random.default_rng(refine.seed)
    torch.manual_seed(refine.seed)
    device = next(refiner.parameters()).device
    opt = torch.optim.Adam(refiner.parameters(), refine.lr, betas=(0.9, 0.99))
    refiner.train()
    losses = []
    for step in range(refine.iters):
        for group in opt.param_groups:
            group["lr"] = refine.lr * 0.5 * (1 + math.cos(math.pi * step / refine.iters))
        render, low, truth = (_float(t).to(device) for t in _crops((renders, lows, truths), people, refine, rng))
        out = refiner(render, low)
        loss = (out - truth).abs().mean() + refine.w_detail * (_detail(out) - _detail(truth)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            log.info("refiner step %d/%d: loss %.4f", step + 1, refine.iters, float(np.mean(losses[-100:])))
    return float(np.mean(losses[-50:]))


def _crops(images: tuple[torch.Tensor, ...], people: list[np.ndarray], refine: RefineParams,
           rng: np.random.Generator) -> list[torch.Tensor]:
    """The same ``refine.batch_size`` random ``refine.crop``² crops of each ``(N, 3, H, H)`` tensor."""
    n, side, c = len(images[0]), images[0].shape[-1], min(refine.crop, images[0].shape[-1])
    picks = []
    for i in rng.integers(0, n, refine.batch_size):
        if len(people[i]) and rng.random() < ON_PERSON:
            y, x = people[i][rng.integers(len(people[i]))] - c // 2
        else:
            y, x = rng.integers(0, side - c + 1, 2)
        picks.append((i, int(np.clip(y, 0, side - c)), int(np.clip(x, 0, side - c))))
    return [torch.stack([t[i, :, y:y + c, x:x + c] for i, y, x in picks]) for t in images]


def _detail(image: torch.Tensor) -> torch.Tensor:
    """The mean |Laplacian| of ``image (B, 3, h, w)`` over :data:`DETAIL_POOL`² blocks."""
    kernel = image.new_tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return F.avg_pool2d(F.conv2d(image, kernel, padding=1, groups=3).abs(), DETAIL_POOL)


def _uint8(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] → uint8 ``(B, 3, H, W)`` on the CPU (a quarter of float32's memory)."""
    return torch.from_numpy(to_uint8(image)).permute(0, 3, 1, 2)


def _float(image: torch.Tensor) -> torch.Tensor:
    return image.float() / 127.5 - 1
