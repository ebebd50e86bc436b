"""Images and devices, the floor every other module may stand on.

Pictures on disk and in arrays are ``(..., H, W, 3) uint8 RGB``; the networks' are
``(..., 3, H, W) float32`` in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from dancegen.core.errors import DanceGenError


def to_image_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8 RGB`` → ``(3, H, W) float32`` in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(..., 3, H, W)`` in [-1, 1] (any device, any float type) → ``(..., H, W, 3) uint8`` RGB."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Square resize with ``cv2.INTER_AREA`` (unchanged when already ``size``²)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write ``(H, W, 3) uint8 RGB`` (or ``(H, W)`` grey) as PNG bytes to ``path`` (any name, so a
    temporary path of :func:`dancegen.core.store.atomic_path` works); a one-line error if it cannot."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise DanceGenError(path, "could not be encoded as PNG")
    try:
        Path(path).write_bytes(encoded.tobytes())
    except OSError as err:
        raise DanceGenError(path, f"could not be written ({err.strerror})") from None


def compute_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so oneDNN's bf16
    convolutions are faster than fp32 ones rather than emulated."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def inference_autocast(device: torch.device) -> torch.dtype | None:
    """The autocast dtype generators run at for inference on ``device``: bfloat16 on a CPU that
    computes it natively, else None (fp32). CUDA: fp32. Only the nets run in it; the warp and the
    composites stay float32 (:meth:`dancegen.model.generators.Generators.forward`). The ours generators of a
    trained model at 128², one thread of this machine's EPYC: 106 → 86 ms per frame, I_out within
    0.003 of 255 of fp32's on average (benchmarks/README.md)."""
    return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else None


def central_square(image: np.ndarray, size: int) -> np.ndarray:
    """The central square of ``image: (H, W, C)`` (any channel order), resized to ``(size, size, C)``
    with :func:`resize_area`."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return resize_area(np.ascontiguousarray(image[y:y + side, x:x + side]), size)
