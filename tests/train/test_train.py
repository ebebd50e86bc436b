"""The training loop on demo data with tiny networks: updates, overfitting, resume, NaN, DDP."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO_ROOT, batch_of, make_video

import dancegen.train.objective
import dancegen.train.loop
from dancegen.core.config import InputSpec, LossParams, ModelParams, TrainParams
from dancegen.core.errors import DanceGenError
from dancegen.model.generators import SYNTHESIS, GeneratorConfig, Generators, load_generators
from dancegen.model.nets.sp_encoder import SPNet, save_sp
from dancegen.train.objective import GeneratorObjective
from dancegen.train.loop import CHECKPOINT_NAME, Ranks, RunParams, Runtime, Trainer, phases, train_model

REPO = REPO_ROOT
TINY = ModelParams(ngf=8, n_downsample=3, n_blocks=1, n_local_blocks=1, ndf=8, n_layers_d=2,
                   num_d_low=1, num_d_high=2)
TRAIN = TrainParams(low_res=32, high_res=64, low_iters=4, high_iters=4, batch_size=2, workers=0, lr=2e-4,
                    ema_decay=0.0, checkpoint_every=2, log_every=1, sample_every=3, seed=0)
LOSS = LossParams(w_vgg=0.0, w_sp=0.0, w_l1=0.0)
POSE = InputSpec()
CPU = Runtime(torch.device("cpu"), None, Ranks())


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("data"), size=64, n_train=12, n_test=2)


def run_dirs(paths, root: Path):
    return dataclasses.replace(paths, model=root / "model.pt", checkpoints=root / "checkpoints",
                               logs=root / "logs")


def logged(paths, term: str) -> dict[int, float]:
    """Step → value of one logged term (DVCLive's tsv)."""
    rows = (paths.logs / "plots" / "metrics" / f"{term}.tsv").read_text().splitlines()[1:]
    return {int(step): float(value) for step, value in (r.split("\t") for r in rows)}


@pytest.mark.parametrize("compose, steps", [("paper", 1), ("blend", 2), ("flow", 2)])
def test_every_network_learns_from_the_first_steps(video, compose, steps):
    # A blending net's head starts at exactly 0, so its first step moves only the head: the trunk
    # behind it gets a gradient from the second step on.
    torch.manual_seed(0)
    gens = Generators(GeneratorConfig.from_params("ours", dataclasses.replace(TINY, compose=compose), K=3))
    trainer = Trainer(gens, (SYNTHESIS, "final"), phases(TRAIN, TINY)[0], RunParams(TINY, TRAIN, LOSS),
                      GeneratorObjective(LOSS, None, None), CPU)
    named = {**{f"G_{k}": v for k, v in gens.nets.items()},
             **{f"D_{k}": v for k, v in trainer.critics.nets.items()}}
    # The relativistic loss compares real and fake scores of the same D, so the prediction conv's
    # bias cancels out of it (and of GP): its gradient is zero by construction.
    blind = {f"scales.{i}.layers.{TINY.n_layers_d + 1}.bias" for i in range(TINY.num_d_low)}
    before = {net: {n: p.detach().clone() for n, p in m.named_parameters() if n not in blind}
              for net, m in named.items()}
    for _ in range(steps):
        values, _, _ = trainer.step(batch_of(video, 32))
        assert all(np.isfinite(v) for v in values.values())
    for net, module in named.items():
        params = dict(module.named_parameters())
        unchanged = [n for n, old in before[net].items() if torch.equal(old, params[n])]
        assert not unchanged, f"{net}: {unchanged}"


@pytest.mark.slow
def test_compiled_generators_train_as_the_eager_ones(video):
    # train.compile wraps the generators' forward in torch.compile (inductor, with gcc on a CPU);
    # the step's losses and the updated weights match the eager step's. Slow: compiling the tiny
    # generators' forward and backward takes over a minute on 2 cores.
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        gens = Generators(GeneratorConfig.from_params("ours", TINY, K=3))
        train = dataclasses.replace(TRAIN, compile=compiled)
        trainer = Trainer(gens, (SYNTHESIS, "final"), phases(train, TINY)[0], RunParams(TINY, train, LOSS),
                          GeneratorObjective(LOSS, None, None), CPU)
        assert isinstance(trainer.g_run, torch._dynamo.eval_frame.OptimizedModule) == compiled
        torch.manual_seed(1)
        values, _, _ = trainer.step(batch_of(video, 32))
        results.append((values, {n: p.detach().clone() for n, p in gens.named_parameters()}))
    (eager, eager_weights), (comp, comp_weights) = results
    assert eager.keys() == comp.keys()
    for term in eager:
        assert comp[term] == pytest.approx(eager[term], rel=1e-3, abs=1e-5), term
    for name, value in eager_weights.items():
        torch.testing.assert_close(comp_weights[name], value, rtol=1e-3, atol=1e-5)


def test_the_weight_average_is_an_exponential_moving_average_with_a_warm_up(video):
    torch.manual_seed(0)
    decay = 0.3
    gens = Generators(GeneratorConfig.from_params("ours", TINY, K=3))
    train = dataclasses.replace(TRAIN, ema_decay=decay)
    trainer = Trainer(gens, (SYNTHESIS, "final"), phases(train, TINY)[0], RunParams(TINY, train, LOSS),
                      GeneratorObjective(LOSS, None, None), CPU)
    expected = None
    for step in range(1, 5):
        trainer.step(batch_of(video, 32))
        now = {n: p.detach().clone() for n, p in gens.named_parameters()}
        # The first update copies the weights; after n averaged ones the decay is
        # min(decay, (1 + n) / (10 + n)): 2/11, 3/12, then the 0.3 asked for (4/13 > 0.3).
        d = min(decay, step / (9 + step))
        expected = now if expected is None else {n: d * expected[n] + (1 - d) * now[n] for n in now}
    average = dict(trainer.result.named_parameters())
    assert trainer.result is not gens
    for name, value in expected.items():
        torch.testing.assert_close(average[name], value, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(average[n], p) for n, p in gens.named_parameters())


def test_resume_with_the_weight_average_repeats_the_uninterrupted_run(video, tmp_path, monkeypatch):
    train = dataclasses.replace(TRAIN, ema_decay=0.9)
    whole = run_dirs(video, tmp_path / "whole")
    train_model(whole, "ours", TINY, train, LOSS, POSE)
    broken = run_dirs(video, tmp_path / "broken")
    kill_at(monkeypatch, 7)            # global step 7: the high phase resumes from its step-6 checkpoint
    with pytest.raises(Kill):
        train_model(broken, "ours", TINY, train, LOSS, POSE)
    monkeypatch.undo()
    train_model(broken, "ours", TINY, train, LOSS, POSE)
    a, _, meta = load_generators(whole.model)
    b, _, _ = load_generators(broken.model)
    assert meta["ema_decay"] == 0.9
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    last = torch.load(whole.checkpoints / CHECKPOINT_NAME, weights_only=False)["generators"]
    assert any(not torch.equal(x, last[n]) for n, x in a.state_dict().items())


def one_pair(paths, root: Path):
    pairs = root / "one_pair.csv"
    pairs.write_text("split,in_frame,ref_frame\ntrain,2,20\ntest,25,28\n")
    return dataclasses.replace(run_dirs(paths, root), pairs=pairs)


def test_overfitting_one_pair_lowers_the_reconstruction_error(video, tmp_path):
    # A higher learning rate than the paper's 2e-4, so a few dozen steps show the trend.
    paths = one_pair(video, tmp_path)
    train = dataclasses.replace(TRAIN, low_iters=80, high_iters=0, batch_size=1, checkpoint_every=80,
                                sample_every=80, lr=1e-3)
    # The paper's composition starts far from the target (blending starts at I_comb, near it).
    train_model(paths, "ours", dataclasses.replace(TINY, compose="paper"), train, LOSS, POSE)
    l1 = logged(paths, "final/l1")
    first, last = np.mean([l1[s] for s in range(1, 11)]), np.mean([l1[s] for s in range(71, 81)])
    assert last < 0.7 * first


@pytest.mark.slow
def test_overfitting_one_pair_for_long_reconstructs_it(video, tmp_path):
    # The paper's learning rate; 400 steps of a small model on one pair.
    paths = one_pair(video, tmp_path)
    model = dataclasses.replace(TINY, ngf=16, n_blocks=2, ndf=16, compose="paper")
    train = dataclasses.replace(TRAIN, low_iters=400, high_iters=0, batch_size=1, checkpoint_every=400,
                                sample_every=100)
    train_model(paths, "ours", model, train, LOSS, POSE)
    l1 = logged(paths, "final/l1")
    first, last = np.mean([l1[s] for s in range(1, 11)]), np.mean([l1[s] for s in range(391, 401)])
    assert last < 0.3 * first and last < 0.1      # measured: 0.375 -> 0.082 (mean |error| in [-1, 1])


class Kill(BaseException):
    pass


def kill_at(monkeypatch, step: int):
    """Make the ``step``-th call of Trainer.step (counted from now) die like a killed process."""
    real = Trainer.step
    calls = {"n": 0}

    def dying(self, batch, global_step=1):
        calls["n"] += 1
        if calls["n"] == step:
            raise Kill()
        return real(self, batch, global_step)

    monkeypatch.setattr(Trainer, "step", dying)


def test_resume_after_kill_repeats_the_uninterrupted_run(video, tmp_path, monkeypatch):
    whole = run_dirs(video, tmp_path / "whole")
    train_model(whole, "ours", TINY, TRAIN, LOSS, POSE)

    broken = run_dirs(video, tmp_path / "broken")
    kill_at(monkeypatch, 5)            # in global step 5, the first of the high phase
    with pytest.raises(Kill):
        train_model(broken, "ours", TINY, TRAIN, LOSS, POSE)
    assert torch.load(broken.checkpoints / CHECKPOINT_NAME, weights_only=False)["phase"] == 0
    kill_at(monkeypatch, 3)            # resumed at the low phase's end: dies in global step 7
    with pytest.raises(Kill):
        train_model(broken, "ours", TINY, TRAIN, LOSS, POSE)
    assert max(logged(broken, "g_total")) == 6
    monkeypatch.undo()
    train_model(broken, "ours", TINY, TRAIN, LOSS, POSE)

    for term in ("g_total", "d_total", "synthesis/gp", "final/fm", "final/l1"):
        assert logged(broken, term) == logged(whole, term), term
    a, _, _ = load_generators(whole.model)
    b, _, _ = load_generators(broken.model)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    samples = sorted(p.name for p in (broken.logs / "plots" / "images" / "samples").iterdir())
    assert samples == ["000003.png", "000004.png", "000006.png", "000008.png"]


def assert_same_models(a_path: Path, b_path: Path) -> None:
    a, _, _ = load_generators(a_path)
    b, _, _ = load_generators(b_path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("first, then", [((4, 4), (4, 7)),     # the high phase grows
                                         ((4, 0), (6, 3))])    # the low phase grows, a high phase follows
def test_raising_the_iteration_counts_continues_to_the_uninterrupted_result(video, tmp_path, caplog, first, then):
    def schedule(iters):
        return dataclasses.replace(TRAIN, low_iters=iters[0], high_iters=iters[1], ema_decay=0.9)

    whole = run_dirs(video, tmp_path / "whole")
    train_model(whole, "ours", TINY, schedule(then), LOSS, POSE)
    grown = run_dirs(video, tmp_path / "grown")
    train_model(grown, "ours", TINY, schedule(first), LOSS, POSE)
    with caplog.at_level("INFO", logger="dancegen.train.loop"):
        summary = train_model(grown, "ours", TINY, schedule(then), LOSS, POSE)
    line = f"extending ours from {sum(first)} to {sum(then)} steps: continuing from the checkpoint"
    assert any(line in r.message for r in caplog.records)
    assert summary["steps"] == sum(then)
    assert_same_models(whole.model, grown.model)
    for term in ("g_total", "d_total", "final/fm"):
        assert logged(grown, term) == logged(whole, term), term


@pytest.mark.parametrize("then", [(6, 4),     # the checkpoint is in the high phase: the low one cannot grow
                                  (4, 2)])    # fewer steps than the checkpoint took
def test_iteration_counts_that_would_undo_steps_start_afresh(video, tmp_path, caplog, then):
    paths = run_dirs(video, tmp_path)
    train_model(paths, "pix2pixhd", TINY, TRAIN, LOSS, POSE)
    shorter = dataclasses.replace(TRAIN, low_iters=then[0], high_iters=then[1])
    with caplog.at_level("INFO", logger="dancegen.train.loop"):
        again = train_model(paths, "pix2pixhd", TINY, shorter, LOSS, POSE)
    assert any("would undo steps: starting afresh" in r.message for r in caplog.records)
    assert again["seconds_per_step_low"] > 0
    assert sorted(logged(paths, "g_total")) == list(range(1, sum(then) + 1))


def test_changed_params_start_afresh(video, tmp_path):
    paths = run_dirs(video, tmp_path)
    train = dataclasses.replace(TRAIN, high_iters=0)
    train_model(paths, "pix2pixhd", TINY, train, LOSS, POSE)
    done = train_model(paths, "pix2pixhd", TINY, train, LOSS, POSE)
    assert "seconds_per_step_low" not in done           # same params: resumed at the end, no step ran
    again = train_model(paths, "pix2pixhd", TINY, train, dataclasses.replace(LOSS, w_fm=5.0), POSE)
    assert again["seconds_per_step_low"] > 0
    assert sorted(logged(paths, "g_total")) == [1, 2, 3, 4]


def assert_retrains_afresh(paths, model, train, caplog, message: str) -> None:
    """Training again logs ``message`` and really trains: every step anew, from step 1."""
    with caplog.at_level("INFO", logger="dancegen.train.loop"):
        again = train_model(paths, "pix2pixhd", model, train, LOSS, POSE)
    assert any(message in r.message for r in caplog.records)
    assert again["seconds_per_step_low"] > 0
    assert sorted(logged(paths, "g_total")) == [1, 2, 3, 4]


def test_changed_code_starts_afresh_and_trains_anew(video, tmp_path, monkeypatch, caplog):
    paths = run_dirs(video, tmp_path)
    train = dataclasses.replace(TRAIN, high_iters=0)
    train_model(paths, "pix2pixhd", TINY, train, LOSS, POSE)
    old, _, _ = load_generators(paths.model)
    # A changed loss term: new code, and the code hash of the training's sources with it.
    real = dancegen.train.objective.feature_matching_loss
    monkeypatch.setattr(dancegen.train.objective, "feature_matching_loss", lambda r, f: 3.0 * real(r, f))
    monkeypatch.setattr(dancegen.train.loop, "training_code", lambda: "changed-losses-py")
    assert_retrains_afresh(paths, TINY, train, caplog, "other params, data or code: starting afresh")
    new, _, _ = load_generators(paths.model)
    assert any(not torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))


def test_checkpoint_of_another_architecture_starts_afresh(video, tmp_path, monkeypatch, caplog):
    # Same fingerprint (as if the architecture had changed outside the hashed code), other tensors.
    monkeypatch.setattr(dancegen.train.loop, "fingerprint", lambda *args: "same")
    paths = run_dirs(video, tmp_path)
    train = dataclasses.replace(TRAIN, high_iters=0)
    train_model(paths, "pix2pixhd", TINY, train, LOSS, POSE)
    assert_retrains_afresh(paths, dataclasses.replace(TINY, ngf=12), train, caplog,
                           "does not fit the current networks")
    model, _, _ = load_generators(paths.model)
    assert model.config.ngf == 12


def test_nan_loss_stops_naming_step_and_term(video, tmp_path, monkeypatch):
    paths = run_dirs(video, tmp_path)
    real = dancegen.train.objective.feature_matching_loss
    calls = {"n": 0}

    def poisoned(real_outputs, fake_outputs):
        calls["n"] += 1
        loss = real(real_outputs, fake_outputs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(dancegen.train.objective, "feature_matching_loss", poisoned)
    with pytest.raises(DanceGenError, match=r"step 3 .*'final/fm' is nan"):
        train_model(paths, "pix2pixhd", TINY, TRAIN, LOSS, POSE)
    assert torch.load(paths.checkpoints / CHECKPOINT_NAME, weights_only=False)["step"] == 2
    assert not paths.model.exists()


def test_summary_records_which_perceptual_terms_ran(video, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))     # no VGG19 weights there
    paths = run_dirs(video, tmp_path)
    paths.sp.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_sp(paths.sp, SPNet(width=4), {"params": {"resolution": 32}})
    train = dataclasses.replace(TRAIN, low_iters=2, high_iters=0)
    train_model(paths, "ours", TINY, train, LossParams(w_vgg=10.0, w_sp=10.0, w_l1=0.0), POSE)
    metrics = json.loads((paths.logs / "metrics.json").read_text())
    assert metrics["vgg_used"] is False and metrics["sp_used"] is True
    assert metrics["final"]["sp"] > 0 and metrics["synthesis"]["sp"] > 0
    assert "vgg" not in metrics["final"]


def test_bad_schedule_is_a_params_error(video, tmp_path):
    with pytest.raises(DanceGenError, match="twice"):
        train_model(run_dirs(video, tmp_path), "ours", TINY, dataclasses.replace(TRAIN, high_res=96),
                    LOSS, POSE)


def test_stage_trains_data_parallel_under_torchrun(video, tmp_path):
    """Two CPU processes on gloo through the real stage entry point, in a scratch repo layout."""
    data = tmp_path / "data"
    for src, dst in ((video.frames, data / "frames" / "clip.h5"), (video.pose, data / "pose" / "clip.h5"),
                     (video.pairs, data / "pairs" / "clip.csv"), (video.split, data / "pairs" / "clip.split.json"),
                     (video.background / "background.png", data / "background" / "clip" / "background.png")):
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    params = {"videos": {"clip": "unused.mp4"}, "personal": ["clip"], "reference": [],
              "model": dataclasses.asdict(TINY),
              "train": {**dataclasses.asdict(TRAIN), "low_iters": 3, "high_iters": 2, "batch_size": 1},
              "loss": dataclasses.asdict(LOSS)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "stages" / "train.py"), "clip", "ours"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "reports" / "train" / "clip" / "ours" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["step"] == 5
    model, resolution, meta = load_generators(tmp_path / "data" / "models" / "clip" / "ours" / "model.pt")
    assert resolution == 64 and meta["world_size"] == 2
    assert (tmp_path / "data" / "checkpoints" / "clip" / "ours" / CHECKPOINT_NAME).is_file()
