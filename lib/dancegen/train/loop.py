"""Training of one variant on one personal video: the loop, checkpoints and resume, DDP, DVCLive.

Schedule (Sec. 4.2, pix2pixHD's coarse-to-fine): phase ``low`` trains the global generators g at
``train.low_res`` for ``train.low_iters`` steps with ``model.num_d_low``-scale discriminators;
phase ``high`` wraps each g in G = (g, g̃) and trains at ``train.high_res`` (= 2 × low_res, the
scale g̃ feeds g at) for ``train.high_iters`` steps with fresh ``model.num_d_high``-scale
discriminators. One step = one Adam update of all generators and one of all discriminators, both
from the same discriminators' scores (pix2pixHD's order).

Files (written by rank 0 only, each atomically):
  ``<checkpoint_dir>/checkpoint.pt``  networks, optimisers, grad scaler, phase and step, the
        logging window, RNG states of python / numpy / torch (+ CUDA), and a fingerprint of the
        params, data and code it belongs to (code: :func:`dancegen.core.sources.code_hash` of this
        module's import closure, so a changed loss or network never resumes an old run). Written
        every ``train.checkpoint_every`` steps and at the end of each phase. A run finding a
        checkpoint with its own fingerprint resumes from it (the data order is a pure function of
        seed, phase and step, so a resumed run repeats the uninterrupted one); with another
        fingerprint, or with tensors that do not fit the current networks, it says so in one log
        line and starts afresh (DVCLive's history is then started afresh too).
        The iteration counts are not in the fingerprint: the checkpoint records the counts it ran
        under, and a run whose counts only extend them (the phases before the checkpoint's alike, the
        checkpoint's own phase at least as long) continues from it to the new count, as one
        uninterrupted run of that length would (:func:`extends`); a run that would have to undo
        steps starts afresh.
  ``<model_path>``  the final generators (:func:`dancegen.model.generators.save_generators`): with
        ``train.ema_decay`` > 0 the exponential moving average of the high phase's generator
        weights (started afresh from the generators at each phase's start, its decay warmed up:
        :func:`warmed_up_average`), else the last weights.
        A GAN's last iterate carries the noise of its last updates; the average keeps what the
        updates agree on, which for a net correcting a composite means fewer needless changes.
  ``<log_dir>/``    DVCLive: ``metrics.json`` (last logged values, ``vgg_used``, ``sp_used``,
        seconds per step), ``plots/metrics/**.tsv`` (every loss term, mean over ``train.log_every``
        steps), ``plots/images/samples/<step>.png`` (I_in | T | Ĩ_out | I_comb | I_out | I_ref rows).

Devices: CUDA when present (autocast in ``train.precision``: auto = bf16 where supported, else
fp16 with a grad scaler; channels-last tensors), else CPU in fp32. Several processes under
``torchrun`` train data-parallel (DistributedDataParallel, NCCL on CUDA, gloo on CPU), each on its
own shard of every epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from dancegen.core.config import InputSpec, LossParams, ModelParams, RefineParams, TrainParams, check_schedule
from dancegen.model.dataset import PairDataset
from dancegen.core.errors import DanceGenError
from dancegen.core.images import to_uint8
from dancegen.core.layout import TrainPaths
from dancegen.model.personal import PersonalVideo
from dancegen.model.generators import FINAL, GeneratorConfig, Generators, save_generators
from dancegen.model.variants import NAMES as VARIANTS
from dancegen.model.variants import get_variant
from dancegen.model.nets.sp_encoder import load_sp
from dancegen.train.refine import attach_refiner
from dancegen.train.objective import Critics, GeneratorObjective, perceptual_term, targets
from dancegen.core.sources import code_hash
from dancegen.core.store import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = "dancegen-train-checkpoint-2"    # 2: records each phase's iteration count
SAMPLE_ROWS = 4
# Params that change how a run reports, not what it computes: a checkpoint survives edits to them.
_REPORTING_KEYS = ("variants", "workers", "checkpoint_every", "log_every", "sample_every")
# The schedule's length: a checkpoint survives it growing (:func:`extends`).
_LENGTH_KEYS = ("low_iters", "high_iters")


@dataclass(frozen=True)
class Phase:
    index: int
    name: str
    resolution: int
    iters: int
    num_d: int
    enhanced: bool      # generators are G = (g, g̃)
    first_step: int     # global step number before this phase's first step


def phases(train: TrainParams, model: ModelParams) -> list[Phase]:
    """The low- and high-resolution phases that have iterations, in order."""
    out, first = [], 0
    plan = (("low", train.low_res, train.low_iters, model.num_d_low, False),
            ("high", train.high_res, train.high_iters, model.num_d_high, True))
    for index, (name, res, iters, num_d, enhanced) in enumerate(plan):
        if iters > 0:
            out.append(Phase(index, name, res, iters, num_d, enhanced, first))
            first += iters
    return out


# --------------------------------------------------------------------------- processes, devices


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Ranks:
    """Join the process group ``torchrun`` describes in the environment; one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


