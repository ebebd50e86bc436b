"""The report renders from a small fixture of every input it reads.

The page, reports/index.html, in a real browser: every image and video it names exists, decodes
(ffmpeg), and headless Chromium shows it (the page marks each element it decoded, or could not).
The browser checks skip where Chromium is not installed (`apt-get install chromium`); the demo's
own page is checked too when the repository holds one."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2

import h5py
import numpy as np
import pandas as pd
import pytest

from dancegen.preprocess.background import save_background
from dancegen.evaluate.baselines import BASELINES
from dancegen.core.config import InputSpec
from dancegen.core.errors import DanceGenError
from dancegen.evaluate.evaluate import MEAN_KEY
from dancegen.evaluate.figures import figure_test_results
from dancegen.evaluate.judge import BASELINES as JUDGE_BASELINES
from dancegen.evaluate.judge import overall_ranks
from dancegen.core.layout import VideoPaths
from dancegen.model.personal import PersonalVideo
from dancegen.preprocess.pairs import write_split
from dancegen.evaluate.report import ReportInputs, build_report, metric_tables
from dancegen.core.store import FrameWriter, PoseWriter
from dancegen.preprocess.video import VideoWriter
from conftest import REPO_ROOT

VARIANTS = ["ours", "ours_baseline", "pix2pixhd", "posewarp"]
R, S, T = 32, 48, 12


def _hd(ssim: float) -> dict:
    return {"size": 2 * R, "whole": {"psnr": 25.0, "ssim": ssim}, "foreground": {"psnr": 20.0, "ssim": ssim - 0.2},
            "perceptual": 1 - ssim, "sharpness": ssim, "pairs": 5}


def _scores(mse: float) -> dict:
    return {"whole": {"mse": mse, "psnr": 10 * np.log10(255 ** 2 / mse), "ssim": 0.8},
            "foreground": {"mse": mse / 2, "psnr": 30.0, "ssim": 0.9},
            "background": {"mse": mse / 10, "psnr": 35.0, "ssim": 0.97},
            "difference": {"whole": 50.0, "foreground": 20.0}}


def judged_fixture() -> dict:
    """A judge stage document for the fixture's transfer: Ours best on pose, pix2pixHD on stability."""
    outputs = {}
    for i, name in enumerate([*VARIANTS, *JUDGE_BASELINES]):
        outputs[name] = {"frames": 9, "judged_frames": 5,
                         "fidelity": {"pck@0.05": 0.9 - i / 10, "pck@0.1": 0.95 - i / 10, "error": 0.03,
                                      "limb_angle_deg": 5.0 + i, "complete_body": 1.0, "hands_found": 0.5,
                                      "joints_not_found": i, "joints_left_out": 2},
                         "face": {"found": 1.0, "sharpness_ratio": None if i == 2 else 0.8},
                         "separation": {"background_change": 3.0 + i},
                         "temporal": {"flicker": 5.0 - i, "warp_error": 0.001 / (i + 1)},
                         "identity": {"feature_distance": 0.1 + i / 100, "part_colour_delta_e": 2.0}}
    return {"outputs": outputs, "ranks": overall_ranks(outputs), "reference": {"flicker": 6.5, "warp_error": 0.0003},
            "size": R, "frames": 9, "stride": 2, "computed_with": {}}


@pytest.fixture(scope="module")
def report_inputs(tmp_path_factory) -> Path:
    """Every input the report reads, written once per module (videos by ffmpeg, a figure)."""
    root = tmp_path_factory.mktemp("report_inputs")
    _write_inputs(root / "data", root / "reports")
    return root


@pytest.fixture()
def fixture(report_inputs, tmp_path):
    """A copy of the inputs of its own for each test, which may change or remove any of them."""
    shutil.copytree(report_inputs, tmp_path, dirs_exist_ok=True)
    return ReportInputs(["vid"], ["ref"], VARIANTS, tmp_path / "data", tmp_path / "reports")


