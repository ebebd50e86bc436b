"""Inference (paper 4.3): running a trained model, and the test-set synthesis.

Everything (here and in :mod:`dancegen.transfer.transfer`) runs a trained model (:func:`dancegen.model.generators.load_generators`) in batches under
``torch.no_grad`` (CUDA when present) at the resolution R its model file records. Inputs come
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
  attrs: ``video``, ``variant``, ``resolution`` (R), ``K``, ``run_input_frame``, ``model`` (path),
         ``model_meta`` (JSON: the model file's meta — steps, vgg_used, sp_used, …)
  Image datasets are chunked one frame per chunk (gzip 1); the file appears only when complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np
import torch
from tqdm import tqdm

from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.core.images import compute_device, inference_autocast, to_uint8
from dancegen.core.store import atomic_path
from dancegen.model.generators import FINAL, SYNTHESIS, Generators, load_generators
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import read_pairs
from dancegen.transfer.compositing import despill_green


def load_model(path: str | Path, device: torch.device) -> tuple[Generators, int, dict]:
    """The trained generators of ``path`` (eval mode, on ``device``, channels-last), the resolution
    they were trained at and their meta: the model file alone says everything inference needs."""
    generators, resolution, meta = load_generators(path, map_location=device)
    # Channels-last convolutions run about a third faster on CPU too (and use tensor cores on CUDA).
    return generators.to(memory_format=torch.channels_last), resolution, meta


# --------------------------------------------------------------------------- inputs and outputs


@dataclass
class Generated:
    """One batch of generator outputs, ``(B, R, R, 3) uint8 RGB`` images and ``(B, R, R)`` mattes."""

    final: np.ndarray               # I_out
    synthesis: np.ndarray | None    # Ĩ_out on green (two-stage variants), else None
    matte: np.ndarray               # float32 in [0, 1]: the generated person (the variant's matte)

    @property
    def person(self) -> np.ndarray:
        """The image the matte cuts the person out of: Ĩ_out without green spill, or I_out where the
        variant has no Ĩ_out."""
        return self.final if self.synthesis is None else despill_green(self.synthesis)

def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 and t.is_floating_point() else t


@torch.no_grad()
def generate(generators: Generators, samples: list[dict[str, torch.Tensor]], device: torch.device) -> Generated:
    """Run the generators on a list of :meth:`InputBuilder.sample` items as one batch (in bfloat16
    on a CPU that computes it natively: :func:`dancegen.core.images.inference_autocast`)."""
    batch = {k: _channels_last(torch.stack([s[k] for s in samples]).to(device)) for k in samples[0]}
    dtype = inference_autocast(device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        outputs = generators(batch)
    outputs = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in outputs.items()}
    synthesis = to_uint8(outputs[SYNTHESIS]) if SYNTHESIS in outputs else None
    matte = generators.matte(outputs, batch)[:, 0].float().cpu().numpy()
    return Generated(to_uint8(outputs[FINAL]), synthesis, matte)


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
    """Appendable ``(N, R, R, 3) uint8`` datasets of one open HDF5 file, one image per chunk."""

    def __init__(self, file: h5py.File, resolution: int):
        self.file, self.resolution = file, resolution

    def create(self, name: str) -> None:
        shape = (self.resolution, self.resolution, 3)
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
                batch_size: int) -> dict:
    """Synthesize the test pairs and the consecutive test run of one personal video (infer file,
    module docstring). Returns counts: ``pairs``, ``run_frames``."""
    device = compute_device()
    generators, resolution, meta = load_model(model_file, device)
    pairs, run = read_test_pairs(video.paths.pairs, video), video.test_frames
    if not len(run):
        raise DanceGenError(video.paths.split, "has no valid frame in the test split")
    jobs = {"pairs": [(int(a), int(b)) for a, b in pairs], "run": [(int(run[0]), int(t)) for t in run]}
    builder, K = video.builder(resolution, spec), spec.posemap.K
    fg = generators.variant.synthesis
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        out = _ImageDatasets(f, resolution)
        f.create_dataset("pairs_index", data=pairs)
        f.create_dataset("run_frames", data=run)
        for name, jobs_of in jobs.items():
            out.create(f"{name}_out")
            if fg:
                out.create(f"{name}_fg")
            for chunk in tqdm(list(batched(jobs_of, batch_size)), desc=f"infer {name}", unit="batch"):
                result = generate(generators, [builder.sample(t_in, video.history(t_ref, K)) for t_in, t_ref in chunk],
                                  device)
                out.append(f"{name}_out", result.final)
                if fg:
                    out.append(f"{name}_fg", result.synthesis)
        f.attrs.update(video=video.name, variant=generators.config.variant, resolution=resolution,
                       K=K, run_input_frame=int(run[0]), model=str(model_file), model_meta=json.dumps(meta))
    return {"pairs": len(pairs), "run_frames": len(run)}
