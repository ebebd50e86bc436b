"""params.yaml → validated dataclasses: the new model and loss choices, and their one-line errors."""

import dataclasses

import pytest
import yaml

from dancegen.core.config import InputSpec, Params, load_params, override_args
from dancegen.core.errors import DanceGenError
from conftest import REPO_ROOT

REPO = REPO_ROOT


def write(tmp_path, **sections):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_the_repository_params_load_with_the_composing_defaults():
    params = load_params(REPO_ROOT / "params.yaml")
    assert (params.model.upsample, params.model.compose, params.loss.perceptual) == ("resize", "flow", "auto")
    assert params.loss.synthesis_target == "both"
    assert params.inputs == InputSpec(params.posemap, params.pose.mask_threshold, params.background.dilate_px)


@pytest.mark.parametrize("section, key, value", [
    ("model", "upsample", "bicubic"), ("model", "compose", "residual"), ("loss", "perceptual", "vgg16"),
    ("loss", "synthesis_target", "person")])
def test_an_unknown_choice_names_the_key(tmp_path, section, key, value):
    with pytest.raises(DanceGenError, match=f"'{section}.{key}' must be one of"):
        load_params(write(tmp_path, **{section: {key: value}}))


@pytest.mark.parametrize("stem", [-4, 1.5, True])
def test_a_bad_stem_projection_is_refused(tmp_path, stem):
    with pytest.raises(DanceGenError, match="'model.stem' must be"):
        load_params(write(tmp_path, model={"stem": stem}))


def test_a_negative_loss_weight_is_refused(tmp_path):
    with pytest.raises(DanceGenError, match="'loss.w_l1' must be >= 0"):
        load_params(write(tmp_path, loss={"w_l1": -1.0}))


def test_train_compile_must_be_a_yes_or_no(tmp_path):
    assert load_params(write(tmp_path, train={"compile": True})).train.compile is True
    with pytest.raises(DanceGenError, match="'train.compile' must be true or false, got 'yes please'"):
        load_params(write(tmp_path, train={"compile": "yes please"}))


@pytest.mark.parametrize("infer, message", [
    ({"smooth_window": 8}, "'infer.smooth_window' must be an odd number"),
    ({"smooth_window": 0}, "'infer.smooth_window' must be an odd number"),
    ({"smooth_window": 5, "smooth_order": 5}, "'infer.smooth_order' must be below infer.smooth_window"),
    ({"max_gap": -1}, "'infer.max_gap' must be >= 0")])
def test_smoothing_params_are_checked(tmp_path, infer, message):
    with pytest.raises(DanceGenError, match=message):
        load_params(write(tmp_path, infer=infer))


def test_smoothing_off_needs_no_order_below_the_window(tmp_path):
    params = load_params(write(tmp_path, infer={"smooth_window": 1, "smooth_order": 3}))
    assert (params.infer.smooth_window, params.infer.max_gap) == (1, 5)


def test_the_dataclass_defaults_are_the_params_file_values():
    # One truth: a key missing from params.yaml means what params.yaml says.
    loaded, defaults = load_params(REPO / "params.yaml"), Params()
    for f in dataclasses.fields(Params):
        if f.name not in ("videos", "personal", "reference"):
            assert getattr(loaded, f.name) == getattr(defaults, f.name), f.name


def test_the_paper_setting_applies_as_dvc_experiment_arguments(tmp_path):
    args = override_args(REPO / "params.paper.yaml", REPO / "params.yaml")
    assert set(args[::2]) == {"-S"}
    pairs = dict(a.split("=", 1) for a in args[1::2])
    assert pairs["model.ngf"] == "32" and pairs["model.compose"] == "paper" and pairs["train.lr"] == "0.0002"
    assert pairs["train.high_res"] == "512" and pairs["loss.perceptual"] == "vgg19"
    assert pairs["loss.synthesis_target"] == "green"
    # what dvc exp run -S does to params.yaml: the result loads, with the paper's numbers
    merged = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in pairs.items():
        section, name = key.split(".")
        merged[section][name] = yaml.safe_load(value)
    paper = load_params(write(tmp_path, **merged))
    assert (paper.train.low_res, paper.model.n_blocks, paper.pairs.near_fraction) == (256, 9, 0.0)
    assert paper.train.half_size == ["posewarp"]         # Posewarp at 256² while the others are at 512²


def test_a_mistyped_or_bad_override_is_named_before_any_run(tmp_path):
    bad = tmp_path / "paper.yaml"
    bad.write_text("model:\n  ngff: 32\n")
    with pytest.raises(DanceGenError, match="paper.yaml.*ngff"):
        override_args(bad, REPO / "params.yaml")
    bad.write_text("train:\n  low_res: 256\n")      # high_res must follow
    with pytest.raises(DanceGenError, match="paper.yaml: 'train.high_res' must be twice"):
        override_args(bad, REPO / "params.yaml")


def test_a_schedule_the_generators_cannot_follow_fails_at_load(tmp_path):
    with pytest.raises(DanceGenError, match=r"params.yaml: 'train.half_size' has unknown variant\(s\) \['posewrap'\]"):
        load_params(write(tmp_path, train={"half_size": ["posewrap"]}))
    with pytest.raises(DanceGenError, match="params.yaml: 'train.high_res' must be twice"):
        load_params(write(tmp_path, train={"low_res": 64, "high_res": 96}))


def test_numpys_blas_runs_on_one_thread_unless_the_user_says_otherwise():
    # its idle workers spin and take a core from torch and MediaPipe (dancegen/__init__.py)
    import os
    import subprocess
    import sys

    probe = "import dancegen, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
    env["OPENBLAS_NUM_THREADS"] = "3"
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "3"
