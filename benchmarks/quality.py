"""Quality per CPU-second on the real clips: every variant and the trivial baselines, over seeds.

For each clip of ../shared/data (or --clips), the preprocessing stages run once in a scratch
workspace (``--work``, default /tmp/dancegen-quality/<clip>): extract, detect, background, pairs,
train_sp, each through its real stage script with a params.yaml that lists the clip as the one
personal video (params.yaml's settings otherwise, plus the ``--set`` overrides). Then for every
variant × seed, train → infer → evaluate run in a run folder beside it that links the
preprocessed data, and one row per (clip, variant or baseline, seed, tag) is appended to --out:
whole / foreground / background-region SSIM and PSNR, training seconds (wall, and CPU of the
process) and steps. Baselines are scored once per clip (they do not depend on the seed).

    .venv/bin/python benchmarks/quality.py --variants ours pix2pixhd --seeds 0 1 2 \\
        --set loss.w_l1=10 --tag l1 --out benchmarks/results/quality.csv

``--rescore FROM_TAG --tag T`` runs infer → evaluate again, with this code, on the models that the
``FROM_TAG`` runs trained (a change to inference needs no retraining) and appends their rows as
tag T, with the training times of the ``FROM_TAG`` rows of --out.

``--summary CSV [--tag T] [--figure PNG]`` prints the mean ± sd table of a results file instead;
``--curve CSV --clips C --tags T1 T2 … [--figure PNG]`` quality against training CPU time (the
budget curve: the same variants run at other ``train.low_iters`` / ``high_iters``, one tag each).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CLIPS = {"woman": "unianimate_dance_woman.mp4", "basketball": "iper_basketball_dance_man.mp4",
         "fashion": "ubc_fashion_91bxAN6BjAS.mp4"}
PRE_STAGES = ("extract", "detect", "background", "pairs", "train_sp")
FIELDS = ("clip", "row", "tag", "seed", "whole_ssim", "whole_psnr", "fg_ssim", "fg_psnr", "bg_ssim", "bg_psnr",
          "train_wall_s", "train_cpu_s", "steps", "perceptual", "settings")


def set_key(params: dict, dotted: str, value: str) -> None:
    *path, key = dotted.split(".")
    node = params
    for part in path:
        node = node.setdefault(part, {})
    node[key] = yaml.safe_load(value)


def workspace_params(clip: str, variants: list[str], seed: int, overrides: list[str]) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = copy.deepcopy(params)
    params["videos"] = {clip: str(SHARED / CLIPS[clip])}
    params["personal"], params["reference"] = [clip], []
    params["train"]["variants"] = variants
    params["train"]["seed"] = seed
    for item in overrides:
        key, _, value = item.partition("=")
        set_key(params, key, value)
    return params


def run_stage(cwd: Path, *args: str) -> float:
    """Run ``stages/<args[0]>.py`` in ``cwd``; returns the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, str(REPO / "stages" / f"{args[0]}.py"), *args[1:]], cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed in {cwd}:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(clip: str, work: Path, overrides: list[str]) -> Path:
    base = work / clip / "base"
    if (base / "data" / "sp" / clip / "sp.pt").is_file():
        return base
    base.mkdir(parents=True, exist_ok=True)
    (base / "params.yaml").write_text(yaml.safe_dump(workspace_params(clip, ["ours"], 0, overrides)))
    for stage in PRE_STAGES:
        began = time.time()
        run_stage(base, stage, clip)
        print(f"[{clip}] {stage}: {time.time() - began:.0f} s", flush=True)
    return base