def _write_inputs(data: Path, reports: Path) -> None:
    rng = np.random.default_rng(0)
    with FrameWriter(data / "frames" / "vid.h5", S, 30) as fw:
        for _ in range(T):
            fw.append(rng.integers(0, 255, (S, S, 3), dtype=np.uint8))
    with PoseWriter(data / "pose" / "vid.h5", S, 30, "test", "0") as pw:
        mask = np.zeros((S, S), np.uint8)
        mask[10:40, 15:30] = 255
        for _ in range(T):
            pw.append(np.zeros((133, 3), np.float32), True, mask, (mask > 0).astype(np.uint8))
    save_background(data / "background" / "vid", np.full((S, S, 3), 90, np.uint8), np.ones((S, S), np.float32), T, T)
    metrics = {}
    for i, name in enumerate(BASELINES):
        scores = {**_scores(300.0 + 10 * i), "background": {"mse": 5.0 + i, "psnr": 40.0, "ssim": 0.95}}
        metrics[name] = {**scores, "config": {"resolution": R, "baseline": True}}
    for name in ("input_frame", "tangram"):
        metrics[name]["hd"] = _hd(0.5)
    for i, v in enumerate(VARIANTS):
        metrics[v] = {**_scores(100.0 + 10 * i), "hd": _hd(0.9 - i / 10), "hd_upsampled": _hd(0.7 - i / 10),
                      "config": {"resolution": R, "iterations": 7, "vgg_used": False, "sp_used": True,
                                 "compose": "flow", "synthesis_target": "scene" if v == "ours" else None}}
        with h5py.File((data / "infer" / "vid").mkdir(parents=True, exist_ok=True) or
                       data / "infer" / "vid" / f"{v}.h5", "w") as f:
            f["pairs_out"] = rng.integers(0, 255, (5, R, R, 3), dtype=np.uint8)
            f["pairs_index"] = np.array([[0, 10], [1, 11], [2, 10], [3, 11], [4, 10]])
        tsv = reports / "train" / "vid" / v / "plots" / "metrics" / "train"
        tsv.mkdir(parents=True)
        pd.DataFrame({"timestamp": [0, 1, 2], "step": [0, 1, 2], "g_total": [3.0, 2.0, 1.5]}).to_csv(
            tsv / "g_total.tsv", sep="\t", index=False)
        tdir = data / "transfer" / "vid" / v / "ref"
        tdir.mkdir(parents=True)
        (tdir / "stats.json").write_text(json.dumps(
            {"frames": 9, "reused_pose_frames": 2, "retarget_scale": 1.25, "jitter_raw": 3.456,
             "jitter_smoothed": 0.789}))
        cv2.imwrite(str(tdir / "stills.png"), np.zeros((R * 2, R * 3, 3), np.uint8))
        with VideoWriter(tdir / "side_by_side.mp4") as w:
            for _ in range(3):
                w.write(np.zeros((R, 2 * R, 3), np.uint8))
        with VideoWriter(tdir / "result.mp4") as w:
            for k in range(3):
                w.write(np.full((R, R, 3), 40 * (i + k), np.uint8))
    evaluation = reports / "eval" / "vid"
    evaluation.mkdir(parents=True)
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    n = 4 * len(VARIANTS)
    pd.DataFrame({"variant": np.repeat(VARIANTS, 4), "frame": np.tile(range(4), len(VARIANTS)),
                  "novelty": rng.random(n), "ssim": rng.random(n)}).to_csv(evaluation / "novelty.csv", index=False)
    write_split(data / "pairs" / "vid.split.json", T, 0.5)
    with PersonalVideo(VideoPaths.of("vid", data)) as video:
        figure_test_results(video, data, VARIANTS, InputSpec(), evaluation / "test_results.png")
    (reports / "judge" / "vid" / "ref").mkdir(parents=True)
    (reports / "judge" / "vid" / "ref" / "metrics.json").write_text(json.dumps(judged_fixture()))
    (data / "sp" / "vid").mkdir(parents=True)
    (data / "sp" / "vid" / "metrics.json").write_text(json.dumps({"iou": 0.71, "kp_error_px": 4.2, "pck": 0.9}))


def test_report_renders_tables_figures_and_videos(fixture):
    readme = build_report(fixture)
    text = readme.read_text()
    # the three tables in the paper's row order with the fixture's numbers
    t1 = text.split("**Table 1.")[1].split("**Table 2.")[0]
    assert t1.index("| Posewarp |") < t1.index("pix2pixHD") < t1.index("Ours-baseline") < t1.index("| Ours |")
    assert "| Posewarp | 130.00 |" in t1
    assert "| Ours | 100.00 | 28.131 | 0.8000 |" in t1
    assert "| pix2pixHD | 120.00 |" in t1
    assert "| Ours | 50.00 | 20.00 |" in text.split("**Table 3.")[1]
    assert "without the perceptual loss" in text                       # vgg_used: false is shown
    config = text.split("## Configuration")[1].split("\n\n")[1]
    assert "| vid | Ours | 32² | 7 | flow | I_in (paper) | I_comb vs I_ref |" in config   # parts from, synthesis judged on
    assert "| vid | Ours-baseline | 32² | 7 | flow | I_in (paper) | – |" in config
    assert "| vid | Posewarp | 32² | 7 | – | I_in (paper) | – |" in config       # model.compose is not its
    # the baselines follow the variants in every table, the background region has its own
    assert t1.index("| Ours |") < t1.index("| *Input frame (copied)* | 300.00 |") < t1.index("*Tangram over B_in*")
    assert "| *Background plate* | 6.00 | 40.000 | 0.9500 |" in text.split("**Background region")[1]
    assert "| vid | 0.710 | 4.20 | 0.900 |" in text                      # L_SP net scores
    assert "| 9 | 2 | 1.25 | 3.46 → 0.79 |" in text                      # transfer stats incl. reused poses, jitter
    figures = fixture.reports / "figures"
    for name in ("test_results_vid.png", "novelty.png", "training_vid.png", "transfer_vid_ours_ref.png"):
        assert (figures / name).stat().st_size > 1000 or name.startswith("transfer")
        assert f"figures/{name}" in text
    assert (fixture.reports / "videos" / "vid_ours_ref_side_by_side.mp4").is_file()
    assert "videos/vid_ours_ref_side_by_side.mp4" in text


