"""Inference (paper 4.3): running a trained model, and the test-set synthesis.

Everything (here, in :mod:`dancegen.transfer.transfer` and live) runs a trained model
(:func:`dancegen.model.generators.load_generators`) through a :class:`Renderer`, in batches under
``torch.no_grad`` (CUDA when present): its nets at the resolution R its model file records, the
output composed at the render size H (``infer.size``, by default the frames' own size). Inputs come
from :class:`dancegen.model.inputs.InputBuilder`, the builder training uses too, for any input frame of
the personal video and any K-pose reference history.

Infer file ``data/infer/<video>/<variant>.h5`` (:func:`infer_video`)
  ``pairs_out``    (N, R, R, 3) uint8 RGB — I_out of every test pair, in the pairs file's order
  ``pairs_fg``     (N, R, R, 3) uint8 RGB — Ĩ_out, the person on green (two-stage variants only)
  ``pairs_index``  (N, 2) int64 — ``in_frame``, ``ref_frame`` of each test pair
  ``run_out``      (M, R, R, 3) uint8 RGB — I_out of the consecutive run: reference t for every
                   valid test frame t in order, one fixed input frame, P_ref from frames t, t−1, …
  ``run_fg``       (M, R, R, 3) uint8 RGB — Ĩ_out of the run (two-stage variants only)
  ``run_frames``   (M,) int64 — the run's reference frames
  ``pairs_hd``     (N, H, H, 3) uint8 RGB — I_out of every test pair at the render size H
                   (``infer.size``), the nets run at R and their fields applied at H
                   (:meth:`dancegen.model.generators.Generators.render`), refined where the model
                   has an HD refiner trained at H (``refine``); only where H > R
  attrs: ``video``, ``variant``, ``resolution`` (R), ``render_size`` (H), ``K``, ``run_input_frame``, ``model`` (path),
         ``model_meta`` (JSON: the model file's meta — steps, vgg_used, sp_used, …)
  Image datasets are chunked one frame per chunk (gzip 1); the file appears only when complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np
import torch
from tqdm import tqdm

from dancegen.core.config import InferParams, InputSpec, SourcesParams
from dancegen.core.errors import DanceGenError
from dancegen.core.images import compute_device, inference_autocast, to_uint8
from dancegen.core.store import atomic_path
from dancegen.model.generators import FINAL, SYNTHESIS, Generators, load_generators
from dancegen.model.inputs import InputBuilder, stacked
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import read_pairs
from dancegen.transfer.compositing import despill_green
from dancegen.transfer.engine import use_engine

log = logging.getLogger(__name__)


def load_model(path: str | Path, device: torch.device) -> tuple[Generators, int, dict]:
    """The trained generators of ``path`` (eval mode, on ``device``, channels-last), the resolution
    they were trained at and their meta: the model file alone says everything inference needs."""
    generators, resolution, meta = load_generators(path, map_location=device)
    # Channels-last convolutions run about a third faster on CPU too (and use tensor cores on CUDA).
    return generators.to(memory_format=torch.channels_last), resolution, meta


# --------------------------------------------------------------------------- inputs and outputs


@dataclass
class Generated:
    """One batch of generator outputs at the render size H: ``(B, H, H, 3) uint8 RGB`` images and
    ``(B, H, H)`` mattes; ``low`` is I_out at the nets' resolution R."""

    final: np.ndarray               # I_out at H
    synthesis: np.ndarray | None    # Ĩ_out on green at H (two-stage variants), else None
    matte: np.ndarray               # float32 in [0, 1]: the generated person (the variant's matte) at H
    low: np.ndarray                 # I_out at R, (B, R, R, 3) uint8 (``final`` itself where H = R)
    low_synthesis: np.ndarray | None  # Ĩ_out at R (``synthesis`` itself where H = R)

    @property
    def person(self) -> np.ndarray:
        """The image the matte cuts the person out of: Ĩ_out without green spill, or I_out where the
        variant has no Ĩ_out."""
        return self.final if self.synthesis is None else despill_green(self.synthesis)


def _batch(samples: list[dict[str, torch.Tensor]], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    batch = stacked(samples, device)
    return {k: _channels_last(v) for k, v in batch.items()} if channels_last else batch


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 and t.is_floating_point() else t


def _floats(outputs: dict) -> dict:
    return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in outputs.items()}


