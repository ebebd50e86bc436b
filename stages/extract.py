"""Stage ``extract``: one video → square frames at a fixed rate, cropped around the person; its sound
and the scene around the crop.

Usage: ``python stages/extract.py VIDEO_NAME`` (a key of ``videos`` in params.yaml)
Writes ``data/frames/VIDEO_NAME.h5`` (layout in :mod:`dancegen.store`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from dancegen.cli import run_stage
from dancegen.config import load_params
from dancegen.framing import person_square, surroundings
from dancegen.store import FrameWriter
from dancegen.video import probe, read_audio, read_frames


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/extract.py VIDEO_NAME")
    name = sys.argv[1]
    params = load_params()
    cfg = params.extract
    info = probe(params.video_path(name))
    crop = person_square(info, cfg.probe_frames, cfg.margin)
    out = Path("data/frames") / f"{name}.h5"
    with FrameWriter(out, cfg.size, cfg.fps, audio=read_audio(info), surround=surroundings(info),
                     source=str(info.path), source_size=[info.width, info.height], crop=list(crop)) as writer:
        frames = read_frames(info, cfg.fps, cfg.size, crop)
        for frame in tqdm(frames, total=info.expected_frames(cfg.fps), desc=name, unit="frame"):
            writer.append(frame)
    logging.info("%s: %d frames of %d² at %g fps from %s (%dx%d, %.2f fps), crop x0=%d y0=%d side=%d",
                 out, len(writer), cfg.size, cfg.fps, info.path, info.width, info.height, info.fps, *crop)


if __name__ == "__main__":
    run_stage("extract", main)
