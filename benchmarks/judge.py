"""Cross-identity transfer on the shared clips, judged (stage judge), with a sanity set of broken outputs.

The woman and fashion models (--variants at the default schedule, one per seed; Ours's are hd.py's,
in --hd-work, and a missing one is trained there) are driven by the basketball clip and by each other: transfer (``infer.size`` --size, the first
--frames reference frames) → judge. Beside Ours and the judge's baselines (nearest training frame,
tangram), two outputs that are broken on purpose, judged against the same driving poses:
``frozen`` (Ours's first frame held) and ``late`` (Ours's frames shown --late frames late). A proxy
that cannot tell them from Ours is not worth reporting. One row per (personal, reference, seed,
output) is appended to --out.

    .venv/bin/python benchmarks/judge.py --seeds 0 1 2
    .venv/bin/python benchmarks/judge.py --variants pix2pixhd --no-baselines   # another variant's rows
    .venv/bin/python benchmarks/judge.py --set sources.mode=per_part --tag per_part   # another setting's
                        # models (trained in hd-<tag>-… folders); its outputs are named "<output>@<tag>"
    .venv/bin/python benchmarks/judge.py --summary benchmarks/results/judge.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (the clips, the stage runner, the CSV appender)

PAIRS = (("woman", "basketball"), ("woman", "fashion"), ("fashion", "basketball"), ("fashion", "woman"))
FIELDS = ("personal", "reference", "seed", "output", "pck05", "pck10", "limb_deg", "complete_body", "hands_found",
          "face_found", "face_sharpness", "background_change", "flicker", "warp_error", "identity", "colour_de",
          "q5_rank", "ref_flicker", "ref_warp_error")


def workspace(work: Path, hd_work: Path, personal: str, reference: str, seed: int, args) -> Path:
    """A run folder holding the personal clip's preprocessing and seed's model (links into hd.py's
    workspaces) and the reference's frames and poses."""
    run = work / f"{personal}-{reference}{args.suffix}-s{seed}"
    base = hd_work / personal / "base" / "data"
    for kind in ("pairs", "background", "sp"):
        link = run / "data" / kind
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(base / kind)
    for variant in args.variants:
        model = run / "data" / "models" / personal / variant
        model.parent.mkdir(parents=True, exist_ok=True)
        if not model.exists():
            model.symlink_to(trained(hd_work, personal, variant, seed, args) / "data" / "models" / personal / variant)
    for kind, ext in (("frames", "h5"), ("pose", "h5")):
        (run / "data" / kind).mkdir(parents=True, exist_ok=True)
        for clip in (personal, reference):
            link = run / "data" / kind / f"{clip}.{ext}"
            if not link.exists():
                link.symlink_to(hd_work / clip / "base" / "data" / kind / f"{clip}.{ext}")
    params = quality.workspace_params(personal, list(args.variants), seed, args.settings)
    params["videos"][reference] = str(quality.SHARED / quality.CLIPS[reference])
    params["reference"] = [reference]
    params["infer"].update(size=args.size, max_frames=args.frames,
                           background_image=str(base / "background" / personal / "background.png"))
    (run / "params.yaml").write_text(yaml.safe_dump(params))
    return run


def trained(hd_work: Path, clip: str, variant: str, seed: int, args) -> Path:
    """The run folder of ``variant``'s model of ``clip`` at ``seed`` in hd.py's workspaces, trained
    at the default schedule first where it is missing."""
    run = hd_work / clip / f"hd{args.suffix}-{variant}-s{seed}"
    if not (run / "data" / "models" / clip / variant / "model.pt").is_file():
        (run / "data").mkdir(parents=True, exist_ok=True)
        for kind in ("frames", "pose", "background", "pairs", "sp"):
            if not (run / "data" / kind).exists():
                (run / "data" / kind).symlink_to(hd_work / clip / "base" / "data" / kind)
        params = quality.workspace_params(clip, [variant], seed, args.settings)
        (run / "params.yaml").write_text(yaml.safe_dump(params))
        print(f"[{clip}] training {variant} seed {seed}: {quality.run_stage(run, 'train', clip, variant):.0f} CPU s",
              flush=True)
    return run