def select_device(precision: str, local_rank: int) -> tuple[torch.device, torch.dtype | None]:
    """(device, autocast dtype or None for fp32): CUDA with ``precision``, else CPU fp32."""
    if not torch.cuda.is_available():
        return torch.device("cpu"), None
    device = torch.device("cuda", local_rank)
    if precision == "auto":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@dataclass(frozen=True)
class Runtime:
    """Where a run's steps execute: the device, its autocast dtype (None: fp32) and this process's ranks."""

    device: torch.device
    amp_dtype: torch.dtype | None
    ranks: Ranks


# --------------------------------------------------------------------------- data


class PairStream(Sampler[int]):
    """Endless dataset indices for one rank: epoch e is :class:`DistributedSampler`'s shuffle for
    (seed, e), and the stream starts ``skip`` indices in, so a resumed run continues the order."""

    def __init__(self, dataset: Dataset, seed: int, ranks: Ranks, skip: int):
        self.epochs = DistributedSampler(dataset, num_replicas=ranks.world, rank=ranks.rank,
                                         shuffle=True, seed=seed)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.skip, len(self.epochs))
        while True:
            self.epochs.set_epoch(epoch)
            yield from list(self.epochs)[offset:]
            epoch, offset = epoch + 1, 0


def batches(dataset: Dataset, train: TrainParams, phase: Phase, ranks: Ranks, start_step: int,
            pin: bool) -> Iterator[dict[str, torch.Tensor]]:
    sampler = PairStream(dataset, train.seed + phase.index, ranks, start_step * train.batch_size)
    # The loader's own generator seeds its workers, so creating it never draws from the global RNG
    # (a resumed run creates it at another point of the RNG stream than the uninterrupted run).
    loader = DataLoader(dataset, batch_size=train.batch_size, sampler=sampler, num_workers=train.workers,
                        pin_memory=pin, generator=torch.Generator().manual_seed(train.seed))
    return iter(loader)


# --------------------------------------------------------------------------- one step


class NonFiniteLoss(ArithmeticError):
    def __init__(self, term: str, value: float):
        super().__init__(f"loss term '{term}' is {value}")
        self.term, self.value = term, value


