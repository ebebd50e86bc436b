"""End to end: the whole pipeline on the demo at a tiny scale, in a temporary copy.

Runs every stage as `make demo` does (`dancegen repro`: demo → extract → detect → background →
pairs → train_sp → train → infer → transfer → evaluate → report) with real detection and real
(few-step) training, then checks the report, the re-run behaviour and which stages a params change
invalidates.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("ours", "ours_baseline", "pix2pixhd", "posewarp")     # params.yaml's train.variants

TINY = {
    "demo": {"personal_seconds": 3, "reference_seconds": 1.5, "size": 128},
    "extract": {"size": 128, "probe_frames": 4},
    "pose": {"workers": 1},         # detect's and judge's processes have their own tests
    "pairs": {"n_train": 16, "n_test": 6},
    "train_sp": {"resolution": 32, "iters": 6, "batch_size": 4},
    "model": {"ngf": 8, "ndf": 8, "n_blocks": 1, "n_local_blocks": 1, "n_downsample": 2},
    "train": {"low_res": 32, "high_res": 64, "low_iters": 3, "high_iters": 2, "batch_size": 2,
              "checkpoint_every": 2, "log_every": 1, "sample_every": 2},
}


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if not f.startswith(("data/", "reports/", "dvc.lock")) or f.startswith("reports/ratings/")]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    for rel in _tracked_files():
        if (REPO / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, root / rel)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "tiny"]):
        subprocess.run(cmd, cwd=root, check=True)
    return root


def test_whole_pipeline_on_tiny_demo(tiny_repo):
    # as `make demo` runs it: stages that do not depend on each other side by side (dancegen.core.repro)
    run = _run([str(Path(sys.executable).parent / "dancegen"), "repro"], tiny_repo)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "train@demo_personal-ours: done in" in run.stdout

    metrics = json.loads((tiny_repo / "reports" / "metrics.json").read_text())
    for variant in VARIANTS:
        scores = metrics["demo_personal"][variant]
        assert 0 < scores["whole"]["mse"] < 255 ** 2
        assert -1 <= scores["whole"]["ssim"] <= 1
        assert scores["config"]["resolution"] == 64
    readme = (tiny_repo / "reports" / "README.md").read_text()
    for heading in ("Table 1.", "Table 2.", "Table 3.", "figures/novelty.png", "figures/test_results_demo_personal.png",
                    "**At the render size 128²"):       # the nets at 64², the output at the frames' 128²
        assert heading in readme
    transfer = tiny_repo / "data" / "transfer" / "demo_personal" / "ours" / "demo_reference"
    for name in ("result.mp4", "side_by_side.mp4", "composite.mp4", "skeleton.mp4", "stills.png", "driving.h5"):
        assert (transfer / name).is_file()
    judged = json.loads((tiny_repo / "reports" / "judge" / "demo_personal" / "demo_reference" / "metrics.json").read_text())
    assert set(judged["outputs"]) == {*VARIANTS, "nearest_frame", "tangram"}

    # DVC itself finds every stage recorded
    again = _run([str(Path(sys.executable).parent / "dvc"), "repro"], tiny_repo)
    assert again.returncode == 0 and "Running stage" not in again.stdout

    # the headline is what `dvc metrics show` prints, as an output × score table that fits a terminal
    shown = _run([str(Path(sys.executable).parent / "dvc"), "metrics", "show"], tiny_repo)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["Path", "bg_ssim", "fg_psnr", "fg_ssim", "hd_sharp", "hd_ssim", "psnr", "ssim",
                                "tr_pck", "tr_warp"], lines[0]
    assert {line.split()[0] for line in lines[1:]} == {
        f"reports/summary/{name}.json"
        for name in (*VARIANTS, "input_frame", "background", "tangram", "nearest_frame")}
    assert max(map(len, lines)) <= 130         # a laptop terminal
    assert (tiny_repo / "reports" / "index.html").is_file()
    # an output is a hard link to its copy in DVC's cache (.dvc/config), not a second copy
    frames = tiny_repo / "data" / "frames" / "demo_personal.h5"
    digest = hashlib.md5(frames.read_bytes()).hexdigest()
    cached = tiny_repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    assert frames.stat().st_nlink == 2 and os.path.samefile(frames, cached)
    # resume checkpoints are kept but never cached
    checkpoint = tiny_repo / "data" / "checkpoints" / "demo_personal" / "ours" / "checkpoint.pt"
    digest = hashlib.md5(checkpoint.read_bytes()).hexdigest()
    assert not (tiny_repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]).exists()

    # a loss weight invalidates training (and so what follows it), nothing before it
    params = yaml.safe_load((tiny_repo / "params.yaml").read_text())
    params["loss"]["w_fm"] = 5.0
    (tiny_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _run([str(Path(sys.executable).parent / "dvc"), "status", "--json"], tiny_repo)
    changed = set(json.loads(status.stdout))
    assert changed == {f"train@demo_personal-{v}" for v in VARIANTS}, changed

    # A reference video without anyone in it fails detect; with --keep-going, everything that does
    # not read it stands: the personal video's evaluation is neither re-run nor removed.
    from dancegen.preprocess.video import VideoWriter

    params["loss"]["w_fm"] = 10.0
    params["videos"]["empty_ref"] = "data/raw/empty.mp4"
    params["reference"].append("empty_ref")
    (tiny_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with VideoWriter(tiny_repo / "data" / "raw" / "empty.mp4", 30) as w:
        for _ in range(20):
            w.write(np.full((128, 128, 3), 120, np.uint8))
    evaluation = tiny_repo / "reports" / "eval" / "demo_personal" / "metrics.json"
    before = evaluation.read_text()
    status = set(json.loads(_run([str(Path(sys.executable).parent / "dvc"), "status", "--json"], tiny_repo).stdout))
    assert not any(s.startswith(("evaluate", "train", "infer")) for s in status), status
    failed = _run([str(Path(sys.executable).parent / "dvc"), "repro", "--keep-going"], tiny_repo)
    assert failed.returncode != 0
    assert "empty_ref" in failed.stdout + failed.stderr
    assert "Running stage 'evaluate@demo_personal'" not in failed.stdout and evaluation.read_text() == before

    # an experiment with more steps continues training from the checkpoints (only the training
    # stages are run: what follows them is the first repro's code path again)
    longer = _run([str(Path(sys.executable).parent / "dvc"), "exp", "run", "-S", "train.high_iters=3", "train"],
                  tiny_repo)
    assert longer.returncode == 0, longer.stdout[-3000:] + longer.stderr[-3000:]
    log = longer.stdout + longer.stderr
    for variant in VARIANTS:
        assert f"extending {variant} from 5 to 6 steps: continuing from the checkpoint at phase high, step 2" in log
    assert json.loads((tiny_repo / "reports" / "train" / "demo_personal" / "ours" / "metrics.json").read_text())[
        "steps"] == 6
