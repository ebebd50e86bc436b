"""HD rendering on the real clips: the nets at R, the output at the render size H, against R's
output upsampled and the trivial baselines at H — and what rendering at H costs per frame.

For each clip of ../shared/data (or --clips), the preprocessing runs once at ``extract.size`` 512
(``--work``, through quality.py's workspaces), then for every seed Ours trains at the default
schedule (R = ``train.high_res``) and infer → evaluate score the test pairs at each ``--sizes`` H
(``infer.size``). One row per (clip, seed, H, output) is appended to --out: whole / foreground
SSIM and PSNR, the perceptual distance and the sharpness ratio at H (:mod:`dancegen.evaluate.hd`).
``--speed`` times the renderer instead (ms per frame, batch 8, the sizes interleaved, medians).

    .venv/bin/python benchmarks/hd.py --seeds 0 1 2 --out benchmarks/results/hd.csv
    .venv/bin/python benchmarks/hd.py --summary benchmarks/results/hd.csv
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (the workspaces and stage runner of the quality benchmark)

FIELDS = ("clip", "seed", "size", "output", "whole_ssim", "whole_psnr", "fg_ssim", "fg_psnr", "perceptual",
          "sharpness", "train_cpu_s")
OUTPUTS = {"ours": ("ours", "hd"), "ours@R": ("ours", "hd_upsampled"), "tangram": ("tangram", "hd"),
           "input_frame": ("input_frame", "hd")}


def cpu_name() -> str:
    """The CPU and whether it has AVX-512 / bf16 (printed with every timing)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")),
                 platform.processor())
    return f"{model}, AVX-512 {'yes' if 'avx512f' in flags else 'no'}, bf16 {'yes' if 'avx512_bf16' in flags else 'no'}"


def rows_at(run: Path, clip: str, seed: int, size: int, cpu: float) -> list[dict]:
    """infer → evaluate of the run's model at render size ``size`` → the HD rows."""
    params = yaml.safe_load((run / "params.yaml").read_text())
    params["infer"]["size"] = size
    (run / "params.yaml").write_text(yaml.safe_dump(params))
    return hd_rows(quality.scored(run, clip, "ours"), clip, seed, cpu)


def hd_rows(metrics: dict, clip: str, seed: int, cpu: float) -> list[dict]:
    """The rows of OUTPUTS from an evaluation's metrics."""
    out = []
    for name, (key, group) in OUTPUTS.items():
        hd = metrics[key][group]
        out.append({"clip": clip, "seed": seed, "size": hd["size"], "output": name,
                    "whole_ssim": hd["whole"]["ssim"], "whole_psnr": hd["whole"]["psnr"],
                    "fg_ssim": hd["foreground"]["ssim"], "fg_psnr": hd["foreground"]["psnr"],
                    "perceptual": hd["perceptual"], "sharpness": hd["sharpness"], "train_cpu_s": cpu})
    return out


