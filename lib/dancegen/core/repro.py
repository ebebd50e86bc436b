"""``dancegen repro``: ``dvc repro`` with the stages that do not depend on each other run side by side.

DVC runs one stage at a time (iterative/dvc#755). This pipeline's stages use a CPU's cores badly
alone: torch's small convolutions at batch 1 and the OpenVINO nets leave a second thread partly
idle. Two stages on one thread each finish 1.33× (two trainings) to 1.38× (infer and transfer of
two models) sooner than the same stages one after the other on two threads (benchmarks/README.md,
"`dancegen repro`").

Every stage still runs through DVC, as ``dvc --wait-for-lock repro --single-item <stage>``, once all
the stages it depends on have run: DVC checks it, runs it, caches its outputs and writes its
``dvc.lock`` entry under its repository lock, so ``dvc status`` afterwards is what ``dvc repro``
leaves. What differs is the order and each stage's threads (``OMP_NUM_THREADS``, which torch and the
OpenVINO engine follow): the cores divided by the jobs, for every stage, also one that happens to
run alone, so that a machine and a ``--jobs`` give the same outputs run after run. A net's sums
then run in another order than on all cores, so trained weights differ from a ``dvc repro`` run
as they do between CPUs: the demo's scores came out within the spread of its seeds
(benchmarks/README.md).

The stages to run are those ``dvc status`` finds changed and every stage downstream of them (DVC
skips a downstream stage whose dependencies came out unchanged). Each stage's output goes to
``.dvc/tmp/repro/<stage>.log``; the terminal gets a line as each starts and ends. A failed stage
stops new ones from starting, the running ones finish, and its log's last lines are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dancegen.core.errors import DanceGenError

DESCRIPTION = "dvc repro with the stages that do not depend on each other run side by side"
LOG_DIR = Path(".dvc") / "tmp" / "repro"
# Stages at once by default: one per core, and the pipeline rarely has more than 4 ready.
MAX_JOBS = 4
# Lines of a failed stage's log shown in the terminal.
FAILED_TAIL = 8
_EDGE = re.compile(r'^"(?P<up>[^"]+)" -> "(?P<down>[^"]+)";$')
_NODE = re.compile(r'^"(?P<name>[^"]+)";$')
# DVC as this interpreter's module: the venv's own, whatever PATH says.
_DVC = [sys.executable, "-m", "dvc"]


def _dvc(*args: str) -> str:
    """``dvc <args>``'s standard output; its error as one line where it fails."""
    done = subprocess.run([*_DVC, *args], capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["(no message)"]
        raise DanceGenError(Path.cwd(), f"'dvc {' '.join(args)}' failed: {lines[-1].strip()}")
    return done.stdout


def stage_graph() -> dict[str, list[str]]:
    """Every stage of the repository in DVC's order → the stages it depends on (``dvc dag --dot``)."""
    graph: dict[str, list[str]] = {}
    for line in _dvc("dag", "--dot").splitlines():
        line = line.strip()
        if node := _NODE.match(line):
            graph.setdefault(node["name"], [])
        elif edge := _EDGE.match(line):
            graph.setdefault(edge["down"], []).append(edge["up"])
    return graph


def changed_stages() -> set[str]:
    """The stages ``dvc status`` finds changed (dependencies, outputs, command or parameters)."""
    text = _dvc("status", "--json").strip()
    return set(json.loads(text)) if text else set()


def stages_to_run(graph: dict[str, list[str]], changed: set[str], targets: list[str]) -> list[str]:
    """The ``changed`` stages and every stage downstream of one, in ``graph``'s order; with
    ``targets`` (stage names, or a ``foreach``/``matrix`` group's name) only those and the stages they
    depend on."""
    downstream: dict[str, list[str]] = {name: [] for name in graph}
    for name, ups in graph.items():
        for up in ups:
            downstream[up].append(name)
    run = _closure(changed & graph.keys(), downstream)
    if targets:
        chosen = set()
        for target in targets:
            named = {name for name in graph if name == target or name.startswith(f"{target}@")}
            if not named:
                raise DanceGenError(Path("dvc.yaml"), f"has no stage {target!r}")
            chosen |= named
        run &= _closure(chosen, graph)
    return [name for name in graph if name in run]


def _closure(start: set[str], edges: dict[str, list[str]]) -> set[str]:
    """``start`` and everything reachable from it along ``edges``."""
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@dataclass
class _Running:
    stage: str
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)


