"""Someone besides the main dancer: what the detect stage records in a pose file, and the rule
that refuses a *personal* video for it.

Detect does not know a video's role (that would make every video's detection depend on the
``personal`` and ``reference`` lists), so it accepts every video and records the checked frames
where a second person was confirmed (:mod:`dancegen.preprocess.detect.people`) in the pose file's attribute
:data:`ATTR`. A reference video is driven by its main dancer whoever else is in view; a personal
video is refused, by the first stage that makes it a training set (:func:`dancegen.preprocess.pairs.write_pairs`),
when a second person is confirmed in a large share of its checked frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dancegen.core.errors import DanceGenError

ATTR = "others_in_view"
# A personal video is refused when a second person is confirmed in this share of its checked
# frames, and in at least REFUSE_MIN_FRAMES of them; fewer sightings are a warning only.
REFUSE_FRACTION = 0.3
REFUSE_MIN_FRAMES = 3


def frame_ranges(frames: list[int], step: int) -> str:
    """``"0-45, 60, 72-117"``: the frame numbers, runs ``step`` apart joined into ranges."""
    runs, first = [], None
    for i, t in enumerate(frames):
        if first is None:
            first = t
        if i + 1 == len(frames) or frames[i + 1] - t > step:
            runs.append(f"{first}" if first == t else f"{first}-{t}")
            first = None
    return ", ".join(runs)


@dataclass(frozen=True)
class OthersInView:
    """The record: ``checked`` frames were looked at, ``step`` frames apart; ``frames`` are those of
    them where someone else was confirmed."""

    checked: int = 0
    step: int = 1
    frames: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"checked": self.checked, "step": self.step, "frames": self.frames})

    @classmethod
    def of(cls, attrs: dict) -> OthersInView:
        """The record in a pose file's attributes; a file made without the check (imported or by
        hand) records that nothing was checked."""
        raw = attrs.get(ATTR)
        return cls() if raw is None else cls(**json.loads(raw))

    def line(self) -> str | None:
        if not self.frames:
            return None
        return (f"someone besides the main dancer is in view in {len(self.frames)} of {self.checked} checked "
                f"frames (frames {frame_ranges(self.frames, self.step)})")

    def too_many(self) -> bool:
        return len(self.frames) >= max(REFUSE_MIN_FRAMES, REFUSE_FRACTION * self.checked)


def refuse_crowded(pose_path: str | Path, attrs: dict) -> None:
    """Raise DanceGenError naming ``pose_path`` when its record shows a second person in too many
    checked frames for a personal video."""
    others = OthersInView.of(attrs)
    if others.too_many():
        raise DanceGenError(pose_path, f"a second person is in view in {len(others.frames)} of {others.checked} "
                            f"checked frames (frames {frame_ranges(others.frames, others.step)}); a personal "
                            "video must show one person (as a reference it would be driven by its main dancer)")