def one_run(clip: str, base: Path, variant: str, seed: int, tag: str, overrides: list[str]) -> dict:
    run = base.parent / f"{tag}-{variant}-s{seed}"
    (run / "data").mkdir(parents=True, exist_ok=True)
    for kind in ("frames", "pose", "background", "pairs", "sp"):
        link = run / "data" / kind
        if not link.exists():
            link.symlink_to(base / "data" / kind)
    (run / "params.yaml").write_text(yaml.safe_dump(workspace_params(clip, [variant], seed, overrides)))
    began = time.time()
    cpu = run_stage(run, "train", clip, variant)
    wall = time.time() - began
    return {"metrics": scored(run, clip, variant),
            "train": json.loads((run / "reports" / "train" / clip / variant / "metrics.json").read_text()),
            "wall": wall, "cpu": cpu}


def scored(run: Path, clip: str, variant: str) -> dict:
    """infer → evaluate in the run folder → the evaluation's metrics.json (variant and baselines)."""
    run_stage(run, "infer", clip, variant)
    run_stage(run, "evaluate", clip)
    return json.loads((run / "reports" / "eval" / clip / "metrics.json").read_text())


def row(clip: str, name: str, tag: str, seed, scores: dict, **extra) -> dict:
    def get(group, key):
        value = scores[group][key]
        return "" if value is None else round(value, 4)

    return {"clip": clip, "row": name, "tag": tag, "seed": seed,
            "whole_ssim": get("whole", "ssim"), "whole_psnr": get("whole", "psnr"),
            "fg_ssim": get("foreground", "ssim"), "fg_psnr": get("foreground", "psnr"),
            "bg_ssim": get("background", "ssim"), "bg_psnr": get("background", "psnr"), **extra}


def result_rows(clip: str, variant: str, tag: str, seed: int, metrics: dict, baselines: bool, **extra) -> list[dict]:
    """The run's row, and with ``baselines`` the clip's trivial baselines scored with it."""
    rows = [row(clip, variant, tag, seed, metrics[variant], **extra)]
    if baselines:
        rows += [row(clip, name, baseline_tag(tag), "", metrics[name])
                 for name in ("input_frame", "background", "tangram")]
    return rows


def append(out: Path, rows: list[dict], fields: tuple[str, ...] = FIELDS) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.is_file()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)


ROW_ORDER = ("ours", "ours_baseline", "pix2pixhd", "posewarp", "tangram", "input_frame", "background")
VARIANT_ROWS = ROW_ORDER[:4]


def baseline_tag(tag: str) -> str:
    """The tag of the baseline rows scored by the code of the ``tag`` runs (a tangram can change)."""
    return f"baseline-{tag}"


def with_baselines(table, tag: str):
    """The ``tag`` rows and, per clip, the baselines scored with them (older files: the rows tagged
    ``baseline``, scored by the code of their time)."""
    import pandas as pd

    own = table[table["tag"] == tag]
    parts = [own]
    for clip in dict.fromkeys(own["clip"]):
        at_clip = table[table["clip"] == clip]
        scored = at_clip[at_clip["tag"] == baseline_tag(tag)]
        parts.append(scored if len(scored) else at_clip[at_clip["tag"] == "baseline"])
    return pd.concat(parts).drop_duplicates(["clip", "row", "tag", "seed"])


