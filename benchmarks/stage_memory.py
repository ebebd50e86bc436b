"""Peak memory of every stage at a render size, against the length of the personal video.

For each --loops count, the personal clip is played that many times over (ffmpeg ``-stream_loop``,
no re-encoding) and the reference clip's first ``--ref-frames × loops`` frames are transferred, in a
fresh copy of the repository whose params.yaml lists just those two videos, ``extract.size``
--size (the render size: ``infer.size`` 0 = the frames' size) and a short training schedule
(memory does not grow with steps). ``dvc repro`` runs every stage; each Python process writes its
peak resident memory (``getrusage`` ``ru_maxrss``) when it exits, through a ``sitecustomize`` put
on ``PYTHONPATH``. One table row per stage: the peak of its main process, of its worker processes
(detect, judge), and its seconds.
Streaming stages stay flat as the video grows; a stage that holds the whole video grows with it.

    .venv/bin/python benchmarks/stage_memory.py --size 512 --loops 1 4
    .venv/bin/python benchmarks/stage_memory.py --summary benchmarks/results/stage_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (the shared clips)

HOOK = '''import atexit, os, resource, sys, time
_start = time.time()
def _peak():
    mib = lambda who: resource.getrusage(who).ru_maxrss / 1024      # KiB on Linux
    line = {"argv": sys.argv, "self_mib": mib(resource.RUSAGE_SELF), "seconds": time.time() - _start}
    with open(os.environ["DANCEGEN_MEMLOG"], "a") as log:
        log.write(__import__("json").dumps(line) + "\\n")
atexit.register(_peak)
'''
SHORT = {"train_sp": {"iters": 20}, "train": {"variants": ["ours"], "low_iters": 4, "high_iters": 2,
                                               "checkpoint_every": 100, "log_every": 1, "sample_every": 100}}


def looped(clip: Path, loops: int, out: Path) -> Path:
    """``clip`` played ``loops`` times in a row, as ``out`` (the stream copied, not re-encoded)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(clip),
                    "-c", "copy", str(out)], check=True)
    return out


def workspace(work: Path, args, loops: int) -> Path:
    """A git repository holding this checkout's tracked files and the params of one measurement."""
    root = work / f"loops{loops}"
    shutil.rmtree(root, ignore_errors=True)
    files = subprocess.run(["git", "ls-files"], cwd=quality.REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        wanted = not rel.startswith(("data/", "reports/", "dvc.lock")) or rel.startswith("reports/ratings/")
        if wanted and (quality.REPO / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(quality.REPO / rel, root / rel)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    personal = looped(quality.SHARED / quality.CLIPS[args.personal], loops, raw / f"{args.personal}.mp4")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["videos"] = {"personal": str(personal.relative_to(root)),
                        "reference": str((quality.SHARED / quality.CLIPS[args.reference]).resolve())}
    params.update(personal=["personal"], reference=["reference"])
    params["extract"]["size"] = args.size
    params["infer"].update(size=0, max_frames=args.ref_frames * loops)
    for section, values in SHORT.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "memory"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


def stage_of(argv: list[str]) -> str | None:
    """``stages/train.py personal ours`` → ``train personal ours``; None for anything but a stage's
    processes (a spawned worker carries its stage's argv)."""
    at = next((i for i, a in enumerate(argv) if a.startswith("stages/")), None)
    return None if at is None else " ".join([Path(argv[at]).stem, *argv[at + 1:]])


def stage_row(records: list[dict]) -> dict:
    """A stage's processes → its main process's peak and seconds (the one that ran longest) and its
    workers' (a spawned detector or judge process carries the stage's argv). A child's own peak is
    not separable from the parent pages it shares after a fork, so ffmpeg is not counted here
    (``extract_memory.py`` measures it: under 90 MiB)."""
    main = max(records, key=lambda r: r["seconds"])
    workers = [r["self_mib"] for r in records if r is not main]
    return {"main_mib": round(main["self_mib"]), "workers": len(workers),
            "worker_mib": round(max(workers, default=0)), "seconds": round(main["seconds"], 1)}


def measure(work: Path, args, loops: int) -> dict:
    root = workspace(work, args, loops)
    hook, log = work / "hook", root / "memory.jsonl"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", DANCEGEN_MEMLOG=str(log),
               PYTHONPATH=os.pathsep.join([str(hook), str(quality.REPO / "lib")]))
    began = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro"], cwd=root, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"dvc repro failed in {root}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    processes: dict[str, list[dict]] = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        name = stage_of(rec["argv"])
        if name is not None and name != "demo":
            processes.setdefault(name, []).append(rec)
    stages = {name: stage_row(recs) for name, recs in processes.items()}
    with h5py.File(root / "data" / "frames" / "personal.h5", "r") as frames:
        count = len(frames["frames"])
    return {"loops": loops, "frames": count, "size": args.size, "repro_seconds": round(time.perf_counter() - began),
            "frames_file_mib": round((root / "data" / "frames" / "personal.h5").stat().st_size / 2**20, 1),
            "disk_mib": disk_mib(root / "data", root / ".dvc" / "cache"), "stages": stages}


def disk_mib(*folders: Path) -> float:
    """What the folders take on disk together (``du``: a file hard-linked into two of them counts once)."""
    done = subprocess.run(["du", "-scm", *map(str, folders)], capture_output=True, text=True, check=True)
    return float(done.stdout.splitlines()[-1].split()[0])


def summary(runs: list[dict]) -> None:
    names = list(dict.fromkeys(n for run in runs for n in run["stages"]))
    print("| stage | " + " | ".join(f"{r['frames']} frames: MiB (+ workers), s" for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for name in names:
        cells = []
        for run in runs:
            s = run["stages"].get(name)
            if s is None:
                cells.append("—")
                continue
            workers = f" (+ {s['workers']} × {s['worker_mib']})" if s["workers"] else ""
            cells.append(f"{s['main_mib']}{workers}, {s['seconds']:.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for run in runs:
        print(f"{run['frames']} frames at {run['size']}²: frames file {run['frames_file_mib']} MiB, data/ and "
              f".dvc/cache {run['disk_mib']:.0f} MiB on disk, dvc repro {run['repro_seconds']} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--loops", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--personal", default="woman", choices=sorted(quality.CLIPS))
    parser.add_argument("--reference", default="basketball", choices=sorted(quality.CLIPS))
    parser.add_argument("--ref-frames", type=int, default=30, help="reference frames transferred per loop")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dancegen-memory"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stage_memory.json"))
    parser.add_argument("--summary", type=Path, help="print the table of a results file instead")
    args = parser.parse_args()
    if args.summary:
        summary(json.loads(args.summary.read_text()))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [measure(args.work, args, loops) for loops in args.loops]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=1))
    summary(runs)


if __name__ == "__main__":
    main()
