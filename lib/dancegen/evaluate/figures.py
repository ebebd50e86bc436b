"""The figures of the report (Fig. 6, Fig. 10, training curves); rows in the paper's order
(:func:`dancegen.model.variants.ordered`), named by each variant's label.

Fig. 6 is drawn per personal video by the evaluate stage, from that video's files alone (so a
reference video that fails does not hold it up); the report stage draws the rest.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dancegen.evaluate.baselines import LABELS as BASELINE_LABELS  # noqa: E402
from dancegen.evaluate.baselines import baseline_image  # noqa: E402
from dancegen.core.config import InputSpec  # noqa: E402
from dancegen.core.errors import DanceGenError  # noqa: E402
from dancegen.core.images import resize_area  # noqa: E402
from dancegen.core.layout import infer_file, train_logs_dir  # noqa: E402
from dancegen.model.inputs import person_region  # noqa: E402
from dancegen.model.personal import PersonalVideo  # noqa: E402
from dancegen.model.variants import NAMES, ordered  # noqa: E402
from dancegen.model.variants import label as variant_label  # noqa: E402

N_FIG6_COLUMNS = 4


def _person_box(mask: np.ndarray, pad: float = 0.1) -> tuple[int, int, int, int]:
    """Square (x0, y0, x1, y1) around a boolean ``(R, R)`` mask's upper half (face and arms)."""
    ys, xs = np.nonzero(mask)
    size = mask.shape[0]
    if len(ys) == 0:
        return 0, 0, size, size
    y0, y1 = ys.min(), ys.min() + (ys.max() - ys.min()) // 2
    x0, x1 = xs.min(), xs.max()
    side = int(max(y1 - y0, x1 - x0) * (1 + 2 * pad)) + 2
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    ax = int(np.clip(cx - side // 2, 0, max(size - side, 0)))
    ay = int(np.clip(cy - side // 2, 0, max(size - side, 0)))
    return ax, ay, min(ax + side, size), min(ay + side, size)


def figure_test_results(video: PersonalVideo, data: Path, variants: list[str], spec: InputSpec,
                        out_png: Path) -> None:
    """Fig. 6 of one personal video: rows = the input frame and the tangram baseline, the variants
    (their infer files under ``data``, :func:`dancegen.core.layout.infer_file`), a zoom of Ours' face
    and arms, and the reference (ground truth); columns = test pairs. At the render size where the
    models were rendered larger than R (their ``pairs_hd``), else at R."""
    variants = ordered(variants)
    generated, index = {}, None
    for v in variants:
        path = infer_file(video.name, v, data)
        if not path.is_file():
            raise DanceGenError(path, "not found (run the infer stage first: dvc repro)")
        with h5py.File(path, "r") as f:
            n = len(f["pairs_index"])
            cols = np.linspace(0, n - 1, min(N_FIG6_COLUMNS, n)).astype(int)
            generated[v] = f["pairs_hd" if "pairs_hd" in f else "pairs_out"][np.unique(cols)]
            index = f["pairs_index"][np.unique(cols)]
    res = next(iter(generated.values())).shape[1]
    builder, pose = video.builder(res, spec), video.pose
    truth = [resize_area(video.frames[int(r)], res) for r in index[:, 1]]
    masks = [resize_area(person_region(pose.parsing(int(r)), pose.mask(int(r)), spec.mask_threshold)
                         .astype(np.float32), res) >= 0.5 for r in index[:, 1]]
    baseline_rows = [(BASELINE_LABELS[name], [
        baseline_image(name, builder, int(a), video.history(int(b), spec.posemap.K), int(b)) for a, b in index])
        for name in ("input_frame", "tangram")]
    zoom_variant = variants[-1]      # the paper's last row: Ours where it was trained
    rows = baseline_rows + [(variant_label(v), list(generated[v])) for v in variants]
    zooms = []
    for img, m in zip(generated[zoom_variant], masks):
        x0, y0, x1, y1 = _person_box(m)
        zooms.append(resize_area(np.ascontiguousarray(img[y0:y1, x0:x1]), res))
    rows.append((f"{variant_label(zoom_variant)} (zoom)", zooms))
    rows.append(("reference = ground truth", truth))
    ncol = len(truth)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.0 * ncol, 2.0 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.imshow(images[c])
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(f"{video.name}: test pairs (input frame, reference pose) → output", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, format="png")
    plt.close(fig)


def figure_novelty(novelty: pd.DataFrame, out_png: Path) -> None:
    """Fig. 10: SSIM of each consecutive test frame against its pose novelty."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for v in ordered(set(novelty["variant"]) & set(NAMES)):
        sub = novelty[novelty["variant"] == v]
        ax.scatter(sub["novelty"], sub["ssim"], s=8, alpha=0.6, label=variant_label(v))
    ax.set_xlabel("pose distance to training poses (mean of 10 nearest, normalised)")
    ax.set_ylabel("SSIM")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, format="png")
    plt.close(fig)


def training_curves(reports: Path, video: str, variants: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """DVCLive step curves of each variant's training run (:func:`dancegen.core.layout.train_logs_dir`
    under ``reports``): variant -> metric name -> DataFrame(step, value)."""
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for v in ordered(variants):
        root = train_logs_dir(video, v, reports) / "plots" / "metrics"
        if not root.is_dir():
            raise DanceGenError(root, "not found (the train stage's DVCLive logs)")
        curves[v] = {}
        for tsv in sorted(root.rglob("*.tsv")):
            df = pd.read_csv(tsv, sep="\t")
            name = tsv.relative_to(root).with_suffix("").as_posix()
            value = [c for c in df.columns if c not in ("step", "timestamp")]
            if "step" in df.columns and value:
                curves[v][name] = df[["step", value[-1]]].rename(columns={value[-1]: "value"})
    return curves


def figure_training(video: str, curves: dict[str, dict[str, pd.DataFrame]], out_png: Path) -> None:
    names = sorted({n for per in curves.values() for n in per})
    if not names:
        raise DanceGenError(out_png, f"no training curves were logged for {video}")
    ncol = min(4, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for v, per in curves.items():
            if name in per:
                ax.plot(per[name]["step"], per[name]["value"], label=variant_label(v), lw=1)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90, format="png")
    plt.close(fig)