@torch.no_grad()
def generate(generators: Generators, samples: list[dict[str, torch.Tensor]], device: torch.device,
             samples_hd: list[dict[str, torch.Tensor]] | None = None, channels_last: bool = True) -> Generated:
    """Run the generators on a list of :meth:`InputBuilder.sample` items as one batch (in bfloat16
    on a CPU that computes it natively: :func:`dancegen.core.images.inference_autocast`); with
    ``samples_hd``, the same jobs built at a render size H without pose maps, compose at H
    (:meth:`dancegen.model.generators.Generators.render`). ``channels_last``: the batch in the
    layout torch's convolutions run fastest in; nets compiled by OpenVINO take NCHW, where it would
    cost a copy per net (5 ms of live's ~50 ms per frame, the outputs identical)."""
    batch = _batch(samples, device, channels_last)
    batch_hd = batch if samples_hd is None else _batch(samples_hd, device, channels_last)
    dtype = inference_autocast(device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        outputs, rendered = generators.render(batch, batch_hd)
    outputs, rendered = _floats(outputs), _floats(rendered)
    synthesis = to_uint8(rendered[SYNTHESIS]) if SYNTHESIS in rendered else None
    matte = generators.matte(outputs, batch, rendered)[:, 0].float().cpu().numpy()
    final = to_uint8(rendered[FINAL])
    if rendered is outputs:
        return Generated(final, synthesis, matte, final, synthesis)
    return Generated(final, synthesis, matte, to_uint8(outputs[FINAL]),
                     to_uint8(outputs[SYNTHESIS]) if synthesis is not None else None)


def trained_sources(meta: dict) -> SourcesParams:
    """The per-part source setting a model file's ``meta`` records (``sources_params``; models from
    before the setting existed took every part from I_in: ``single``)."""
    return SourcesParams(**meta.get("sources_params", {"mode": "single"}))


def render_size(size: int | None, frame_size: int, resolution: int) -> int:
    """The render size H of ``infer.size`` (0: the frames' own ``frame_size``; None: the model's
    ``resolution`` R), between R and the frame size; a one-line error otherwise."""
    h = resolution if size is None else frame_size if size == 0 else size
    if not resolution <= h <= frame_size:
        raise DanceGenError("params.yaml", f"'infer.size' {h} must lie between the model's resolution "
                            f"{resolution} and the frames' size {frame_size} (0: the frames' size)")
    return h


@dataclass(frozen=True)
class Renderer:
    """A trained model with a personal video's inputs for it: at its resolution R for the nets, and
    at the render size H for the person's own pixels (``builder_hd``; None where H = R)."""

    generators: Generators
    builder: InputBuilder
    builder_hd: InputBuilder | None
    device: torch.device
    engine: str                 # what the nets run in (:mod:`dancegen.transfer.engine`)

    @property
    def size(self) -> int:
        """The render size H."""
        return (self.builder_hd or self.builder).resolution

    def __call__(self, jobs: list[tuple]) -> Generated:
        """:func:`generate` of ``[(t_in, reference poses (K, 133, 3)[, the reference's own frame])]``
        (:meth:`InputBuilder.sample`)."""
        return self.render(self.inputs(jobs))

    def inputs(self, jobs: list[tuple]) -> tuple[list[dict], list[dict] | None]:
        """The first half of a call: the jobs' samples at R and (where H ≠ R) at H. Apart, so that a
        pipeline can build the next frame's inputs while the nets run on this one (``dancegen live``)."""
        samples = [self.builder.sample(*job) for job in jobs]
        hd = None if self.builder_hd is None else [self.builder_hd.sample(*job, with_pose_maps=False) for job in jobs]
        return samples, hd

    def render(self, inputs: tuple[list[dict], list[dict] | None]) -> Generated:
        """The second half: the nets and the composition of :meth:`inputs`' samples."""
        samples, hd = inputs
        return generate(self.generators, samples, self.device, hd, channels_last=self.engine == "torch")


def open_renderer(model_file: str | Path, video: PersonalVideo, spec: InputSpec, size: int | None,
                  engine: str) -> tuple[Renderer, dict]:
    """(the :class:`Renderer` of ``model_file`` on ``video`` at render size ``infer.size``, its nets in
    ``infer.engine`` where it can take them, the model's meta). Its parts come from where the model
    was trained to take them (:func:`trained_sources`)."""
    device = compute_device()
    generators, resolution, meta = load_model(model_file, device)
    spec = dataclasses.replace(spec, sources=trained_sources(meta))
    h = render_size(size, video.size, resolution)
    builder_hd = video.builder(h, spec) if h != resolution else None
    refiner = generators.refiner
    if refiner is not None:
        log.info("HD refiner of %s (trained at %d²): %s", model_file, refiner.config.size,
                 "on" if refiner.config.size == h else f"off, the render size is {h}²")
    engine = use_engine(generators, model_file, resolution, engine, device)
    return Renderer(generators, video.builder(resolution, spec), builder_hd, device, engine), meta


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Consecutive lists of ``n`` items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


class _ImageDatasets:
    """Appendable ``(N, S, S, 3) uint8`` datasets of one open HDF5 file, one image per chunk."""

    def __init__(self, file: h5py.File):
        self.file = file

    def create(self, name: str, side: int) -> None:
        shape = (side, side, 3)
        self.file.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=np.uint8,
                                 chunks=(1, *shape), compression="gzip", compression_opts=1)

    def append(self, name: str, values: np.ndarray) -> None:
        ds = self.file[name]
        n = ds.shape[0]
        ds.resize(n + len(values), axis=0)
        ds[n:] = values


