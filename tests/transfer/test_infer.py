import json
import subprocess
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from dancegen.body import skeleton
from dancegen.preprocess.background import save_background
from dancegen.core.config import InferParams, InputSpec, PairsParams, PosemapParams
from dancegen.model.dataset import PairDataset
from dancegen.demo import render_video, true_background
from dancegen.core.errors import DanceGenError
from dancegen.transfer.compositing import FullFrame, composite, despill_green
from dancegen.transfer.infer import generate, infer_video, load_model
from dancegen.model.personal import PersonalVideo
from dancegen.model.variants import get_variant
from dancegen.core.layout import VideoPaths
from dancegen.transfer.transfer import TransferPaths, fill_missing_poses, still_frames, transfer
from dancegen.core.images import resize_area
from dancegen.model.generators import GREEN, GeneratorConfig, Generators, pose_channels, save_generators
from dancegen.preprocess.pairs import make_pairs, write_split
from dancegen.body.posemaps import draw_skeleton
from dancegen.core.store import FrameStore, FrameWriter, PoseStore, PoseWriter
from dancegen.preprocess.video import VideoWriter, probe, read_audio
from conftest import SHARED_DATA

S = 64            # frame side of the tiny clips
R = 32            # model resolution
N_PERSONAL = 40
N_REFERENCE = 12
REF_MISSING = (0, 5, 6)    # reference frames without a detection
TRAIN_FRACTION = 0.75
POSEMAP = PosemapParams(K=2)
SPEC = InputSpec(POSEMAP)