def summary(path: Path, tag: str, figure: Path | None) -> None:
    """Mean ± sd over seeds of the ``tag`` runs and the baselines, as a Markdown table (and a figure)."""
    import pandas as pd

    table = with_baselines(pd.read_csv(path), tag)
    scores = ["whole_ssim", "fg_ssim", "bg_ssim", "whole_psnr", "fg_psnr"]
    grouped = table.groupby(["clip", "row"])
    mean, sd, n = grouped[scores].mean(), grouped[scores].std().fillna(0.0), grouped.size()
    cpu = grouped["train_cpu_s"].mean()
    print("| clip | output | seeds | whole SSIM | fg SSIM | background-region SSIM | whole PSNR | fg PSNR | train CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip in dict.fromkeys(table["clip"]):
        for name in ROW_ORDER:
            if (clip, name) not in mean.index:
                continue
            cells = [f"{mean.loc[(clip, name), k]:.{4 if 'ssim' in k else 2}f} ± "
                     f"{sd.loc[(clip, name), k]:.{4 if 'ssim' in k else 2}f}" for k in scores]
            seconds = cpu.loc[(clip, name)]
            print(f"| {clip} | {name} | {n.loc[(clip, name)] if name in VARIANT_ROWS else '–'} | "
                  + " | ".join(cells) + f" | {'' if pd.isna(seconds) else f'{seconds:.0f}'} |")
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        clips = list(dict.fromkeys(table["clip"]))
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, key, title in zip(axes, ("whole_ssim", "fg_ssim", "bg_ssim"),
                                  ("whole-frame SSIM", "foreground SSIM", "background-region SSIM")):
            rows = [r for r in ROW_ORDER if any((c, r) in mean.index for c in clips)]
            width = 0.8 / len(rows)
            for i, name in enumerate(rows):
                xs = [j + i * width for j, c in enumerate(clips) if (c, name) in mean.index]
                ys = [mean.loc[(c, name), key] for c in clips if (c, name) in mean.index]
                es = [sd.loc[(c, name), key] for c in clips if (c, name) in mean.index]
                ax.bar(xs, ys, width, yerr=es, label=name, capsize=2)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(clips))], clips)
            ax.set_title(title, fontsize=9)
            ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(figure, dpi=100)


def curve(path: Path, clip: str, tags: list[str], figure: Path | None) -> None:
    """Quality against training CPU-seconds: for each variant, the mean ± sd over seeds of every
    ``tags`` run on ``clip`` (one point per tag), as a Markdown table (and a figure)."""
    import pandas as pd

    table = pd.read_csv(path)
    table = table[(table["clip"] == clip) & table["tag"].isin(tags) & table["train_cpu_s"].notna()]
    grouped = table.groupby(["row", "tag"])
    stats = grouped[["whole_ssim", "fg_ssim", "train_cpu_s", "steps"]].agg(["mean", "std"])
    print(f"| {clip}: output | steps | seeds | train CPU-min | whole SSIM | fg SSIM |")
    print("|---|---|---|---|---|---|")
    points = {}
    for name in VARIANT_ROWS:
        for tag in tags:
            if (name, tag) not in stats.index:
                continue
            st = stats.loc[(name, tag)]
            points.setdefault(name, []).append((st[("train_cpu_s", "mean")] / 60, st[("whole_ssim", "mean")],
                                                 st[("whole_ssim", "std")], st[("fg_ssim", "mean")],
                                                 st[("fg_ssim", "std")]))
            print(f"| {name} | {st[('steps', 'mean')]:.0f} | {grouped.size().loc[(name, tag)]} | "
                  f"{st[('train_cpu_s', 'mean')] / 60:.1f} | {st[('whole_ssim', 'mean')]:.3f} ± "
                  f"{np.nan_to_num(st[('whole_ssim', 'std')]):.3f} | {st[('fg_ssim', 'mean')]:.3f} ± "
                  f"{np.nan_to_num(st[('fg_ssim', 'std')]):.3f} |")
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        baselines = with_baselines(pd.read_csv(path), tags[0])
        baselines = baselines[(baselines["clip"] == clip) & ~baselines["tag"].isin(tags)]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, (col, sd_col, key, title) in zip(axes, ((1, 2, "whole_ssim", "whole-frame SSIM"),
                                                         (3, 4, "fg_ssim", "foreground SSIM"))):
            for name, pts in points.items():
                pts = sorted(pts)
                ax.errorbar([p[0] for p in pts], [p[col] for p in pts], yerr=[np.nan_to_num(p[sd_col]) for p in pts],
                            marker="o", capsize=2, label=name)
            for name in ("tangram", "input_frame"):
                values = baselines.loc[baselines["row"] == name, key]
                if len(values):
                    ax.axhline(values.iloc[0], ls="--", lw=0.8, color="grey" if name == "tangram" else "silver",
                               label=f"{name} (no training)")
            ax.set_xscale("log")
            ax.set_xlabel("training CPU-minutes (2 cores)")
            ax.set_title(f"{clip}: {title}", fontsize=9)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(figure, dpi=100)


