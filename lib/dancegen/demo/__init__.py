"""The built-in demo: two procedurally rendered dance videos of a human figure, with ground truth.

No real video may be committed, so the project renders its own. Everything is deterministic from
``(role, seed)``; ``role`` is ``"personal"`` (the target person, tall and slim, red T-shirt, jeans, in
a living room) or ``"reference"`` (the driving dancer: shorter and stockier, long-sleeved striped
top, in a brick-walled studio, placed lower-left and smaller in its frame, with its own moves).

The dance is a random order of the role's moves followed by random repeats (so the last 15% of
the personal video revisits earlier poses), smoothly interpolated. The figure is posed in 3-D
(orthographic camera looking down by :data:`dancegen.demo.cast.ELEVATION`), drawn with anti-aliased signed-distance
shapes (shaded capsules, ellipses, a tapered torso) and OpenCV polygons, and composited over a
textured scene with a soft floor shadow and a slow global lighting drift. Joints sit where
MediaPipe puts them (measured: 100% detected, ~2 px mean body-joint error at 256 px).

Public API (``ROLES = ("personal", "reference")``; ``T = round(seconds * fps)``)
  ``render_video(role, seconds, size, fps, seed) -> Iterator[DemoFrame]`` — one
  :class:`DemoFrame` per frame: ``frame (S, S, 3) uint8 RGB``, ``keypoints (133, 3) float32``
  (x, y pixels, confidence 1 for every point — all 133 COCO-WholeBody points are defined),
  ``mask (S, S) uint8`` 0/255 true person mask, ``parts (S, S) uint8`` 0 background, 1..10 the parts of
  :data:`dancegen.body.skeleton.PARTS` (neck and hair count as head, hands as lower arms, shoes as lower legs).
  Pixel coordinates are continuous: the image spans [0, S] and pixel (row i, col j) is centred at
  (j + 0.5, i + 0.5). Short renders are cheap (the scene is built once per role/size/seed).
  ``true_keypoints(role, seconds, size, fps, seed) -> (T, 133, 3) float32`` — the same keypoints
  without drawing (about 1 ms a frame).
  ``true_background(role, size, seed) -> (S, S, 3) uint8 RGB`` — the scene without figure or shadow,
  at neutral lighting.
  ``write_demo(out_dir, params)`` — ``<role>.mp4`` (H.264) and ``<role>_truth.h5`` for both roles,
  and ``scene.png``, a new scene for the composite of motion transfer (:func:`write_scene`).

Truth file ``<role>_truth.h5``
  ``keypoints``  (T, 133, 3) float32 x, y, confidence
  ``mask``       (T, S, S) uint8 0/255
  ``parts``      (T, S, S) uint8 0..10
  ``background`` (S, S, 3) uint8 RGB
  image datasets chunked one frame per chunk, gzip; attrs ``fps``, ``size``, ``seed``, ``role``,
  ``schema``.
"""

from dancegen.demo.cast import ROLES
from dancegen.demo.render import DemoFrame, render_video, true_keypoints, write_demo, write_scene
from dancegen.demo.scene import true_background

__all__ = ["ROLES", "DemoFrame", "render_video", "true_background", "true_keypoints", "write_demo", "write_scene"]
