"""Decoding: validation, resampling to a fixed rate (variable-rate sources too), crop geometry, sampling, sound.

Every input is made here with ffmpeg's lavfi sources: small, a few seconds long.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dancegen.core.errors import DanceGenError
from dancegen.preprocess.video import probe, read_audio, read_frames, sample_frames

# Gray-level frame counters: source frame n is painted luma 16 + 2n (limited range), which decodes
# to RGB ≈ 2n · 255/219; x264 at qp 0 keeps it exact enough to read n back to ±1.
LEVELS_PER_FRAME = 2 * 255 / 219


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def lavfi(path: Path, source: str, *out_args: str, pix_fmt: str = "yuv420p") -> Path:
    ffmpeg("-f", "lavfi", "-i", source, *out_args, "-pix_fmt", pix_fmt, str(path))
    return path


def counter_video(path: Path, n: int, rate: int, *out_args: str) -> Path:
    """``n`` frames at ``rate`` whose gray level encodes the frame index (see :data:`LEVELS_PER_FRAME`)."""
    return lavfi(path, f"nullsrc=s=32x32:r={rate}:d={n / rate},geq=lum='16+2*N':cb=128:cr=128",
                 "-c:v", "libx264", "-qp", "0", *out_args)


def frame_index(frame: np.ndarray) -> int:
    return int(round(frame.mean() / LEVELS_PER_FRAME))


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


def test_probe_describes_a_plain_video(media):
    info = probe(lavfi(media / "bars.mp4", "testsrc=size=64x48:rate=25:duration=2"))
    assert (info.width, info.height, info.fps, info.duration, info.n_frames) == (64, 48, 25.0, 2.0, 50)
    assert info.rotation == 0 and info.sample_aspect == 1.0
    assert info.expected_frames(30) == 60


def test_25fps_becomes_30fps(media):
    info = probe(lavfi(media / "bars25.mp4", "testsrc=size=64x48:rate=25:duration=2"))
    frames = list(read_frames(info, 30, 32, (8, 0, 48)))
    assert abs(len(frames) - 60) <= 1
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)


def test_16fps_upsampling_repeats_frames_in_time_order(media):
    info = probe(counter_video(media / "count16.mp4", 32, 16))
    idx = [frame_index(f) for f in read_frames(info, 30, 32, (0, 0, 32))]
    assert abs(len(idx) - 60) <= 1
    # Output frame k at k/30 s shows the source frame on screen then: floor-or-nearest of k·16/30.
    expected = np.arange(len(idx)) * 16 / 30
    assert np.all(np.abs(np.array(idx) - expected) <= 1.0)
    assert idx == sorted(idx) and set(idx) == set(range(32))


def test_variable_frame_rate_keeps_timing(media):
    # 30 frames spread over the first 2 s (15 fps), then 60 frames over the next 2 s (30 fps).
    src = counter_video(media / "cfr.mp4", 90, 30)
    vfr = media / "vfr.mp4"
    ffmpeg("-i", str(src), "-vf", "setpts='if(lt(N,30),N*2/30,2+(N-30)/30)/TB'", "-fps_mode", "passthrough",
           "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", str(vfr))
    info = probe(vfr)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    idx = np.array([frame_index(f) for f in read_frames(info, 30, 32, (0, 0, 32))])
    assert abs(len(idx) - 120) <= 1
    t = np.arange(len(idx)) / 30
    expected = np.where(t < 2, t * 15, 30 + (t - 2) * 30)
    assert np.all(np.abs(idx - expected) <= 1.0)


def test_odd_size_source(media):
    # 4:2:0 cannot hold an odd size; 4:4:4 H.264 (as some cameras and screen recorders write) can.
    info = probe(lavfi(media / "odd.mkv", "testsrc=size=1081x721:rate=30:duration=0.5", "-c:v", "libx264",
                       pix_fmt="yuv444p"))
    assert (info.width, info.height) == (1081, 721)
    frames = list(read_frames(info, 30, 64, (181, 0, 721)))
    assert len(frames) == 15 and frames[0].shape == (64, 64, 3)
    small, scale = sample_frames(info, 3, 200)
    assert small.shape == (3, 133, 200, 3) and scale == pytest.approx(200 / 1081)


def test_rotated_source_is_read_upright(media):
    landscape = lavfi(media / "land.mp4", "testsrc=size=64x48:rate=25:duration=1")
    rotated = media / "rotated.mp4"
    ffmpeg("-i", str(landscape), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    info = probe(rotated)
    assert (info.width, info.height, info.rotation) in {(48, 64, 90), (48, 64, 270)}
    # The 64-px square holds the 48-wide upright frame with 8 black columns each side.
    frame = next(read_frames(info, 30, 64, (-8, 0, 64)))
    assert frame[:, :8].max() == 0 and frame[:, -8:].max() == 0
    assert frame[:, 8:56].mean() > 40


def test_non_square_pixels_are_stretched_square(media):
    info = probe(lavfi(media / "anamorphic.mp4", "testsrc=size=64x48:rate=25:duration=1", "-vf", "setsar=2"))
    assert (info.width, info.height, info.sample_aspect) == (128, 48, 2.0)
    assert next(read_frames(info, 30, 48, (40, 0, 48))).shape == (48, 48, 3)


@pytest.fixture(scope="module")
def target(media) -> Path:
    """200×120, gray 128, with a white rectangle over x 120..159, y 30..69."""
    return lavfi(media / "target.mp4", "color=c=0x808080:size=200x120:rate=10:duration=0.5,"
                 "drawbox=x=120:y=30:w=40:h=40:color=white:t=fill", "-c:v", "libx264", "-qp", "0")


def test_crop_is_pixel_exact_at_odd_offsets(target):
    frame = next(read_frames(probe(target), 10, 80, (101, 11, 80)))
    gray = frame.mean(axis=2)
    assert gray[19:59, 19:59].min() > 240          # the rectangle, moved by (-101, -11)
    assert gray[:, :18].max() < 140 and gray[:18].max() < 140 and gray[:, 60:].max() < 140


def test_crop_past_the_edges_is_padded_black_and_scaled(target):
    # Square (-40, -40, 280) → 70 px: a factor of 4; the source spans x 10..60, y 10..40.
    frame = next(read_frames(probe(target), 10, 70, (-40, -40, 280))).mean(axis=2)
    assert frame[:9].max() < 5 and frame[:, :9].max() < 5 and frame[41:].max() < 5 and frame[:, 61:].max() < 5
    assert abs(frame[12:16, 12:38].mean() - 128) < 6
    assert frame[19:26, 41:49].min() > 240         # rectangle (120+40)/4 .. (160+40)/4, (30+40)/4 ..


def test_crop_must_overlap_the_frame(target):
    with pytest.raises(ValueError, match="does not overlap"):
        next(read_frames(probe(target), 10, 32, (300, 0, 50)))


@pytest.mark.parametrize("gop", [1, 250], ids=["seeks", "one-pass"])
def test_sample_frames_are_evenly_spaced(media, gop):
    info = probe(counter_video(media / f"count_g{gop}.mp4", 60, 30, "-g", str(gop)))
    frames, scale = sample_frames(info, 4, 64)
    assert frames.shape == (4, 32, 32, 3) and scale == 1.0
    assert [frame_index(f) for f in frames] == [7, 22, 37, 52]   # int(60 · (i + 0.5) / 4)


def test_truncated_file_is_an_error_not_a_short_video(media):
    whole = lavfi(media / "whole.mp4", "testsrc=size=160x120:rate=30:duration=4", "-movflags", "+faststart")
    cut = media / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DanceGenError, match=r"cut\.mp4: decoded only \d+ of the 120 frames"):
        list(read_frames(probe(cut), 30, 32, (20, 0, 120)))


def test_stopping_early_ends_ffmpeg(media):
    info = probe(lavfi(media / "long.mp4", "testsrc=size=64x48:rate=30:duration=10"))
    frames = read_frames(info, 30, 32, (8, 0, 48))
    assert len(list(itertools.islice(frames, 3))) == 3
    frames.close()   # must not hang waiting for ffmpeg to finish the other 297 frames


def _bad_inputs(media: Path) -> dict[str, tuple[Path, str]]:
    empty = media / "empty.mp4"
    empty.touch()
    text = media / "notes.mp4"
    text.write_text("not a video\n")
    audio = media / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(audio))
    still = media / "still.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32", "-frames:v", "1", str(still))
    return {
        "missing": (media / "nope.mp4", "not found"),
        "zero-byte": (empty, "empty"),
        "not a video": (text, "not a readable video"),
        "audio only": (audio, "no video stream"),
        "one frame": (lavfi(media / "one.mp4", "testsrc=size=32x32:rate=25", "-frames:v", "1"),
                      "has only 1 frame; a video needs at least 2"),
        "still image": (still, "has only 1 frame"),
    }


def test_bad_inputs_raise_one_line_naming_the_file(media):
    for case, (path, problem) in _bad_inputs(media).items():
        with pytest.raises(DanceGenError) as err:
            probe(path)
        message = str(err.value)
        assert message.startswith(f"{path}: ") and problem in message and "\n" not in message, case


def loudness(audio: bytes, tmp: Path, start: float, stop: float) -> float:
    """RMS of the sound between ``start`` and ``stop`` seconds of an audio file's bytes."""
    (tmp / "sound").write_bytes(audio)
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp / "sound"), "-f", "f32le", "-ac", "1",
                          "-ar", "8000", "-"], check=True, capture_output=True).stdout
    pcm = np.frombuffer(raw, np.float32)
    return float(np.sqrt(np.mean(pcm[int(start * 8000):int(stop * 8000)] ** 2)))


def test_sound_is_aligned_to_the_first_frame(media):
    # the tone starts half a second after the pictures: the sound keeps that half second of silence
    path = media / "late_sound.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=30:duration=2", "-itsoffset", "0.5", "-f", "lavfi",
           "-i", "sine=frequency=440:duration=1.5", "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    audio = read_audio(probe(path))
    assert loudness(audio, media, 0.0, 0.4) < 0.01
    assert loudness(audio, media, 0.6, 1.4) > 0.05       # the lavfi sine: amplitude 1/8, RMS 0.088


def test_a_silent_video_has_no_sound(media):
    assert read_audio(probe(counter_video(media / "silent.mp4", 10, 30))) is None