# The personal clip's squares were cut from a landscape source twice as wide as high (SOURCE_SIZE).
SOURCE_SIZE, CROP = (2 * S, S), (S // 2, 0, S)
SURROUND = np.full((S // 2, S, 3), (200, 40, 40), np.uint8)      # the scene around the crop, at half size


def write_clip(data: Path, name: str, role: str, n: int, missing: tuple[int, ...] = (), fps: int = 30,
               audio: bytes | None = None) -> None:
    """Rendered demo frames with their true poses as a frames file and a pose file."""
    framing = dict(surround=SURROUND, crop=list(CROP), source_size=list(SOURCE_SIZE)) if role == "personal" else {}
    with FrameWriter(data / "frames" / f"{name}.h5", S, fps, audio=audio, **framing) as frames, \
            PoseWriter(data / "pose" / f"{name}.h5", S, fps, "truth", "0") as pose:
        for t, fr in enumerate(render_video(role, n / fps, S, fps, seed=0)):
            frames.append(fr.frame)
            if t in missing:
                pose.append(np.zeros((skeleton.NUM_JOINTS, 3), np.float32), False,
                            np.zeros((S, S), np.uint8), np.zeros((S, S), np.uint8))
            else:
                pose.append(fr.keypoints, True, fr.mask, fr.parts)


def save_model(path: Path, variant: str, resolution: int = R, **meta) -> Generators:
    """An untrained tiny generator, saved the way train.py saves the trained one (``meta``: more of
    what train records)."""
    torch.manual_seed(0)
    g = Generators(GeneratorConfig(variant, pose_channels(POSEMAP.K), ngf=4, n_downsample=2, n_blocks=1,
                                   n_local_blocks=1, upsample="transpose", compose="paper"))
    g.enhance()
    save_generators(path, g, resolution, {"variant": variant, "steps": 0, "vgg_used": False, "sp_used": False, **meta})
    return g.eval()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    write_clip(data, "me", "personal", N_PERSONAL)
    write_clip(data, "ref", "reference", N_REFERENCE, REF_MISSING)
    background = true_background("personal", S, 0)
    save_background(data / "background" / "me", background, np.ones((S, S), np.float32), N_PERSONAL, N_PERSONAL)
    table = make_pairs(np.ones(N_PERSONAL, bool), PairsParams(TRAIN_FRACTION, n_train=20, n_test=6, seed=0,
                                                          near_fraction=0.0), 0.3, "me")
    (data / "pairs").mkdir()
    table.to_csv(data / "pairs" / "me.csv", index=False)
    write_split(data / "pairs" / "me.split.json", N_PERSONAL, TRAIN_FRACTION)
    cv2.imwrite(str(data / "scene.png"), np.full((48, 80, 3), (40, 160, 220), np.uint8))
    for variant in ("ours", "pix2pixhd", "posewarp"):
        save_model(data / "models" / variant / "model.pt", variant)
    return data


def run_transfer(out: Path, data: Path, variant: str, infer: InferParams, personal: VideoPaths | None = None,
                 **changes) -> dict:
    """:func:`transfer` of the reference clip onto ``personal`` (the personal clip by default)."""
    fields = dict(model=data / "models" / variant / "model.pt", ref_frames=data / "frames" / "ref.h5",
                  ref_pose=data / "pose" / "ref.h5", scene=data / "scene.png")
    with PersonalVideo(personal or VideoPaths.of("me", data)) as video:
        return transfer(out, video, TransferPaths(**{**fields, **changes}), SPEC, infer)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,r_frame_rate,nb_read_frames", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def stream_durations(path: Path) -> dict[str, float]:
    """Seconds of each stream of ``path``, by kind (video, audio)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True).stdout
    return {st["codec_type"]: float(st["duration"]) for st in json.loads(out)["streams"]}


def source_with_sound(path: Path, seconds: float, fps: int) -> bytes:
    """A test-pattern video with a sine tone, and the sound :func:`read_audio` takes from it."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size=64x64:rate={fps}:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    audio = read_audio(probe(path))
    assert audio is not None
    return audio


def test_infer_video_writes_pairs_and_the_consecutive_run(data, tmp_path):
    paths = VideoPaths.of("me", data)
    out = tmp_path / "ours.h5"
    with PersonalVideo(paths) as video:
        counts = infer_video(out, video, data / "models" / "ours" / "model.pt", SPEC, InferParams(batch_size=4))
    assert counts == {"pairs": 6, "run_frames": 10, "render_size": S, "engine": "openvino"}
    with h5py.File(out, "r") as f:
        assert f.attrs["engine"] == "openvino"
        assert f["pairs_out"].shape == (6, R, R, 3) and f["pairs_out"].dtype == np.uint8
        assert f["pairs_fg"].shape == (6, R, R, 3) and f["run_fg"].shape == (10, R, R, 3)
        assert f["run_out"].shape == (10, R, R, 3)
        assert list(f["run_frames"][:]) == list(range(30, 40))
        assert f.attrs["run_input_frame"] == 30 and f.attrs["resolution"] == R and f.attrs["render_size"] == S
        assert f["pairs_hd"].shape == (6, S, S, 3)
        assert json.loads(f.attrs["model_meta"])["vgg_used"] is False
        # the first pair, generated alone, is the same image as in its batch of 4 (up to float rounding)
        dataset = PairDataset(PersonalVideo(paths), "test", R, SPEC)
        assert tuple(f["pairs_index"][0]) == (int(dataset[0]["in_frame"]), int(dataset[0]["ref_frame"]))
        generators, _, _ = load_model(data / "models" / "ours" / "model.pt", torch.device("cpu"))
        alone = generate(generators, [dataset[0]], torch.device("cpu"))
        assert np.abs(alone.final[0].astype(int) - f["pairs_out"][0]).max() <= 1
        assert np.abs(alone.synthesis[0].astype(int) - f["pairs_fg"][0]).max() <= 1


def test_consecutive_run_skips_invalid_test_frames(data, tmp_path):
    pose = tmp_path / "pose.h5"
    with PoseStore(data / "pose" / "me.h5") as full, PoseWriter(pose, S, 30, "truth", "0") as writer:
        for t in range(20):
            writer.append(full.keypoints[t], t not in (16, 18), full.mask(t), full.parsing(t))
    with FrameStore(data / "frames" / "me.h5") as frames, FrameWriter(tmp_path / "frames.h5", S, 30) as writer:
        for t in range(20):
            writer.append(frames[t])
    write_split(tmp_path / "split.json", 20, 0.75)
    paths = VideoPaths(tmp_path / "frames.h5", pose, data / "pairs" / "me.csv", tmp_path / "split.json",
                       data / "background" / "me")
    with PersonalVideo(paths) as video:
        assert list(video.test_frames) == [15, 17, 19]


def test_fill_missing_poses_reuses_the_last_good_pose():
    kps = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 133, 3), np.float32)
    valid = np.array([False, True, False, False, True, False])
    filled, reused = fill_missing_poses(kps, valid, "ref.h5")
    assert list(filled[:, 0, 0]) == [1, 1, 1, 1, 4, 4]
    assert list(reused) == [True, False, True, True, False, True]
    with pytest.raises(DanceGenError, match="ref.h5.*no frame with a detected person"):
        fill_missing_poses(kps, np.zeros(6, bool), "ref.h5")


@pytest.mark.parametrize("variant", ["ours", "pix2pixhd", "posewarp"])
def test_transfer_writes_videos_stills_and_stats(data, tmp_path, variant):
    out = tmp_path / "transfer"
    stats = run_transfer(out, data, variant, InferParams(batch_size=5))
    assert sorted(p.name for p in out.iterdir()) == ["composite.mp4", "driving.h5", "full.mp4", "result.mp4",
                                                      "side_by_side.mp4", "skeleton.mp4", "stats.json", "stills.png"]
    # frame 0 has no pose before it to reuse; frames 5 and 6 are interpolated from 4 and 7
    assert stats["frames"] == N_REFERENCE and stats["fps"] == 30
    assert stats["reused_pose_frames"] == 1 and stats["interpolated_pose_frames"] == 2
    assert json.loads((out / "stats.json").read_text()) == stats
    # the reference dancer is smaller in its frame than the personal one: retargeting scales up
    assert stats["retarget_scale"] > 1.1
    assert 0 < stats["mean_nearest_pose_distance"] < 0.5
    # the demo's true poses are smooth already (px/frame²): the filter leaves them so
    assert stats["jitter_raw"] < 0.1 and abs(stats["jitter_smoothed"] - stats["jitter_raw"]) < 0.01
    # rendered at the frames' size S (infer.size 0) from a model at R; full.mp4 at the source's own size
    assert stats["render_size"] == S
    # every part from I_in
    assert stats["distinct_source_frames"] == stats["distinct_input_frames"] and stats["parts_not_from_input"] == 0
    for name, size in (("result", (S, S)), ("composite", (S, S)), ("side_by_side", (2 * S, S)), ("skeleton", (S, S)),
                       ("full", SOURCE_SIZE)):
        info = ffprobe(out / f"{name}.mp4")
        assert (int(info["width"]), int(info["height"])) == size
        assert int(info["nb_read_frames"]) == N_REFERENCE and info["r_frame_rate"] == "30/1"
    assert list(stream_durations(out / "result.mp4")) == ["video"]      # the reference has no sound
    # the stills: the references of five evenly spaced frames that have a pose of their own, over their results
    stills = cv2.cvtColor(cv2.imread(str(out / "stills.png")), cv2.COLOR_BGR2RGB)
    assert stills.shape == (2 * S, 5 * S, 3)
    with FrameStore(data / "frames" / "ref.h5") as ref:
        for i, t in enumerate([1, 3, 7, 9, 11]):
            assert np.array_equal(stills[:S, i * S:(i + 1) * S], resize_area(ref[t], S))


def test_full_frame_puts_the_square_back_at_the_sources_own_size():
    square = np.full((32, 32, 3), 9, np.uint8)
    # landscape source 128 x 64 cut at x0 = 32: native size, the square (side 64) at columns 32-96
    out = FullFrame(SURROUND, (32, 0, 64), (128, 64))(square)
    assert out.shape == (64, 128, 3)
    assert (out[:, 32:96] == 9).all()
    assert (out[:, :32] == SURROUND[0, 0]).all() and (out[:, 96:] == SURROUND[0, 0]).all()
    # portrait source 40 x 64 in a padded square (x0 = -12): only the square's middle is in the frame
    square[:, 2:30] = 77
    out = FullFrame(SURROUND, (-12, 0, 64), (40, 64))(square)
    assert out.shape == (64, 40, 3) and (out == 77).all()
    # a 4K source: the shorter side capped at 1080 (1080p), the square at the same scale
    big = FullFrame(SURROUND, (960, 0, 2160), (3840, 2160))
    assert big(square).shape == (1080, 1920, 3) and big.side == 1080 and big.origin == (480, 0)


def test_transfer_needs_the_scene_around_the_personal_crop(data, tmp_path):
    personal = tmp_path / "d"
    with FrameStore(data / "frames" / "me.h5") as frames:
        with FrameWriter(personal / "frames" / "me.h5", S, 30) as writer:
            for frame in frames:
                writer.append(frame)
    paths = VideoPaths(personal / "frames" / "me.h5", data / "pose" / "me.h5", data / "pairs" / "me.csv",
                       data / "pairs" / "me.split.json", data / "background" / "me")
    with pytest.raises(DanceGenError, match="me.h5.*re-run extract"):
        run_transfer(tmp_path / "t", data, "ours", InferParams(), personal=paths)


def test_stills_come_from_frames_with_their_own_pose():
    # a short reference fading in from black: frame 0 has no person
    assert still_frames(np.array([False, True, True, True])) == [1, 2, 3]
    assert still_frames(np.array([False, True, True, True, True, True, False])) == [1, 2, 3, 4, 5]
    assert still_frames(np.ones(100, bool)) == [0, 25, 50, 74, 99]
    assert still_frames(np.zeros(3, bool)) == [0, 1, 2]


def test_skeleton_preview_draws_the_driving_pose_over_the_plate(data, tmp_path):
    plate = np.full((S, S, 3), 40, np.uint8)
    with PoseStore(data / "pose" / "ref.h5") as pose:
        kp = pose.keypoints[1]
    drawn = draw_skeleton(plate, kp, R / S, POSEMAP.min_conf)
    assert drawn.shape == plate.shape and (plate == 40).all()
    changed = (drawn != 40).any(-1)
    wrist = np.rint(kp[skeleton.J["left_wrist"], :2] * R / S).astype(int)
    assert changed[wrist[1], wrist[0]]                       # a joint is drawn where it is
    assert 0.005 < changed.mean() < 0.3                      # a stick figure, not a filled frame


def test_transfer_runs_at_the_reference_rate_with_its_sound(data, tmp_path):
    fps, n = 24, 20
    sound = source_with_sound(tmp_path / "source.mp4", 2.0, fps)      # longer than the frames: trimmed
    write_clip(tmp_path / "d", "ref24", "reference", n, fps=fps, audio=sound)
    out = tmp_path / "t"
    stats = run_transfer(out, data, "ours", InferParams(batch_size=10), ref_frames=tmp_path / "d" / "frames" / "ref24.h5",
                         ref_pose=tmp_path / "d" / "pose" / "ref24.h5")
    assert stats["fps"] == fps
    for name in ("result", "side_by_side", "composite", "full"):
        assert ffprobe(out / f"{name}.mp4")["r_frame_rate"] == f"{fps}/1"
        durations = stream_durations(out / f"{name}.mp4")
        assert durations["video"] == pytest.approx(n / fps, abs=1e-3)
        assert abs(durations["audio"] - durations["video"]) <= 1 / fps, name
    assert ffprobe(out / "skeleton.mp4")["r_frame_rate"] == f"{fps}/1"


def test_a_sound_shorter_than_the_frames_is_padded_with_silence(tmp_path):
    fps, n = 30, 45
    sound = source_with_sound(tmp_path / "source.mp4", 0.5, fps)
    with VideoWriter(tmp_path / "v.mp4", fps, audio=sound) as writer:
        for _ in range(n):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    durations = stream_durations(tmp_path / "v.mp4")
    assert durations["video"] == pytest.approx(1.5, abs=1e-3)
    assert abs(durations["audio"] - 1.5) <= 1 / fps


def test_a_per_part_model_transfers_with_parts_from_more_frames_than_its_inputs(data, tmp_path):
    """The model file's per-part sources reach transfer, and its stats say where the parts came from."""
    save_model(tmp_path / "model.pt", "ours", sources_params={"mode": "per_part", "keep_margin": 0.0})
    stats = run_transfer(tmp_path / "t", data, "ours", InferParams(batch_size=5), model=tmp_path / "model.pt")
    assert stats["frames"] == N_REFERENCE and 0 < stats["parts_not_from_input"] <= 1
    assert stats["distinct_source_frames"] > stats["distinct_input_frames"]


def test_transfer_honours_max_frames_and_retarget_off(data, tmp_path):
    stats = run_transfer(tmp_path / "t", data, "pix2pixhd", InferParams(max_frames=4, retarget=False))
    assert stats["frames"] == 4 and stats["reused_pose_frames"] == 1 and stats["retarget_scale"] is None
    assert int(ffprobe(tmp_path / "t" / "result.mp4")["nb_read_frames"]) == 4


def test_inference_runs_at_the_resolution_the_model_file_records(data, tmp_path):
    path = tmp_path / "model.pt"
    save_model(path, "ours", resolution=64)
    run_transfer(tmp_path / "t", data, "ours", InferParams(max_frames=2), model=path)
    probe = ffprobe(tmp_path / "t" / "result.mp4")
    assert (probe["width"], probe["height"]) == (64, 64)


def test_a_missing_background_image_is_named(data, tmp_path):
    missing = tmp_path / "no_scene.png"
    with pytest.raises(DanceGenError, match=f"{missing}.*not found"):
        run_transfer(tmp_path / "t", data, "ours", InferParams(), scene=missing)


def test_a_reference_without_any_person_is_named(data, tmp_path):
    data_copy = tmp_path / "data"
    write_clip(data_copy, "empty", "reference", 3, missing=(0, 1, 2))
    pose = data_copy / "pose" / "empty.h5"
    with pytest.raises(DanceGenError, match=f"{pose}.*no frame with a detected person"):
        run_transfer(tmp_path / "t", data, "ours", InferParams(), ref_frames=data_copy / "frames" / "empty.h5",
                     ref_pose=pose)


def test_composite_follows_the_matte():
    person = np.full((8, 8, 3), 200, np.uint8)
    scene = np.full((8, 8, 3), 10, np.uint8)
    matte = np.zeros((8, 8), np.float32)
    matte[:, 4:] = 1.0
    hard = composite(person, matte, scene, edge_blur=0)
    assert (hard[:, :4] == 10).all() and (hard[:, 4:] == 200).all()
    soft = composite(person, matte, scene, edge_blur=1.0)
    assert 10 < soft[0, 3, 0] < soft[0, 4, 0] < 200 and soft[0, 0, 0] == 10 and soft[0, 7, 0] == 200


def test_composite_edges_carry_the_person_colour_not_the_green_screen():
    person = np.zeros((16, 16, 3), np.uint8)
    person[...] = (0, 255, 0)
    person[:, 8:] = (200, 50, 50)
    matte = np.zeros((16, 16), np.float32)
    matte[:, 8:] = 1.0
    scene = np.full((16, 16, 3), 100, np.uint8)
    out = composite(person, matte, scene, edge_blur=2.0).astype(int)
    edge = out[:, 5:8]                      # outside the matte, inside the soft edge
    assert (edge[..., 0] > 100).all() and (edge[..., 1] < 100).all()   # reddish, never greenish


def test_pix2pixhd_matte_keys_the_difference_from_the_background_inside_the_pose():
    background = torch.zeros(1, 3, 16, 16)
    final = background.clone()
    final[..., 2:6, 2:6] = 0.8          # a generated person, inside the pose
    final[..., 12:, 12:] = 0.8          # background flicker, far from the pose
    pose = torch.zeros(1, 30, 16, 16)
    pose[:, 3, 3:5, 3:5] = 1.0
    matte = get_variant("pix2pixhd").matte({"final": final}, {"B": background, "P_ref": pose}, False)[0, 0]
    assert matte[3, 3] > 0.99 and matte[8, 8] < 0.01 and matte[13, 13] < 0.01


def test_two_stage_matte_keys_the_green_screen_but_not_its_single_noisy_pixels():
    synthesis = torch.tensor(GREEN).view(1, 3, 1, 1).repeat(1, 1, 16, 16)
    synthesis[..., 2:7, 2:7] = 0.5      # the person
    synthesis[..., 12, 12] = 1.0        # one white pixel of noise on the screen
    outputs = {"final": torch.zeros(1, 3, 16, 16), "synthesis": synthesis}
    matte = get_variant("ours").matte(outputs, {}, False)[0, 0]
    assert matte[4, 4] > 0.99 and matte[9, 9] < 0.01 and matte[12, 12] < 0.01


def test_despill_caps_green_at_the_larger_of_red_and_blue():
    pixels = np.array([[0, 255, 0], [200, 50, 50], [100, 150, 80], [90, 90, 90]], np.uint8)
    assert despill_green(pixels).tolist() == [[0, 0, 0], [200, 50, 50], [100, 100, 80], [90, 90, 90]]


SHARED = SHARED_DATA


@pytest.mark.skipif(not (SHARED / "iper_basketball_dance_man.mp4").is_file(), reason="real clips in ../shared/data are absent")
def test_full_video_of_a_1080p_source_is_1080p(data, tmp_path):
    """The 1080p shared clip as the personal video's source: its real crop and scene, the personal
    clip's poses (the paste-back does not depend on them)."""
    from dancegen.core.config import ExtractParams
    from dancegen.preprocess.extract import extract_video

    extracted = tmp_path / "extracted.h5"
    extract_video(SHARED / "iper_basketball_dance_man.mp4", extracted, ExtractParams(size=S, fps=5))
    personal = tmp_path / "d" / "frames" / "me.h5"
    with FrameStore(extracted) as source, FrameStore(data / "frames" / "me.h5") as frames:
        framing = {k: source.attrs[k] for k in ("crop", "source_size")}
        assert list(framing["source_size"]) == [1920, 1080]
        with FrameWriter(personal, S, 30, surround=source.surround, **framing) as writer:
            for frame in frames:
                writer.append(frame)
    paths = VideoPaths(personal, data / "pose" / "me.h5", data / "pairs" / "me.csv",
                       data / "pairs" / "me.split.json", data / "background" / "me")
    run_transfer(tmp_path / "t", data, "ours", InferParams(max_frames=3), personal=paths)
    info = ffprobe(tmp_path / "t" / "full.mp4")
    assert (int(info["width"]), int(info["height"])) == (1920, 1080) and int(info["nb_read_frames"]) == 3