def broken(run: Path, personal: str, reference: str, late: int) -> dict:
    """The sanity set judged in ``run``: Ours's first frame held, and Ours's frames ``late`` frames late
    (Ours must be among the variants)."""
    from dancegen.core.config import load_params
    from dancegen.core.layout import VideoPaths, transfer_dir
    from dancegen.evaluate.judge import JudgeSetup, Target, judge_frames, result_frames
    from dancegen.model.personal import PersonalVideo
    from dancegen.transfer.transfer import Driving

    params = load_params(run / "params.yaml")
    folder = transfer_dir(personal, "ours", reference, run / "data")
    driving = Driving.read(folder / "driving.h5")
    frames = list(result_frames(folder / "result.mp4", params.infer.size))[:len(driving.poses)]
    setup = JudgeSetup(params.infer.size, params.inputs, params.pose, params.evaluate.judge_stride)
    with PersonalVideo(VideoPaths.of(personal, run / "data")) as video:
        return {"frozen": judge_frames([frames[0]] * len(frames), Target(video, driving, setup)),
                "late": judge_frames(frames[:-late], Target(video, Driving(driving.poses[late:], driving.inputs[late:]),
                                                            setup))}


def rows(doc: dict, extra: dict, key: tuple, suffix: str = "") -> list[dict]:
    """The judge's rows of every output (named ``<output><suffix>``), with their Q5 rank among them."""
    from dancegen.evaluate.judge import overall_ranks

    outputs = {**doc["outputs"], **extra}
    ranks = overall_ranks(outputs)
    out = []
    for name, o in outputs.items():
        f = o["fidelity"]
        out.append(dict(zip(FIELDS, (*key, name + suffix, f["pck@0.05"], f["pck@0.1"], f["limb_angle_deg"], f["complete_body"],
                                     f["hands_found"], o["face"]["found"], o["face"]["sharpness_ratio"],
                                     o["separation"]["background_change"], o["temporal"]["flicker"],
                                     o["temporal"]["warp_error"], o["identity"]["feature_distance"],
                                     o["identity"]["part_colour_delta_e"], ranks[name]["Q5"],
                                     doc["reference"]["flicker"], doc["reference"]["warp_error"]))))
    return out


def summary(path: Path) -> None:
    import pandas as pd

    table = pd.read_csv(path)
    keys = ["pck10", "limb_deg", "complete_body", "face_found", "background_change", "flicker", "warp_error",
            "identity", "q5_rank"]
    grouped = table.groupby(["personal", "reference", "output"], sort=False)
    mean, sd, n = grouped[keys].mean(), grouped[keys].std().fillna(0.0), grouped.size()
    print("| personal ← reference | output | seeds | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for idx in mean.index:
        cells = [f"{mean.loc[idx, k]:.4g} ± {sd.loc[idx, k]:.2g}" for k in keys]
        print(f"| {idx[0]} ← {idx[1]} | {idx[2]} | {n.loc[idx]} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["ours", "pix2pixhd"],
                        help="variants to transfer and judge (trained in --hd-work where missing)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave out the baselines' and the broken copies' rows (already in --out)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--late", type=int, default=15)
    parser.add_argument("--extract-size", type=int, default=512)
    parser.add_argument("--hd-work", type=Path, default=Path("/tmp/dancegen-hd"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dancegen-judge"))
    parser.add_argument("--out", type=Path, default=quality.REPO / "benchmarks" / "results" / "judge.csv")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="params.yaml settings of the models and transfers")
    parser.add_argument("--tag", default="", help="names the --set runs: folders and outputs")
    parser.add_argument("--summary", type=Path)
    args = parser.parse_args()
    args.settings = [f"extract.size={args.extract_size}", *args.overrides]
    args.suffix = f"-{args.tag}" if args.tag else ""
    if args.summary:
        return summary(args.summary)
    for seed in args.seeds:
        for personal, reference in PAIRS:
            run = workspace(args.work, args.hd_work, personal, reference, seed, args)
            for variant in args.variants:
                quality.run_stage(run, "transfer", personal, variant, reference)
                stats = json.loads((run / "data" / "transfer" / personal / variant / reference / "stats.json").read_text())
                print(f"[{personal} ← {reference} s{seed}] {variant}: I_in from {stats['distinct_input_frames']} frames, "
                      f"parts from {stats['distinct_source_frames']}, {stats['parts_not_from_input']:.0%} of parts "
                      "not from I_in", flush=True)
            quality.run_stage(run, "judge", personal, reference)
            doc = json.loads((run / "reports" / "judge" / personal / reference / "metrics.json").read_text())
            named = "@" + args.tag if args.tag else ""
            if args.no_baselines:
                found = [r for r in rows(doc, {}, (personal, reference, seed), named)
                         if r["output"] in [v + named for v in args.variants]]
            else:
                found = rows(doc, broken(run, personal, reference, args.late), (personal, reference, seed), named)
            quality.append(args.out, found, FIELDS)
            print(f"[{personal} ← {reference} s{seed}] " + ", ".join(
                f"{r['output']} PCK {r['pck10']:.3f} warp {r['warp_error']:.4f} rank {r['q5_rank']:.2f}"
                for r in found), flush=True)


if __name__ == "__main__":
    main()