def test_the_html_page_plays_every_transfer_inline_with_relative_paths_only(fixture):
    build_report(fixture)
    page = (fixture.reports / "index.html").read_text()
    assert "Table 1. Whole frame, test set." in page and "<table>" in page
    assert page.index("Configuration") < page.index("Table 1.")          # the configuration comes first
    assert "without the perceptual loss" in page
    sources = re.findall(r'<(?:img|video)[^>]* src="([^"]+)"', page)
    assert sum(s.endswith(".mp4") for s in sources) == 8                 # side_by_side and result per variant
    for src in sources:
        assert not re.match(r"[a-z]+:|/", src), src                      # no scheme, no absolute path
        assert (fixture.reports / src).is_file(), src
    ours = page.index("Ours · driven by ref")
    assert page.index('src="videos/vid_ours_ref_side_by_side.mp4"', ours) > ours
    assert "frames 9 · reused poses 2 · retarget scale 1.25" in page


def test_the_headline_metrics_are_one_small_file_per_output(fixture):
    build_report(fixture)
    summary = fixture.reports / "summary"
    assert sorted(p.stem for p in summary.iterdir()) == sorted({*VARIANTS, *BASELINES, *JUDGE_BASELINES})
    ours = json.loads((summary / "ours.json").read_text())
    assert ours == {"ssim": 0.8, "psnr": 28.13, "fg_ssim": 0.9, "fg_psnr": 30.0, "bg_ssim": 0.97,
                    "hd_ssim": 0.9, "hd_sharp": 0.9,
                    "tr_pck": 0.95, "tr_warp": 0.001}
    # a transfer baseline has its transfer scores only; the tangram has both kinds
    nearest = json.loads((summary / "nearest_frame.json").read_text())
    assert nearest == {"tr_pck": 0.55, "tr_warp": pytest.approx(0.0002, abs=1e-5)}
    assert {"ssim", "tr_pck"} <= set(json.loads((summary / "tangram.json").read_text()))


def test_the_report_shows_each_transfers_automatic_table_4(fixture):
    text = build_report(fixture).read_text()
    table = text.split("#### vid driven by ref: 9 frames at 32²")[1].split("\n\n")[1]
    rows = table.splitlines()
    assert rows[0].startswith("| output | Q1 PCK@0.05 | Q1 PCK@0.1 |") and rows[0].endswith("| Q5 mean rank |")
    # variants in the paper's order, then the transfer baselines, then the reference itself
    labels = [row.split(" | ")[0][2:] for row in rows[2:]]
    assert labels == ["Posewarp", "pix2pixHD", "Ours-baseline", "Ours", "*Nearest training frame (copied)*",
                      "*Tangram over B_in*", "*the reference video itself*"]
    assert "| Ours | 0.900 | 0.950 | 5.0 |" in table
    assert "| pix2pixHD | 0.700 | 0.750 | 7.0 | 1.00 | 0.50 | 1.00 | – |" in table   # a missing proxy: a dash
    assert rows[-1].endswith("| 6.50 | 0.0003 |  |  | |")
    metrics = json.loads((fixture.reports / "metrics.json").read_text())
    assert metrics["transfer"]["vid"]["ref"]["outputs"]["ours"]["fidelity"]["pck@0.1"] == 0.95
    assert "No ratings yet" in text


def test_the_report_shows_the_scores_at_the_render_size(fixture):
    text = build_report(fixture).read_text()
    hd = text.split(f"**At the render size {2 * R}²")[1].split("\n\n")[1]
    assert "| Ours — HD render | 25.000 | 0.9000 | 20.000 | 0.7000 | 0.1000 | 0.90 |" in hd
    assert "| Ours — R output upsampled | 25.000 | 0.7000 |" in hd
    assert hd.index("pix2pixHD — HD render") < hd.index("Ours — HD render") < hd.index("*Tangram over B_in*")
    assert "*Background plate*" not in hd
    assert "Posewarp and pix2pixHD, which paint every pixel, are upsampled (bicubic)." in text