def rescore(clips: list[str], variants: list[str], seeds: list[int], work: Path, source: str, tag: str,
            out: Path) -> None:
    """Infer and evaluate the ``source`` runs' models again as rows tagged ``tag`` (see the docstring)."""
    import pandas as pd

    trained = pd.read_csv(out, dtype={"settings": str}).fillna("")
    for clip in clips:
        baselines_done = False
        for seed in seeds:
            for variant in variants:
                run = work / clip / f"{source}-{variant}-s{seed}"
                if not (run / "data" / "models" / clip / variant / "model.pt").is_file():
                    print(f"[{clip}] {run.name}: no trained model, skipped", flush=True)
                    continue
                before = trained[(trained["clip"] == clip) & (trained["row"] == variant)
                                 & (trained["tag"] == source) & (trained["seed"] == seed)]
                if len(before) != 1:
                    raise SystemExit(f"{out}: {len(before)} rows of {clip} {variant} seed {seed} tagged {source}")
                metrics = scored(run, clip, variant)
                kept = before.iloc[0]
                append(out, result_rows(clip, variant, tag, seed, metrics, not baselines_done,
                                        **{k: kept[k] for k in ("train_wall_s", "train_cpu_s", "steps",
                                                                "perceptual", "settings")}))
                baselines_done = True
                m = metrics[variant]
                print(f"[{clip}] {tag} (models of {source}) {variant} seed {seed}: whole SSIM "
                      f"{m['whole']['ssim']:.4f}, fg {m['foreground']['ssim']:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANT_ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", default="default")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dancegen-quality"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "quality.csv")
    parser.add_argument("--summary", type=Path, help="print the mean ± sd table of this results file")
    parser.add_argument("--figure", type=Path, help="with --summary or --curve: also draw it")
    parser.add_argument("--curve", type=Path, help="print quality against training CPU time of this results file "
                        "for --clips (the first) over --tags")
    parser.add_argument("--tags", nargs="+", default=[], help="with --curve: the runs, one point each")
    parser.add_argument("--rescore", metavar="FROM_TAG", help="infer and evaluate the models of the FROM_TAG "
                        "runs again with this code, as rows tagged --tag")
    args = parser.parse_args()
    if args.summary:
        return summary(args.summary, args.tag, args.figure)
    if args.curve:
        return curve(args.curve, args.clips[0], args.tags, args.figure)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.rescore:
        return rescore(args.clips, args.variants, args.seeds, args.work, args.rescore, args.tag, args.out)
    for clip in args.clips:
        base = prepare(clip, args.work, [o for o in args.overrides if o.split("=")[0].split(".")[0]
                                         in ("extract", "pose", "background", "pairs", "train_sp")])
        baselines_done = False
        for seed in args.seeds:
            for variant in args.variants:
                result = one_run(clip, base, variant, seed, args.tag, args.overrides)
                append(args.out, result_rows(clip, variant, args.tag, seed, result["metrics"], not baselines_done,
                                             train_wall_s=round(result["wall"], 1),
                                             train_cpu_s=round(result["cpu"], 1),
                                             steps=result["train"].get("steps"),
                                             perceptual=result["train"].get("perceptual"),
                                             settings=" ".join(args.overrides)))
                baselines_done = True
                m = result["metrics"][variant]
                print(f"[{clip}] {args.tag} {variant} seed {seed}: whole SSIM {m['whole']['ssim']:.3f}, "
                      f"fg {m['foreground']['ssim']:.3f}, bg {m['background']['ssim']:.3f} "
                      f"({result['wall']:.0f} s train)", flush=True)


if __name__ == "__main__":
    main()
