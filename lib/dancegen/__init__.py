"""dancegen: personalized motion transfer for videos of people (Zhou et al., Dance Dance Generation)."""

import os

# numpy's BLAS (OpenBLAS) sees only small matrices here (3×3 inverses, pose norms), where a second
# thread buys nothing; its idle workers spin (sched_yield) and take a core from torch, OpenVINO and
# MediaPipe: `dancegen live` ran at 12.5 frames/s with them and 15.7 without (benchmarks/README.md).
# Set before numpy loads (every entry point imports dancegen first) and inherited by spawned
# workers; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