def speed(run: Path, clip: str, sizes: list[int], repeats: int) -> None:
    """ms per frame of the renderer at R and at each size (batch 8, interleaved, medians)."""
    import torch

    from dancegen.core.config import load_params
    from dancegen.core.layout import VideoPaths, model_path
    from dancegen.model.personal import PersonalVideo
    from dancegen.transfer.infer import open_renderer

    params = load_params(run / "params.yaml")
    paths = VideoPaths.of(clip, run / "data")
    with PersonalVideo(paths) as video:
        renderers = {size: open_renderer(model_path(clip, "ours", run / "data"), video, params.inputs, size,
                                         params.infer.engine)[0]
                     for size in [None, *sizes]}
        t_in, K = int(video.train_frames[0]), params.posemap.K
        jobs = [(t_in, video.history(int(t), K)) for t in video.test_frames[:8]]
        times = {size: [] for size in renderers}
        for _ in range(repeats):
            for size, renderer in renderers.items():
                began = time.perf_counter()
                renderer(jobs)
                times[size].append((time.perf_counter() - began) * 1000 / len(jobs))
    print(f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size, values in times.items():
        label = f"R = {renderers[size].builder.resolution}" if size is None else f"H = {size}"
        print(f"{label}: {np.median(values):.1f} ms per frame (median of {repeats}, batch {len(jobs)})")


def figure(run: Path, clip: str, out_png: Path, pair: int = 0) -> None:
    """One test pair at H: the truth, the R output upsampled and the HD render, each with a zoom on
    the upper body (face and hands) of the true person."""
    import cv2
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dancegen.core.images import resize_area
    from dancegen.core.store import FrameStore, PoseStore
    from dancegen.model.inputs import person_region

    with h5py.File(run / "data" / "infer" / clip / "ours.h5", "r") as f:
        hd, low, (_, t_ref) = f["pairs_hd"][pair], f["pairs_out"][pair], f["pairs_index"][pair]
    size = hd.shape[0]
    with FrameStore(run / "data" / "frames" / f"{clip}.h5") as frames, PoseStore(run / "data" / "pose" / f"{clip}.h5") as pose:
        truth = resize_area(frames[int(t_ref)], size)
        person = resize_area(person_region(pose.parsing(int(t_ref)), pose.mask(int(t_ref)), 0.5).astype(np.float32), size) > 0.5
    ys, xs = np.nonzero(person)
    y0, y1 = ys.min(), ys.min() + (ys.max() - ys.min()) // 2
    x0, x1 = xs.min(), xs.max()
    images = {"truth": truth, "R output upsampled": cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC),
              "HD render": hd}
    fig, axes = plt.subplots(2, 3, figsize=(9, 6.4))
    for c, (name, image) in enumerate(images.items()):
        axes[0, c].imshow(image)
        axes[0, c].set_title(f"{clip}: {name} ({size}²)", fontsize=8)
        axes[1, c].imshow(image[y0:y1, x0:x1])
        axes[1, c].set_title("upper body, zoomed", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


def summary(path: Path) -> None:
    import pandas as pd

    table = pd.read_csv(path)
    keys = ["whole_ssim", "fg_ssim", "perceptual", "sharpness", "whole_psnr"]
    grouped = table.groupby(["clip", "size", "output"], sort=False)
    mean, sd, n = grouped[keys].mean(), grouped[keys].std().fillna(0.0), grouped.size()
    print("| clip | H | output | seeds | whole SSIM | fg SSIM | perceptual | sharpness | whole PSNR |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (clip, size, output) in mean.index:
        cells = [f"{mean.loc[(clip, size, output), k]:.4f} ± {sd.loc[(clip, size, output), k]:.4f}" for k in keys]
        print(f"| {clip} | {size} | {output} | {n.loc[(clip, size, output)]} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=list(quality.CLIPS), choices=list(quality.CLIPS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--extract-size", type=int, default=512)
    parser.add_argument("--work", type=Path, default=Path("/tmp/dancegen-hd"))
    parser.add_argument("--out", type=Path, default=quality.REPO / "benchmarks" / "results" / "hd.csv")
    parser.add_argument("--summary", type=Path, help="print the mean ± sd table of this results file")
    parser.add_argument("--speed", action="store_true", help="time the renderer on the trained seed-0 models")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--figure", type=Path, help="draw a test pair of each clip's seed-0 run into this folder")
    args = parser.parse_args()
    if args.summary:
        return summary(args.summary)
    overrides = [f"extract.size={args.extract_size}"]
    for clip in args.clips:
        base = quality.prepare(clip, args.work, overrides)
        if args.speed:
            speed(base.parent / f"hd-ours-s{args.seeds[0]}", clip, args.sizes, args.repeats)
            continue
        if args.figure:
            figure(base.parent / f"hd-ours-s{args.seeds[0]}", clip, args.figure / f"hd_{clip}.png")
            continue
        for seed in args.seeds:
            result = quality.one_run(clip, base, "ours", seed, "hd", overrides + [f"infer.size={args.sizes[0]}"])
            run, cpu = base.parent / f"hd-ours-s{seed}", round(result["cpu"], 1)
            for i, size in enumerate(args.sizes):
                rows = hd_rows(result["metrics"], clip, seed, cpu) if i == 0 else rows_at(run, clip, seed, size, cpu)
                quality.append(args.out, rows, FIELDS)
                print(f"[{clip}] seed {seed} H {size}: " + ", ".join(
                    f"{r['output']} SSIM {r['whole_ssim']:.4f} fg {r['fg_ssim']:.4f} sharp {r['sharpness']:.2f}"
                    for r in rows), flush=True)


if __name__ == "__main__":
    main()