# --------------------------------------------------------------------------- the test set


def read_test_pairs(pairs_csv: Path, video: PersonalVideo) -> np.ndarray:
    """The test pairs of ``pairs_csv``, ``(N, 2) int64`` in_frame, ref_frame, checked against ``video``."""
    table = read_pairs(pairs_csv)
    pairs = table[table["split"] == "test"][["in_frame", "ref_frame"]].to_numpy(np.int64)
    if not len(pairs):
        raise DanceGenError(pairs_csv, "has no test pairs")
    if not video.pose.valid[pairs.ravel()].all():
        raise DanceGenError(pairs_csv, f"names test frames without a valid pose in {video.paths.pose}")
    return pairs


def infer_video(out_path: str | Path, video: PersonalVideo, model_file: str | Path, spec: InputSpec,
                infer: InferParams) -> dict:
    """Synthesize the test pairs and the consecutive test run of one personal video at the model's
    resolution R, and the test pairs at the render size H (``infer.size``; infer file, module
    docstring). Returns counts: ``pairs``, ``run_frames``, ``render_size``."""
    renderer, meta = open_renderer(model_file, video, spec, infer.size, infer.engine)
    at_r = dataclasses.replace(renderer, builder_hd=None)
    pairs, run, K = read_test_pairs(video.paths.pairs, video), video.test_frames, spec.posemap.K
    if not len(run):
        raise DanceGenError(video.paths.split, "has no valid frame in the test split")
    jobs = {"pairs": [(int(a), int(b)) for a, b in pairs], "run": [(int(run[0]), int(t)) for t in run]}
    fg, hd = renderer.generators.variant.synthesis, renderer.builder_hd is not None
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        out = _ImageDatasets(f)
        f.create_dataset("pairs_index", data=pairs)
        f.create_dataset("run_frames", data=run)
        for name, jobs_of in jobs.items():
            # The pairs once, at H where H > R: the nets' R outputs come with the HD render.
            outputs = {"out": at_r.size, "fg": at_r.size} if fg else {"out": at_r.size}
            if name == "pairs" and hd:
                outputs["hd"] = renderer.size
            for kind, side in outputs.items():
                out.create(f"{name}_{kind}", side)
            render = renderer if "hd" in outputs else at_r
            for chunk in tqdm(list(batched(jobs_of, infer.batch_size)), desc=f"infer {name}", unit="batch"):
                result = render([(t_in, video.history(t_ref, K), t_ref) for t_in, t_ref in chunk])
                for kind, images in (("out", result.low), ("fg", result.low_synthesis), ("hd", result.final)):
                    if kind in outputs:
                        out.append(f"{name}_{kind}", images)
        f.attrs.update(video=video.name, variant=renderer.generators.config.variant, resolution=at_r.size,
                       render_size=renderer.size, K=K, run_input_frame=int(run[0]), model=str(model_file),
                       model_meta=json.dumps(meta), engine=renderer.engine)
    return {"pairs": len(pairs), "run_frames": len(run), "render_size": renderer.size, "engine": renderer.engine}
