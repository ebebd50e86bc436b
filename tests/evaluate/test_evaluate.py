import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest

from dancegen.evaluate import metrics

from dancegen.body import skeleton
from dancegen.preprocess.background import save_background
from dancegen.evaluate.baselines import BASELINES
from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.evaluate.evaluate import MEAN_KEY, evaluate_video, finite_json, metrics_document
from dancegen.core.images import resize_area
from dancegen.core.layout import VideoPaths
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import write_split
from dancegen.body.skeleton import J
from dancegen.core.store import FrameWriter, PoseWriter
from conftest import REPO_ROOT

S, R = 32, 16          # frames are S², the "model" works at R²
T = 24                 # frames 0..17 train, 18..23 test (train_fraction 0.75)
TRAIN_FRACTION = 0.75
INVALID = 21           # a test frame without a detection: the run has a gap there
PAIRS = np.array([[18, 19], [20, 22], [23, 18]])
ROOT = REPO_ROOT


def skeleton_pose(t: int) -> np.ndarray:
    """A constructed standing body ``(133, 3)`` whose left wrist rises with t."""
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    joints = {"nose": (16, 4), "left_eye": (17, 3), "right_eye": (15, 3), "left_shoulder": (19, 8),
              "right_shoulder": (13, 8), "left_elbow": (21, 12), "right_elbow": (11, 12),
              "left_wrist": (22, 16 - 0.4 * t), "right_wrist": (10, 16), "left_hip": (18, 17),
              "right_hip": (14, 17), "left_knee": (18, 23), "right_knee": (14, 23),
              "left_ankle": (18, 29), "right_ankle": (14, 29)}
    for name, (x, y) in joints.items():
        kp[J[name]] = (x, y, 1.0)
    return kp


def person_mask(t: int) -> np.ndarray:
    """``(S, S) uint8`` probability × 255: a box around the body, moving by one pixel per frame."""
    mask = np.zeros((S, S), np.uint8)
    mask[2:30, 8 + t % 4:24 + t % 4] = 230
    return mask