def test_the_report_writes_the_metrics_document_with_the_mean_over_videos(fixture):
    build_report(fixture)
    metrics = json.loads((fixture.reports / "metrics.json").read_text())
    assert set(metrics) == {"vid", MEAN_KEY, "transfer"}
    assert metrics[MEAN_KEY]["ours"]["whole"]["mse"] == 100.0 and metrics[MEAN_KEY]["ours"]["videos"] == 1
    assert metrics["vid"]["tangram"]["config"]["baseline"] is True


def test_the_report_reads_no_frames_or_poses(fixture):
    # Fig. 6 comes drawn by the evaluate stage; the data a failing reference video lacks is not needed.
    for kind in ("frames", "pose", "infer", "background"):
        shutil.rmtree(fixture.data / kind)
    assert "figures/test_results_vid.png" in build_report(fixture).read_text()


def test_fig6_shows_the_baselines_every_variant_a_zoom_and_the_truth(fixture):
    figure = cv2.imread(str(fixture.evaluation("vid") / "test_results.png"))
    # 2 baselines + 4 variants + zoom + ground truth = 8 rows, 4 test pairs; 200-px panels (2 in at 100 dpi)
    assert figure.shape[:2] == (8 * 200, 4 * 200)


@pytest.mark.parametrize("name", ["novelty.csv", "metrics.json", "test_results.png"])
def test_missing_input_is_one_line_error(fixture, name):
    (fixture.evaluation("vid") / name).unlink()
    with pytest.raises(DanceGenError, match=f"{name}: not found"):
        build_report(fixture)
    assert not (fixture.reports / "README.md").exists()


def test_metric_tables_skip_absent_variants():
    text = metric_tables({"ours": _scores(100.0)}, ["pix2pixhd", "ours"])
    assert "pix2pixHD" not in text and "| Ours |" in text


# --------------------------------------------------------------------------- the page in a browser

REPO = REPO_ROOT
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


class Elements(HTMLParser):
    """(tag, attributes) of every <img> and <video> of a page."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "video"):
            self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def decodes(path: Path) -> bool:
    """Whether ffmpeg decodes the first frame of an image or video file."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "null", "-"],
                          capture_output=True, text=True)
    return done.returncode == 0 and not done.stderr.strip()


def check_sources(page: Path) -> list[tuple[str, dict]]:
    found = elements(page.read_text())
    assert found, page
    for tag, attrs in found:
        src = attrs["src"]
        assert ":" not in src and not src.startswith("/"), src      # relative: no scheme, no network
        assert decodes(page.parent / src), src
    return found


def rendered(page: Path) -> list[tuple[str, dict]]:
    """The page's images and videos after headless Chromium loaded it, with their data-state."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                           "--dump-dom", page.name], cwd=page.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return elements(done.stdout)


def demo_page() -> Path:
    page = REPO / "reports" / "index.html"
    if not page.is_file():
        pytest.skip("the repository holds no generated report (run make demo)")
    return page


def test_every_source_of_the_page_exists_and_decodes(fixture):
    build_report(fixture)
    found = check_sources(fixture.reports / "index.html")
    assert sum(tag == "video" for tag, _ in found) == 2 * len(VARIANTS)


def test_every_source_of_the_demo_page_exists_and_decodes():
    found = check_sources(demo_page())
    assert sum(tag == "video" for tag, _ in found) >= 3


@needs_chromium
def test_chromium_shows_every_image_and_video_and_flags_one_it_cannot_play(fixture):
    build_report(fixture)
    page = fixture.reports / "index.html"
    shown = rendered(page)
    assert shown and all(attrs.get("data-state") == "ready" for _, attrs in shown), shown
    broken = fixture.reports / "videos" / "vid_ours_ref_side_by_side.mp4"
    broken.write_bytes(b"not a video")
    states = {attrs["src"]: attrs.get("data-state") for tag, attrs in rendered(page) if tag == "video"}
    assert states.pop("videos/vid_ours_ref_side_by_side.mp4") == "error"
    assert set(states.values()) == {"ready"}


@needs_chromium
def test_chromium_shows_every_image_and_video_of_the_demo_page():
    shown = rendered(demo_page())
    assert all(attrs.get("data-state") == "ready" for _, attrs in shown), [
        attrs["src"] for _, attrs in shown if attrs.get("data-state") != "ready"]
