"""params.yaml → validated dataclasses: the new model and loss choices, and their one-line errors."""

import pytest
import yaml

from dancegen.config import InputSpec, load_params
from dancegen.errors import DanceGenError


def write(tmp_path, **sections):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_the_repository_params_load_with_the_composing_defaults():
    from pathlib import Path

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert (params.model.upsample, params.model.compose, params.loss.perceptual) == ("resize", "blend", "auto")
    assert params.inputs == InputSpec(params.posemap, params.pose.mask_threshold, params.background.dilate_px)


@pytest.mark.parametrize("section, key, value", [
    ("model", "upsample", "bicubic"), ("model", "compose", "residual"), ("loss", "perceptual", "vgg16")])
def test_an_unknown_choice_names_the_key(tmp_path, section, key, value):
    with pytest.raises(DanceGenError, match=f"'{section}.{key}' must be one of"):
        load_params(write(tmp_path, **{section: {key: value}}))


def test_a_negative_loss_weight_is_refused(tmp_path):
    with pytest.raises(DanceGenError, match="'loss.w_l1' must be >= 0"):
        load_params(write(tmp_path, loss={"w_l1": -1.0}))


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