def write_video(data: Path) -> np.ndarray:
    """Random frames with constructed poses and masks; returns the frames ``(T, S, S, 3)``."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (T, S, S, 3), dtype=np.uint8)
    with FrameWriter(data / "frames" / "v.h5", S, 30) as fw, \
            PoseWriter(data / "pose" / "v.h5", S, 30, "constructed", "0") as pw:
        for t in range(T):
            fw.append(frames[t])
            pw.append(skeleton_pose(t), t != INVALID, person_mask(t), np.zeros((S, S), np.uint8))
    plate = np.full((S, S, 3), 90, np.uint8)
    save_background(data / "background" / "v", plate, np.ones((S, S), np.float32), T, T)
    write_split(data / "pairs" / "v.split.json", T, TRAIN_FRACTION)
    return frames


def truth(frames: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    person = (person_mask(t) >= 128).astype(np.float32)
    return resize_area(frames[t], R), resize_area(person, R) >= 0.5


def write_infer(path: Path, frames: np.ndarray, change) -> None:
    """An infer file whose outputs are ``change(ground truth, mask)``."""
    run = np.array([18, 19, 20, 22, 23])
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["pairs_out"] = np.stack([change(*truth(frames, ref)) for _, ref in PAIRS])
        f["pairs_index"] = PAIRS
        f["run_out"] = np.stack([change(*truth(frames, t)) for t in run])
        f["run_frames"] = run
        f.attrs.update(resolution=R, run_input_frame=int(run[0]), model_meta=json.dumps({"steps": 500, "vgg_used": True, "sp_used": False}))


def identical(image, mask):
    return image


def brighter_outside_person(image, mask):
    out = image.astype(int)
    out[~mask] += 10
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture()
def data(tmp_path) -> tuple[Path, np.ndarray]:
    return tmp_path, write_video(tmp_path)


def run_evaluate(data: Path, k: int = 3):
    with PersonalVideo(VideoPaths.of("v", data)) as video:
        return evaluate_video(video, ["ours", "pix2pixhd"], data, InputSpec(scene_dilate_px=2), k)


def test_generated_equal_to_truth_scores_perfectly(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "infer" / "v" / f"{variant}.h5", frames, identical)
    result = run_evaluate(root)
    doc = json.loads(finite_json(metrics_document({"v": result.metrics})))
    ours = doc["v"]["ours"]
    assert ours["whole"] == {"mse": 0.0, "psnr": None, "ssim": 1.0}
    assert ours["foreground"] == {"mse": 0.0, "psnr": None, "ssim": 1.0}
    assert ours["difference"] == {"whole": 0.0, "foreground": 0.0}
    assert ours["pairs"] == 3 and ours["run_frames"] == 5
    # An infer file from before the engine existed ran its nets in torch; one from before the refiner had none.
    assert ours["config"] == {"resolution": R, "iterations": 500, "compose": None, "upsample": None, "sources": None,
                              "synthesis_target": None, "perceptual": None, "vgg_used": True,
                              "sp_used": False, "engine": "torch", "hd_refiner": None}
    assert ours["background"] == {"mse": 0.0, "psnr": None, "ssim": 1.0}
    assert doc[MEAN_KEY]["pix2pixhd"]["whole"]["ssim"] == 1.0 and doc[MEAN_KEY]["ours"]["videos"] == 1


def test_an_offset_outside_the_person_spares_the_foreground_and_the_differences(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "infer" / "v" / f"{variant}.h5", frames, brighter_outside_person)
    result = run_evaluate(root)
    ours = result.metrics["ours"]
    # SSIM's 7×7 windows at the person's edge still see some of the brightened background
    assert ours["foreground"]["mse"] == 0.0 and 0.95 < ours["foreground"]["ssim"] < 1.0
    # per pair: 100 on the background pixels (a little less where 255 clips), 0 on the person
    errors = [np.mean((brighter_outside_person(*truth(frames, t)).astype(float) - truth(frames, t)[0]) ** 2)
              for t in PAIRS[:, 1]]
    assert all(40 < e < 70 for e in errors)
    assert ours["whole"]["mse"] == pytest.approx(np.mean(errors))
    assert ours["whole"]["psnr"] == pytest.approx(np.mean([10 * math.log10(255**2 / e) for e in errors]))
    assert ours["whole"]["ssim"] < 1.0
    # the run has neighbours (18, 19), (19, 20), (22, 23): frame 21 is missing
    run = result.run[result.run["variant"] == "ours"]
    assert list(run["frame"]) == [18, 19, 20, 22, 23]
    assert list(np.isnan(run["diff_mse"])) == [True, False, False, True, False]
    # the person box moves, so the unchanged-offset region differs and the difference MSE is small
    assert 0 < ours["difference"]["whole"] < ours["whole"]["mse"]


def test_baselines_score_what_they_copy(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "infer" / "v" / f"{variant}.h5", frames, identical)
    doc = run_evaluate(root).metrics
    copied = [metrics.ssim(resize_area(frames[a], R), resize_area(frames[b], R)) for a, b in PAIRS]
    assert doc["input_frame"]["whole"]["ssim"] == pytest.approx(np.mean(copied))
    plate = np.full((R, R, 3), 90, np.uint8)
    assert doc["background"]["whole"]["mse"] == pytest.approx(
        np.mean([metrics.mse(plate, resize_area(frames[b], R)) for _, b in PAIRS]))
    # No parsed parts in these poses: the tangram is B_in, the input frame with its person box
    # replaced by the plate — the plate inside the box, the input frame far from it.
    assert doc["tangram"]["config"] == {"resolution": R, "baseline": True}
    def scene(t: int) -> np.ndarray:
        grown = cv2.dilate((person_mask(t) >= 128).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        covered = resize_area(grown.astype(np.float32), R) > 0
        return np.where(covered[..., None], plate, resize_area(frames[t], R))

    assert doc["tangram"]["whole"]["mse"] == pytest.approx(
        np.mean([metrics.mse(scene(a), resize_area(frames[b], R)) for a, b in PAIRS]), abs=0.5)
    assert doc["ours"]["whole"]["ssim"] == 1.0


def test_novelty_rises_with_the_distance_from_the_training_poses(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "infer" / "v" / f"{variant}.h5", frames, identical)
    novelty = run_evaluate(root).novelty
    assert list(novelty.columns) == ["variant", "frame", "novelty", "ssim"]
    ours = novelty[novelty["variant"] == "ours"]
    assert (np.diff(ours["novelty"]) > 0).all()       # the wrist rises further from frames 0..17
    assert (ours["ssim"] == 1.0).all()


def test_a_missing_infer_file_is_named(data):
    root, frames = data
    write_infer(root / "infer" / "v" / "ours.h5", frames, identical)
    with pytest.raises(DanceGenError, match="pix2pixhd.h5.*not found"):
        run_evaluate(root)


def test_too_few_training_poses_for_novelty_k_is_an_error(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "infer" / "v" / f"{variant}.h5", frames, identical)
    with pytest.raises(DanceGenError, match="evaluate.novelty_k"):
        run_evaluate(root, k=50)


def test_finite_json_writes_null_for_non_finite_numbers():
    assert json.loads(finite_json({"a": {"b": float("inf"), "c": float("nan"), "d": 1.5}})) == \
        {"a": {"b": None, "c": None, "d": 1.5}}


def test_the_stage_writes_metrics_novelty_and_per_frame_tables(data, tmp_path):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        write_infer(root / "data" / "infer" / "v" / f"{variant}.h5", frames, identical)
    (root / "data").mkdir(exist_ok=True)
    for kind in ("frames", "pose", "background", "pairs"):
        (root / kind).rename(root / "data" / kind)
    (root / "params.yaml").write_text(
        "videos: {v: v.mp4}\npersonal: [v]\nreference: []\npairs: {train_fraction: 0.75}\n"
        "train: {variants: [ours, pix2pixhd]}\nevaluate: {novelty_k: 3}\n")
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "evaluate.py"), "v"], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = root / "reports" / "eval" / "v"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pix2pixhd"]["whole"]["mse"] == 0.0
    assert set(metrics) == {"ours", "pix2pixhd", *BASELINES}
    # 2 variants and 3 baselines, each on the 3 pairs and the 5 run frames
    assert len(pd.read_csv(out / "novelty.csv")) == 25
    assert len(pd.read_csv(out / "pairs.csv")) == 15
    assert len(pd.read_csv(out / "run.csv")) == 25
    figure = cv2.imread(str(out / "test_results.png"))
    assert figure is not None and figure.shape[0] > 300     # Fig. 6: 2 baselines, 2 variants, zoom, truth
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "novelty.csv", "pairs.csv", "pairs_hd.csv",
                                                     "run.csv", "test_results.png"]

    other = subprocess.run([sys.executable, str(ROOT / "stages" / "evaluate.py"), "w"], cwd=root,
                           capture_output=True, text=True)
    assert other.returncode != 0 and "params.yaml: 'w' is not listed under personal" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_the_mean_over_videos_weighs_each_video_once():
    one = {"ours": {"whole": {"mse": 10.0, "psnr": 30.0, "ssim": 0.9}, "foreground": {"mse": 1.0, "psnr": None, "ssim": 0.5},
                    "background": {"mse": 2.0, "psnr": 40.0, "ssim": 0.99},
                    "difference": {"whole": 4.0, "foreground": 1.0}}}
    two = {"ours": {**one["ours"], "whole": {"mse": 30.0, "psnr": 20.0, "ssim": 0.7}}}
    doc = metrics_document({"a": one, "b": two})
    assert doc["a"] == one and doc["b"] == two
    mean = doc[MEAN_KEY]["ours"]
    assert mean["videos"] == 2 and mean["whole"] == pytest.approx({"mse": 20.0, "psnr": 25.0, "ssim": 0.8})
    assert mean["foreground"]["psnr"] is None and mean["foreground"]["ssim"] == 0.5
    with pytest.raises(DanceGenError, match=MEAN_KEY):
        metrics_document({MEAN_KEY: one})


def test_scores_at_the_render_size_tell_a_sharp_render_from_an_upsampled_one(data):
    root, frames = data
    for variant in ("ours", "pix2pixhd"):
        path = root / "infer" / "v" / f"{variant}.h5"
        write_infer(path, frames, identical)
        with h5py.File(path, "a") as f:       # the HD render: the true frames at H = S
            f["pairs_hd"] = np.stack([frames[ref] for _, ref in PAIRS])
            f.attrs["render_size"] = S
    result = run_evaluate(root)
    hd, upsampled = result.metrics["ours"]["hd"], result.metrics["ours"]["hd_upsampled"]
    assert hd["size"] == S and hd["whole"]["ssim"] == pytest.approx(1.0) and hd["perceptual"] == pytest.approx(0.0)
    assert hd["sharpness"] == pytest.approx(1.0)
    # the truth at R, upsampled: softer, further in feature space
    assert upsampled["sharpness"] < 0.7 and upsampled["whole"]["ssim"] < 0.9 and upsampled["perceptual"] > 0.01
    assert set(result.pairs_hd["output"]) == {"ours", "ours@R", "pix2pixhd", "pix2pixhd@R", "input_frame", "tangram"}
    assert result.metrics["input_frame"]["hd"]["whole"]["ssim"] < 0.5       # random frames: another frame is far
    assert "hd" not in result.metrics["background"]
