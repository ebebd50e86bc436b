"""The extract stage: one source video → the frames file (layout: :mod:`dancegen.core.store`).

Frames are decoded and resampled to ``extract.fps`` by ffmpeg as they stream, cropped to the square
around the person (:func:`dancegen.preprocess.framing.person_square`) and resized to ``extract.size``²; the
file also keeps the source's sound (:func:`dancegen.preprocess.video.read_audio`) and the scene around the
crop (:func:`dancegen.preprocess.framing.surroundings`). Memory stays one frame deep whatever the length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from dancegen.core.config import ExtractParams
from dancegen.preprocess.framing import person_square, surroundings
from dancegen.core.store import FrameWriter
from dancegen.preprocess.video import VideoInfo, probe, read_audio, read_frames


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract_video` wrote."""

    info: VideoInfo
    frames: int
    crop: tuple[int, int, int]   # (x0, y0, side) in source pixels

    def line(self, out: Path, params: ExtractParams) -> str:
        x0, y0, side = self.crop
        return (f"{out}: {self.frames} frames of {params.size}² at {params.fps:g} fps from {self.info.path} "
                f"({self.info.width}x{self.info.height}, {self.info.fps:.2f} fps), crop x0={x0} y0={y0} side={side}")


def extract_video(source: str | Path, out: str | Path, params: ExtractParams,
                  crop: tuple[int, int, int] | None = None, with_scene: bool = True) -> Extracted:
    """Write the frames file ``out`` of the video ``source`` (atomically). ``crop``: a square to use
    instead of the person probe's; ``with_scene=False`` leaves out the sound and the surround image
    (for measuring the frame path alone)."""
    info = probe(source)
    crop = person_square(info, params.probe_frames, params.margin) if crop is None else crop
    extras = {"audio": read_audio(info), "surround": surroundings(info)} if with_scene else {}
    with FrameWriter(out, params.size, params.fps, **extras, source=str(info.path),
                     source_size=[info.width, info.height], crop=list(crop)) as writer:
        frames = read_frames(info, params.fps, params.size, crop)
        for frame in tqdm(frames, total=info.expected_frames(params.fps), desc=Path(out).stem, unit="frame"):
            writer.append(frame)
    return Extracted(info, len(writer), tuple(int(c) for c in crop))