def _log_path(stage: str) -> Path:
    return LOG_DIR / (re.sub(r"[^\w@.-]", "_", stage) + ".log")


def _start(stage: str, threads: int) -> _Running:
    """``dvc repro`` of ``stage`` alone, on ``threads`` threads (unless the user set OMP_NUM_THREADS)."""
    log = _log_path(stage)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    with open(log, "w") as out:
        process = subprocess.Popen([*_DVC, "--wait-for-lock", "repro", "--single-item", stage], stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
    print(f"[repro] {stage}: started on {env['OMP_NUM_THREADS']} thread(s), log {log}", flush=True)
    return _Running(stage, process, log)


def _finished(job: _Running) -> bool:
    """Report a stage that has ended (a failed one with its log's last lines); whether it succeeded."""
    seconds = time.monotonic() - job.started
    text = job.log.read_text(errors="replace")
    if job.process.returncode == 0:
        verdict = "up to date" if "didn't change, skipping" in text else f"done in {seconds:.0f} s"
        print(f"[repro] {job.stage}: {verdict}", flush=True)
        return True
    print(f"[repro] {job.stage}: failed (exit {job.process.returncode}) after {seconds:.0f} s; its log ends:",
          file=sys.stderr)
    for line in text.splitlines()[-FAILED_TAIL:]:
        print(f"    {line}", file=sys.stderr)
    return False


def run_stages(graph: dict[str, list[str]], stages: list[str], jobs: int, cores: int) -> list[str]:
    """Run ``stages`` (in ``graph``'s order), each once the ones it depends on among them have
    succeeded, at most ``jobs`` at once, each on ``cores // jobs`` threads. The stages that failed;
    after a failure no stage starts and the running ones finish."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    threads = max(1, cores // jobs)
    waiting, running, failed = list(stages), [], []
    while running or (waiting and not failed):
        busy = {job.stage for job in running}
        ready = [s for s in waiting if not any(up in waiting or up in busy for up in graph[s])]
        while ready and not failed and len(running) < jobs:
            stage = ready.pop(0)
            waiting.remove(stage)
            running.append(_start(stage, threads))
        time.sleep(0.2)
        for job in [j for j in running if j.process.poll() is not None]:
            running.remove(job)
            if not _finished(job):
                failed.append(job.stage)
    return failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", help="stages (or a foreach/matrix group) to bring up to date, "
                        "with the stages they depend on (default: every stage)")
    parser.add_argument("-j", "--jobs", type=int, default=0,
                        help=f"stages at once (default: one per core, at most {MAX_JOBS})")


def main(args: argparse.Namespace) -> None:
    """Bring the pipeline (or ``args.targets``) up to date, ``args.jobs`` stages at once."""
    if not Path("dvc.yaml").is_file():
        raise DanceGenError(Path.cwd() / "dvc.yaml", "not found: run dancegen repro in the project's folder")
    cores = len(os.sched_getaffinity(0))
    jobs = args.jobs if args.jobs > 0 else min(cores, MAX_JOBS)
    graph = stage_graph()
    stages = stages_to_run(graph, changed_stages(), args.targets)
    if not stages:
        print("[repro] every stage is up to date", flush=True)
        return
    print(f"[repro] {len(stages)} stage(s) to run, up to {jobs} at once on {cores} core(s)", flush=True)
    started = time.monotonic()
    failed = run_stages(graph, stages, jobs, cores)
    if failed:
        raise DanceGenError(_log_path(failed[0]), f"stage {failed[0]!r} failed (its output is in this file)")
    print(f"[repro] {len(stages)} stage(s) in {time.monotonic() - started:.0f} s", flush=True)
