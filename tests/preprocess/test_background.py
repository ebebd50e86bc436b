import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dancegen.preprocess import background

from dancegen.body import skeleton
from dancegen.core.errors import DanceGenError
from dancegen.core.store import FrameStore, FrameWriter, PoseStore, PoseWriter
from conftest import REPO_ROOT

REPO = REPO_ROOT
S = 64
STATIC = (slice(4, 14), slice(4, 14))   # a corner the occluder covers in every frame


def textured_background(seed: int = 0) -> np.ndarray:
    """``(S, S, 3) uint8``: a colour gradient plus mild texture."""
    yy, xx = np.mgrid[:S, :S].astype(np.float64)
    base = np.stack([60 + 2 * xx, 50 + 2 * yy, 120 + xx - yy], axis=-1)
    texture = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 12, (S, S, 3)), (0, 0), 1.0)
    return np.clip(np.rint(base + texture), 0, 255).astype(np.uint8)


def occluded_sequence(n: int, halo: bool = False):
    """``(frame, mask)`` pairs: a bar sweeps left to right and a block sits on STATIC, both masked.

    With ``halo`` the bar leaves a 2-px tinted fringe just outside its mask, like a soft matte edge.
    """
    bg = textured_background()
    for t in range(n):
        frame, mask = bg.copy(), np.zeros((S, S), np.uint8)
        x = int(round(t * (S - 12) / max(n - 1, 1)))
        if halo:
            frame[18:52, max(x - 2, 0):x + 14] = (frame[18:52, max(x - 2, 0):x + 14] // 2 + 100)
        frame[20:50, x:x + 12] = (200, 30, 30)
        mask[20:50, x:x + 12] = 255
        frame[STATIC] = (10, 200, 10)
        mask[STATIC] = 255
        yield frame, mask


def static_region() -> np.ndarray:
    out = np.zeros((S, S), bool)
    out[STATIC] = True
    return out


def test_known_background_is_recovered_where_seen():
    bg = textured_background()
    image, coverage = background.masked_average(occluded_sequence(24), dilate_px=0, threshold=0.5)
    seen = coverage > 0
    assert image.shape == (S, S, 3) and image.dtype == np.uint8 and coverage.dtype == np.float32
    assert np.array_equal(~seen, static_region())
    assert np.abs(image[seen].astype(int) - bg[seen]).max() == 0
    # The bar covers rows 20..49 in some frames, so coverage there is below 1 but above 0.
    assert coverage[0, 0] == 1.0 and 0 < coverage[30, 30] < 1
    # The never-seen corner is inpainted from its surroundings: close to the smooth truth, not green.
    err = np.abs(image[STATIC].astype(int) - bg[STATIC]).mean()
    assert err < 6          # measured 2.8
    assert image[STATIC][:, 1].mean() < 150


def test_dilation_keeps_halos_out():
    bg = textured_background()
    plain, _ = background.masked_average(occluded_sequence(24, halo=True), dilate_px=0, threshold=0.5)
    grown, cov = background.masked_average(occluded_sequence(24, halo=True), dilate_px=3, threshold=0.5)
    seen = cov > 0
    assert np.abs(plain[seen].astype(int) - bg[seen]).max() > 10
    assert np.abs(grown[seen].astype(int) - bg[seen]).max() == 0
    # Dilation (a round 7×7 element) grows the never-seen 10×10 corner by 3 px on every side.
    rows, cols = np.nonzero(~seen)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (1, 16, 1, 16)
    assert (~seen)[4:14, 1:17].all() and (~seen)[1:17, 4:14].all()


def test_threshold_reads_probability_masks():
    bg = textured_background()
    frame = bg.copy()
    frame[:, :20] = 0
    soft = np.zeros((S, S), np.uint8)
    soft[:, :20] = 140                 # probability 0.55
    image, cov = background.masked_average([(frame, soft), (bg, np.zeros_like(soft))], 0, 0.5)
    assert np.array_equal(image, bg) and cov[:, :20].max() == 0.5
    image, _ = background.masked_average([(frame, soft), (bg, np.zeros_like(soft))], 0, 0.6)
    assert image[:, :20].mean() < bg[:, :20].mean() - 20     # at 0.6 the dark strip is "background"


def test_nothing_to_average():
    with pytest.raises(ValueError, match="no frames"):
        background.masked_average([], 0, 0.5)
    full = np.full((S, S), 255, np.uint8)
    with pytest.raises(ValueError, match="every pixel"):
        background.masked_average([(textured_background(), full)], 0, 0.5)


def write_video(root: Path, name: str, n: int, invalid: tuple[int, ...] = ()) -> None:
    """Frames and pose files of the occluded sequence; frames in ``invalid`` hold a stray,
    unmasked magenta person and are marked invalid, as an undetected person would be."""
    kp = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    with FrameWriter(root / f"data/frames/{name}.h5", size=S, fps=30) as fw, \
            PoseWriter(root / f"data/pose/{name}.h5", size=S, fps=30, detector="test", detector_version="0") as pw:
        for t, (frame, mask) in enumerate(occluded_sequence(n)):
            if t in invalid:
                frame[30:60, 40:60] = (255, 0, 255)
                mask[:] = 0
            fw.append(frame)
            pw.append(kp, t not in invalid, mask, np.zeros((S, S), np.uint8))


def test_estimate_background_skips_invalid_frames(tmp_path):
    write_video(tmp_path, "v", 20, invalid=(3, 9, 15))
    bg = textured_background()
    with FrameStore(tmp_path / "data/frames/v.h5") as frames, PoseStore(tmp_path / "data/pose/v.h5") as pose:
        image, coverage = background.estimate_background(frames, pose, dilate_px=0, threshold=0.5)
    seen = coverage > 0
    assert np.abs(image[seen].astype(int) - bg[seen]).max() == 0
    assert np.array_equal(~seen, static_region())


def test_estimate_background_errors(tmp_path):
    write_video(tmp_path, "v", 4, invalid=(0, 1, 2, 3))
    write_video(tmp_path, "w", 5)
    with FrameStore(tmp_path / "data/frames/v.h5") as frames, PoseStore(tmp_path / "data/pose/v.h5") as pose:
        with pytest.raises(DanceGenError, match="v.h5: has no valid detection"):
            background.estimate_background(frames, pose, 0, 0.5)
    with FrameStore(tmp_path / "data/frames/w.h5") as frames, PoseStore(tmp_path / "data/pose/v.h5") as pose:
        with pytest.raises(DanceGenError, match="re-run detect"):
            background.estimate_background(frames, pose, 0, 0.5)


def test_save_and_load_replace_atomically(tmp_path):
    bg = textured_background()
    coverage = np.ones((S, S), np.float32)
    coverage[STATIC] = 0
    out = tmp_path / "data/background/v"
    background.save_background(out, np.zeros_like(bg), coverage, 10, 10)
    background.save_background(out, bg, coverage, 12, 9)
    assert sorted(p.name for p in out.iterdir()) == ["background.png", "coverage.png", "stats.json"]
    assert np.array_equal(background.load_background(out), bg)
    stats = json.loads((out / "stats.json").read_text())
    assert stats == {"n_frames": 12, "n_frames_used": 9, "inpainted_fraction": pytest.approx(100 / S**2)}
    cov_png = cv2.imread(str(out / "coverage.png"), cv2.IMREAD_UNCHANGED)
    assert cov_png.shape == (S, S) and cov_png[STATIC].max() == 0 and cov_png[0, 0] == 255
    assert [p.name for p in out.parent.iterdir()] == ["v"]     # no temporary left behind
    with pytest.raises(DanceGenError, match="not found"):
        background.load_background(tmp_path / "nowhere")


def test_stage(tmp_path):
    write_video(tmp_path, "v", 16, invalid=(5,))
    (tmp_path / "params.yaml").write_text("background:\n  dilate_px: 1\npose:\n  mask_threshold: 0.5\n")
    for _ in range(2):     # the second run replaces the first run's directory
        done = subprocess.run([sys.executable, str(REPO / "stages/background.py"), "v"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "data/background/v"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["n_frames"] == 16 and stats["n_frames_used"] == 15
    # The 10×10 corner grown by a round 3×3 element: 12×12 less its 4 corner pixels.
    assert stats["inpainted_fraction"] == pytest.approx((12 * 12 - 4) / S**2)
    assert background.load_background(out).shape == (S, S, 3)

    done = subprocess.run([sys.executable, str(REPO / "stages/background.py"), "missing"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "data/frames/missing.h5: not found" in done.stderr


def test_demo_background_from_true_masks():
    demo = pytest.importorskip("dancegen.demo")
    # 22 s at 5 fps spans two periods of the demo's lighting drift, so the drift averages out.
    frames = list(demo.render_video("personal", 22.0, 128, 5, 0))
    truth = demo.true_background("personal", 128, 0).astype(float)
    image, coverage = background.masked_average(((f.frame, f.mask) for f in frames), 2, 0.5)
    err = np.abs(image - truth)
    seen = coverage > 0
    # Measured: 0.89 overall, 0.60 where seen (the soft shadow and the residual drift remain),
    # 2.5 % of pixels inpainted; averaging without masks gives 6.7.
    assert err.mean() < 1.5
    assert err[seen].mean() < 1.0
    assert 0 < np.mean(~seen) < 0.05
    unmasked, _ = background.masked_average(((f.frame, np.zeros_like(f.mask)) for f in frames), 0, 0.5)
    assert np.abs(unmasked - truth).mean() > 4 * err.mean()
