"""Peak memory of the extract path against video length: streaming must keep it flat.

Makes synthetic 1080p inputs (ffmpeg ``testsrc2``, 30 fps) of each length, then extracts each in a
fresh process — decode, resample, crop a fixed square (the person probe is skipped), resize, write
the frames file — and reports the peak resident memory of that Python process and of its ffmpeg.

    python benchmarks/extract_memory.py                 # 10 s and 60 s at 256²
    python benchmarks/extract_memory.py --seconds 10 120 --size 512
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dancegen.core.config import ExtractParams
from dancegen.preprocess.extract import extract_video

CROP = (420, 0, 1080)   # the centred full-height square of a 1920×1080 frame


def make_input(path: Path, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)


def extract(video: Path, out: Path, size: int) -> dict:
    """Runs in the child process: the stage's own code (:func:`dancegen.preprocess.extract.extract_video`) with a
    fixed square instead of the person probe and without the sound and surround image; returns its
    measurements."""
    start = time.perf_counter()
    done = extract_video(video, out, ExtractParams(size=size, fps=30), crop=CROP, with_scene=False)
    kib = 1024  # ru_maxrss is in KiB on Linux
    return {
        "frames": done.frames,
        "seconds": round(time.perf_counter() - start, 1),
        "python_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib, 1),
        "ffmpeg_peak_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib, 1),
        "output_mib": round(out.stat().st_size / 2**20, 1),
    }


def measure(video: Path, out: Path, size: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(video), str(out), str(size)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        video, out, size = args.child
        print(json.dumps(extract(Path(video), Path(out), int(size))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            video = Path(tmp) / f"testsrc2_{seconds}s.mp4"
            make_input(video, seconds)
            rows.append({"input_s": seconds, **measure(video, Path(tmp) / f"{seconds}s.h5", args.size)})
            video.unlink()
    print(f"| input (1080p, 30 fps) | frames out ({args.size}²) | time s | Python peak MiB | "
          "ffmpeg peak MiB | output MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input_s']} s | {r['frames']} | {r['seconds']} | {r['python_peak_mib']} | "
              f"{r['ffmpeg_peak_mib']} | {r['output_mib']} |")
    first, last = rows[0], rows[-1]
    print(f"\npeak ratio {last['input_s']} s / {first['input_s']} s: Python "
          f"{last['python_peak_mib'] / first['python_peak_mib']:.2f}, ffmpeg "
          f"{last['ffmpeg_peak_mib'] / first['ffmpeg_peak_mib']:.2f}")


if __name__ == "__main__":
    main()