def warmed_up_average(decay: float):
    """AveragedModel's ``avg_fn`` for an exponential moving average whose decay warms up:
    min(decay, (1 + n) / (10 + n)) after n updates (TensorFlow's ExponentialMovingAverage with
    num_updates). A plain average at 0.99 would still hold a fifth of a phase's first weights after
    150 steps; a net that starts from scratch (pix2pixHD's local branch) must not carry those."""
    def average(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        return d * averaged + (1.0 - d) * current

    return average


@dataclass(frozen=True)
class RunParams:
    """The params sections that decide what a training run computes: the networks, the schedule and
    optimiser, the losses."""

    model: ModelParams
    train: TrainParams
    loss: LossParams
    refine: RefineParams = RefineParams()   # the HD refiner trained after the nets (not in the fingerprint)


@dataclass(frozen=True)
class TrainingRun:
    """One variant trained on one personal video: its params, what its inputs are built from, its files."""

    variant: str
    params: RunParams
    inputs: InputSpec
    paths: TrainPaths
    video: PersonalVideo    # the personal video of ``paths``, opened once for the run (its part index built once)


class Trainer:
    """Generators + discriminators of one phase, their optimisers and the update step."""

    def __init__(self, generators: Generators, branches: tuple[str, ...], phase: Phase, params: RunParams,
                 objective: GeneratorObjective, runtime: Runtime):
        model, loss, train, device = params.model, params.loss, params.train, runtime.device
        self.generators, self.branches, self.device = generators, branches, device
        self.amp_dtype, self.ranks = runtime.amp_dtype, runtime.ranks
        self.channels_last = device.type == "cuda"
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.critics = Critics(branches, generators.config.pose_channels, model, phase.num_d,
                               loss.w_gp, loss.gp_every).to(device, memory_format=fmt)
        self.generators.to(device, memory_format=fmt)
        self.objective = objective.to(device)
        if self.ranks.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.g_run = DistributedDataParallel(self.generators, device_ids=ids)
            self.d_run = DistributedDataParallel(self.critics, device_ids=ids)
        else:
            self.g_run, self.d_run = self.generators, self.critics
        if train.compile:
            # The generators' forward and backward only: the gradient penalty's double backward
            # through the discriminators is not supported by torch.compile. Compiling costs about
            # two minutes on a CPU at the first step (and again at the phase switch).
            self.g_run = torch.compile(self.g_run)
        # The fused kernel takes a third of the time of the per-tensor loop on CPU too.
        adam = dict(lr=train.lr, betas=(train.beta1, train.beta2), fused=True)
        self.opt_g = torch.optim.Adam(self.generators.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.critics.parameters(), **adam)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.average = (AveragedModel(self.generators, avg_fn=warmed_up_average(train.ema_decay))
                        if train.ema_decay > 0 else None)

    @property
    def result(self) -> Generators:
        """The generators to save: the weight average when there is one, else the trained ones."""
        return self.generators if self.average is None else self.average.module

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for k, v in batch.items():
            v = v.to(self.device, non_blocking=True)
            if self.channels_last and v.ndim == 4 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def _mean_over_ranks(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        values = torch.stack([t.detach().float() for t in terms.values()])
        if self.ranks.world > 1:
            dist.all_reduce(values)
            values /= self.ranks.world
        return dict(zip(terms, values.tolist()))

    def step(self, batch: dict[str, torch.Tensor], step: int = 1) -> tuple[dict[str, float], dict, dict]:
        """Update ``step`` (the global step number, from 1; it decides whether a lazy gradient
        penalty runs) → (loss terms averaged over ranks, outputs, the batch on the device).

        Raises :class:`NonFiniteLoss` before touching any weight if a term is NaN or infinite.
        """
        batch = self._to_device(batch)
        cond = batch["P_ref"]
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            outputs = self.g_run(batch)
            reals = targets(batch, self.branches)
            fakes = {name: outputs[name] for name in self.branches}
            d_loss, d_terms, real_outputs = self.d_run(
                reals, {name: f.detach() for name, f in fakes.items()}, cond,
                step % self.critics.gp_every == 0)
            g_loss, g_terms = self.objective(self.critics, reals, fakes, real_outputs, cond)
        monitor = {f"{FINAL}/l1": (outputs[FINAL].detach().float() - batch["I_ref"]).abs().mean()}
        # Components before totals, so a NaN is reported by the term it started in.
        values = self._mean_over_ranks({**g_terms, **d_terms, **monitor,
                                        "g_total": g_loss, "d_total": d_loss})
        for name, value in values.items():
            if not math.isfinite(value):
                raise NonFiniteLoss(name, value)
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(g_loss).backward()
        self.scaler.scale(d_loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.step(self.opt_d)
        self.scaler.update()
        if self.average is not None:
            self.average.update_parameters(self.generators)
        return values, outputs, batch

    def state_dict(self) -> dict:
        state = {"generators": self.generators.state_dict(), "critics": self.critics.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "scaler": self.scaler.state_dict()}
        if self.average is not None:
            state["average"] = self.average.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generators.load_state_dict(state["generators"])
        self.critics.load_state_dict(state["critics"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])


# --------------------------------------------------------------------------- checkpoints


def require_inputs(paths: TrainPaths, use_sp: bool) -> None:
    """Raise DanceGenError naming the first input file of ``paths`` that is missing."""
    needed = [paths.frames, paths.pose, paths.pairs, paths.background / "background.png"]
    for path in needed + ([paths.sp] if use_sp else []):
        if not path.is_file():
            raise DanceGenError(path, "not found (run the stages before train first: dvc repro)")


def training_code() -> str:
    """Hash of the library code a training run executes (this module's import closure)."""
    return code_hash(__name__)


def fingerprint(run: TrainingRun, use_sp: bool, perceptual: str) -> str:
    """Hash of what a run computes: variant, params (but reporting knobs and the iteration counts,
    which the checkpoint records itself), pairs, data sizes, code."""
    paths = run.paths
    train_keys = {k: v for k, v in dataclasses.asdict(run.params.train).items()
                  if k not in _REPORTING_KEYS + _LENGTH_KEYS}
    data = {"pairs": hashlib.sha256(paths.pairs.read_bytes()).hexdigest(),
            "sizes": [p.stat().st_size
                      for p in (paths.frames, paths.pose, paths.background / "background.png")]}
    if use_sp:
        data["sp"] = hashlib.sha256(paths.sp.read_bytes()).hexdigest()
    blob = json.dumps({"variant": run.variant, "model": dataclasses.asdict(run.params.model), "train": train_keys,
                       "loss": dataclasses.asdict(run.params.loss), "inputs": dataclasses.asdict(run.inputs),
                       "data": data, "perceptual": perceptual, "code": training_code()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def extends(ckpt: dict, plan: list[Phase]) -> bool:
    """Whether ``plan`` continues the run of the checkpoint: every phase before the checkpoint's
    has the count it ran under, and the checkpoint's phase has at least the steps it took. (The
    data order and everything a step draws depend on seed, phase and step only, so such a run
    repeats one uninterrupted run of ``plan``'s length.)"""
    iters = {p.index: p.iters for p in plan}
    ran = ckpt["iters"]
    return (ckpt["phase"] in iters and iters[ckpt["phase"]] >= ckpt["step"]
            and all(iters.get(i, 0) == ran.get(i, 0) for i in range(ckpt["phase"])))


def _same_shapes(module: torch.nn.Module, state: dict) -> bool:
    own = module.state_dict()
    return own.keys() == state.keys() and all(own[k].shape == state[k].shape for k in own)


def fits_networks(ckpt: dict, generators: Generators, plan: list[Phase], branches: tuple[str, ...],
                  model: ModelParams, loss: LossParams) -> bool:
    """Whether the checkpoint's tensors have the names and shapes of the networks this run builds
    for the checkpoint's phase (a changed architecture does not)."""
    phase = next((p for p in plan if p.index == ckpt["phase"]), None)
    if phase is None or not isinstance(ckpt.get("generators"), dict):
        return False
    probe = Generators(generators.config)
    if phase.enhanced:
        probe.enhance()
    critics = Critics(branches, generators.config.pose_channels, model, phase.num_d, loss.w_gp)
    return _same_shapes(probe, ckpt["generators"]) and _same_shapes(critics, ckpt.get("critics", {}))


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, trainer: Trainer, plan: list[Phase], phase: Phase, step: int, window: dict,
                    fp: str) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": _FORMAT, "fingerprint": fp, "phase": phase.index, "step": step,
                    "iters": {p.index: p.iters for p in plan},
                    "window": window, "rng": _rng_state(), **trainer.state_dict()}, tmp)


def load_checkpoint(path: Path, fp: str, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this run (same fingerprint), else None."""
    if not path.is_file():
        return None
    try:
        # Our own file, holding numpy and python RNG states besides tensors.
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike for a damaged file
        raise DanceGenError(path, f"not a readable checkpoint ({type(err).__name__}); delete it to "
                            "start afresh") from None
    if not isinstance(state, dict) or not str(state.get("format")).startswith(_FORMAT[:-1]):
        raise DanceGenError(path, "not a dancegen training checkpoint; delete it to start afresh")
    if state["format"] != _FORMAT:
        log.info("checkpoint %s is from an older dancegen: starting afresh", path)
        return None
    if state["fingerprint"] != fp:
        log.info("checkpoint %s is from other params, data or code: starting afresh", path)
        return None
    state["rng"]["torch"] = state["rng"]["torch"].cpu()
    if "cuda" in state["rng"]:
        state["rng"]["cuda"] = [s.cpu() for s in state["rng"]["cuda"]]
    return state


# --------------------------------------------------------------------------- logging


def sample_grid(batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor], variant: str) -> np.ndarray:
    """Up to SAMPLE_ROWS rows of I_in | the variant's own columns (two-stage: T | Ĩ_out | I_comb;
    pix2pixhd: P_ref; posewarp: W | y_fg | y_bg) | I_out | I_ref → ``(rows·R, cols·R, 3) uint8`` RGB."""
    n = min(SAMPLE_ROWS, batch["I_in"].shape[0])
    columns = [batch["I_in"][:n], *get_variant(variant).sample_columns(batch, outputs, n),
               outputs[FINAL][:n], batch["I_ref"][:n]]
    grid = torch.cat([c.detach().float().cpu() for c in columns], dim=-1)   # (n, 3, R, cols·R)
    return to_uint8(torch.cat(list(grid), dim=-2))


def _truncate_history(log_dir: Path, last_step: int) -> None:
    """Drop logged rows and sample images after ``last_step`` (they came after the checkpoint)."""
    for tsv in (log_dir / "plots" / "metrics").rglob("*.tsv"):
        header, *rows = tsv.read_text().splitlines()
        column = header.split("\t").index("step")
        kept = [r for r in rows if int(r.split("\t")[column]) <= last_step]
        tsv.write_text("\n".join([header, *kept]) + "\n")
    for png in (log_dir / "plots" / "images" / "samples").glob("*.png"):
        if png.stem.isdigit() and int(png.stem) > last_step:
            png.unlink()


class RunLog:
    """DVCLive on rank 0 (a no-op elsewhere): window means of the loss terms, sample grids, summary."""

    def __init__(self, log_dir: Path, resume_step: int | None, enabled: bool, every: int, window: dict):
        self.every, self.window = every, window
        self.live = None
        if not enabled:
            return
        from dvclive import Live

        if resume_step is not None:
            _truncate_history(log_dir, resume_step)
        self.live = Live(str(log_dir), resume=resume_step is not None, save_dvc_exp=False,
                         dvcyaml=False, report=None)

    def add(self, step: int, values: dict[str, float]) -> None:
        """Accumulate step ``step``'s terms; log their means when ``step`` is a multiple of ``every``."""
        for name, value in values.items():
            total, count = self.window.get(name, (0.0, 0))
            self.window[name] = (total + value, count + 1)
        if step % self.every:
            return
        if self.live is not None:
            self.live.step = step
            for name, (total, count) in sorted(self.window.items()):
                self.live.log_metric(name, total / count)
            self.live.sync()
        self.window.clear()

    def image(self, step: int, grid: np.ndarray) -> None:
        if self.live is not None:
            self.live.log_image(f"samples/{step:06d}.png", grid)

    def finish(self, summary: dict) -> None:
        if self.live is not None:
            self.live.summary.update(summary)
            self.live.end()


# --------------------------------------------------------------------------- the run


@dataclass
class _Frozen:
    """The loss networks shared by all phases."""

    objective: GeneratorObjective
    perceptual: str         # vgg19 | efficientnet_lite0 | off
    sp_used: bool


def _loss_networks(loss: LossParams, sp_path: Path, device: torch.device) -> _Frozen:
    perceptual, perceptual_name = perceptual_term(loss)
    sp = load_sp(sp_path, map_location=device) if loss.w_sp > 0 else None
    sp_res = None
    if sp is not None:
        sp_res = sp.meta.get("params", {}).get("resolution")
        if not isinstance(sp_res, int):
            raise DanceGenError(sp_path, "does not record the resolution SPNet was trained at")
    objective = GeneratorObjective(loss, perceptual, sp, sp_res)
    return _Frozen(objective, perceptual_name, sp is not None)


def train_model(paths: TrainPaths, variant: str, model: ModelParams, train: TrainParams,
                loss: LossParams, inputs: InputSpec, refine: RefineParams = RefineParams()) -> dict:
    """Train ``variant`` (see :mod:`dancegen.model.generators`) on the pairs of one video; returns the summary.

    Writes the model, checkpoints and logs of ``paths`` (module docstring). Raises DanceGenError on
    a bad schedule, missing inputs, or a NaN / infinite loss (naming the step and the term; the
    checkpoint on disk is then the last good one).
    """
    if variant not in VARIANTS:
        raise DanceGenError("params.yaml", f"unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
    check_schedule(train)
    require_inputs(paths, loss.w_sp > 0)
    ranks = init_distributed()
    try:
        inputs = get_variant(variant).input_spec(inputs)
        if variant in train.half_size:
            train = dataclasses.replace(train, low_res=train.low_res // 2, high_res=train.high_res // 2)
        with PersonalVideo(paths) as video:
            return _train(TrainingRun(variant, RunParams(model, train, loss, refine), inputs, paths, video), ranks)
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _train(run: TrainingRun, ranks: Ranks) -> dict:
    variant, paths, inputs = run.variant, run.paths, run.inputs
    model, train, loss = run.params.model, run.params.train, run.params.loss
    runtime = Runtime(*select_device(train.precision, ranks.local_rank), ranks)
    _seed(train.seed)
    branches = get_variant(variant).judged(loss)
    frozen = _loss_networks(loss, paths.sp, runtime.device)
    fp = fingerprint(run, frozen.sp_used, frozen.perceptual)
    ckpt_path = paths.checkpoints / CHECKPOINT_NAME
    ckpt = load_checkpoint(ckpt_path, fp, runtime.device)
    plan = phases(train, model)
    generators = Generators(GeneratorConfig.from_params(variant, model, inputs.posemap.K))
    if ckpt is not None and not extends(ckpt, plan):
        log.info("checkpoint %s ran %s steps per phase and stands at phase %d, step %d; %s would undo "
                 "steps: starting afresh", ckpt_path, ckpt["iters"], ckpt["phase"], ckpt["step"],
                 {p.index: p.iters for p in plan})
        ckpt = None
    if ckpt is not None and not fits_networks(ckpt, generators, plan, branches, model, loss):
        log.info("checkpoint %s does not fit the current networks: starting afresh", ckpt_path)
        ckpt = None
    total = plan[-1].first_step + plan[-1].iters
    if ckpt is not None and ckpt["iters"] != {p.index: p.iters for p in plan}:
        ran = sum(ckpt["iters"].values())
        log.info("extending %s from %d to %d steps: continuing from the checkpoint at phase %s, step %d",
                 variant, ran, total, next(p.name for p in plan if p.index == ckpt["phase"]), ckpt["step"])

    resume_step = None if ckpt is None else plan_step(plan, ckpt["phase"], ckpt["step"])
    runlog = RunLog(paths.logs, resume_step, ranks.main, train.log_every,
                    dict(ckpt["window"]) if ckpt else {})
    seconds = {}
    for phase in plan:
        if ckpt is not None and phase.index < ckpt["phase"]:
            continue
        if phase.enhanced and not generators.config.enhanced:
            generators.enhance()
        trainer = Trainer(generators, branches, phase, run.params, frozen.objective, runtime)
        start = 0
        if ckpt is not None and phase.index == ckpt["phase"]:
            trainer.load_state_dict(ckpt)
            _set_rng_state(ckpt["rng"])
            start, ckpt = ckpt["step"], None
            log.info("resuming %s at phase %s, step %d", variant, phase.name, start)
        seconds[phase.name] = _run_phase(trainer, run, plan, phase, start, runlog, fp)
    result = trainer.result
    refined = attach_refiner(result, run.video, inputs, plan[-1].resolution, run.params.refine) if ranks.main else {}
    summary = {"compose": generators.config.compose, "upsample": generators.config.upsample,
               "synthesis_target": loss.synthesis_target if branches != (FINAL,) else None,
               "ema_decay": train.ema_decay, "sources": run.inputs.sources.mode,
               "perceptual": frozen.perceptual, "vgg_used": frozen.perceptual == "vgg19",
               "sp_used": frozen.sp_used, "resolution": plan[-1].resolution,
               "steps": total, "world_size": ranks.world,
               "device": runtime.device.type, **{f"seconds_per_step_{k}": v for k, v in seconds.items() if v},
               "hd_refiner": bool(refined.get("refined"))}
    if ranks.main:
        save_generators(paths.model, result, plan[-1].resolution,
                        {"variant": variant, "fingerprint": fp, **summary, "refine": refined,
                         "sources_params": dataclasses.asdict(run.inputs.sources)})
    runlog.finish(summary)
    return summary


def plan_step(plan: list[Phase], phase_index: int, step: int) -> int:
    """Global step number of ``step`` steps into phase ``phase_index``."""
    return next(p.first_step for p in plan if p.index == phase_index) + step


def _run_phase(trainer: Trainer, run: TrainingRun, plan: list[Phase], phase: Phase, start: int, runlog: RunLog,
               fp: str) -> float | None:
    """Steps ``start`` … ``phase.iters`` of one phase; returns mean seconds per step (None if none ran)."""
    paths, variant, train, ranks = run.paths, run.variant, run.params.train, trainer.ranks
    dataset = PairDataset(run.video, "train", phase.resolution, run.inputs)
    stream = batches(dataset, train, phase, ranks, start, pin=trainer.device.type == "cuda")
    ckpt_path = paths.checkpoints / CHECKPOINT_NAME
    bar = tqdm(range(start, phase.iters), desc=f"{variant} {phase.name} {phase.resolution}²",
               disable=not ranks.main, initial=start, total=phase.iters)
    began = time.perf_counter()
    for step in bar:
        global_step = phase.first_step + step + 1
        try:
            values, outputs, batch = trainer.step(next(stream), global_step)
        except NonFiniteLoss as err:
            raise DanceGenError(ckpt_path, f"training stopped at step {global_step} ({phase.name} "
                                f"phase): {err}; this file holds the last good checkpoint") from None
        runlog.add(global_step, values)
        bar.set_postfix(g=f"{values['g_total']:.3f}", d=f"{values['d_total']:.3f}", refresh=False)
        done = step + 1
        if ranks.main and (global_step % train.sample_every == 0 or done == phase.iters):
            runlog.image(global_step, sample_grid(batch, outputs, variant))
        if ranks.main and (done % train.checkpoint_every == 0 or done == phase.iters):
            save_checkpoint(ckpt_path, trainer, plan, phase, done, dict(runlog.window), fp)
    ran = phase.iters - start
    return (time.perf_counter() - began) / ran if ran else None
