"""Training and evaluation of the SPNet that provides the L_SP features (paper 3.5, eq. 7).

The net learns the detect stage's labels of the personal video: its 10-part parsing maps and its
body + feet keypoints (:data:`dancegen.model.nets.sp_encoder.SP_JOINTS`), on the train split of the same
temporal split as the pairs (:func:`dancegen.preprocess.pairs.split_frames`), valid frames only. It is
evaluated on the test split at the frame size: parsing IoU per part, keypoint error in pixels and
PCK@0.1 of the body size.

Outputs of :func:`train_sp` in ``out_dir``: ``sp.pt`` (:func:`~dancegen.model.nets.sp_encoder.save_sp`)
and ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dancegen.body import skeleton
from dancegen.core.config import TrainSPParams
from dancegen.core.errors import DanceGenError
from dancegen.core.images import compute_device, resize_area
from dancegen.model.nets.sp_encoder import N_SP_PARTS, SP_JOINTS, SPNet, save_sp
from dancegen.core.store import FrameStore, PoseStore, atomic_dir
from dancegen.model.personal import PersonalVideo

MIN_CONF = 0.3            # a label joint below this confidence is neither learnt nor scored
MAX_SCALE = 0.1           # augmentation: zoom within 1 ± MAX_SCALE ...
MAX_SHIFT = 0.05          # ... and shift within ± MAX_SHIFT of the frame side
PCK_FRACTION = 0.1
CHUNK = 16                # frames per read, resize and evaluation step


def _mirror(names: tuple[str, ...]) -> list[int]:
    """Index permutation that swaps every ``left_*`` name with its ``right_*`` twin."""
    index = {n: i for i, n in enumerate(names)}
    swap = {"left_": "right_", "right_": "left_"}
    out = []
    for n in names:
        prefix = next((p for p in swap if n.startswith(p)), None)
        out.append(index[swap[prefix] + n[len(prefix):]] if prefix else index[n])
    return out


JOINT_MIRROR = torch.tensor(_mirror(tuple(skeleton.JOINT_NAMES[j] for j in SP_JOINTS)))
LABEL_MIRROR = torch.tensor([0] + [1 + i for i in _mirror(skeleton.PART_NAMES)])


@dataclass
class SPSet:
    """Training samples at the training resolution R.

    ``images: (N, 3, R, R) uint8 RGB``, ``parsing: (N, R, R) uint8`` 0..10,
    ``keypoints: (N, len(SP_JOINTS), 3) float32`` x, y in pixels of R, confidence.
    """

    images: torch.Tensor
    parsing: torch.Tensor
    keypoints: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def resize_parsing(parsing: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S) uint8`` labels → ``(N, size, size) uint8``: each output pixel takes the label that
    covers most of its area, so a thin limb keeps its width instead of appearing or vanishing with
    the sampling phase of nearest-neighbour resizing."""
    onehot = np.eye(N_SP_PARTS, dtype=np.float32)
    return np.stack([cv2.resize(onehot[lab], (size, size), interpolation=cv2.INTER_AREA).argmax(-1)
                     for lab in parsing]).astype(np.uint8)


def load_set(frames: FrameStore, pose: PoseStore, indices: np.ndarray, resolution: int) -> SPSet:
    """The frames ``indices`` (increasing) with their labels, resized to ``resolution``."""
    images, parsing = [], []
    for start in tqdm(range(0, len(indices), CHUNK), desc="load frames", unit="chunk", leave=False):
        idx = indices[start:start + CHUNK]
        images.append(np.stack([resize_area(f, resolution) for f in frames[idx]]))
        parsing.append(resize_parsing(pose.parsing(idx), resolution))
    kp = pose.keypoints[indices][:, list(SP_JOINTS)].copy()
    kp[..., :2] *= resolution / frames.size
    return SPSet(images=torch.from_numpy(np.concatenate(images)).permute(0, 3, 1, 2).contiguous(),
                 parsing=torch.from_numpy(np.concatenate(parsing)),
                 keypoints=torch.from_numpy(kp))


def to_input(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W) uint8`` → float in [-1, 1], the range :meth:`SPNet.features` expects."""
    return images.float() / 127.5 - 1.0


def augment(images: torch.Tensor, parsing: torch.Tensor, keypoints: torch.Tensor,
            gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random mirror (with left/right labels swapped), zoom and shift of one batch.

    ``images: (B, 3, R, R) float``, ``parsing: (B, R, R) long``, ``keypoints: (B, J, 3)`` in pixels,
    all on one device; ``gen`` is a CPU generator, so a seed gives the same batches on any device.
    """
    b, _, r, _ = images.shape
    dev = images.device
    flip = (torch.rand(b, generator=gen) < 0.5).to(dev)
    scale = (1 + MAX_SCALE * (2 * torch.rand(b, generator=gen) - 1)).to(dev)
    shift = (MAX_SHIFT * 2 * (2 * torch.rand(b, 2, generator=gen) - 1)).to(dev)   # normalised coords span 2
    # affine_grid maps output to input coordinates: u_in = diag(a) u_out + shift.
    a = torch.stack([torch.where(flip, -1.0, 1.0) / scale, 1 / scale], dim=1)    # (B, 2)
    theta = torch.cat([torch.diag_embed(a), shift[:, :, None]], dim=2)
    grid = F.affine_grid(theta, (b, 1, r, r), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    parsing = F.grid_sample(parsing[:, None].float(), grid, mode="nearest", padding_mode="border",
                            align_corners=False)[:, 0].long()
    parsing = torch.where(flip[:, None, None], LABEL_MIRROR.to(dev)[parsing], parsing)

    u_in = keypoints[..., :2] * (2 / r) - 1
    u_out = (u_in - shift[:, None]) / a[:, None]
    keypoints = torch.cat([(u_out + 1) * (r / 2), keypoints[..., 2:]], dim=-1)
    keypoints = torch.where(flip[:, None, None], keypoints[:, JOINT_MIRROR.to(dev)], keypoints)
    return images, parsing, keypoints


def heatmap_targets(keypoints: torch.Tensor, image_size: int, hm_size: int, sigma_fraction: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian heatmaps ``(B, J, h, h)`` peaking at 1, and joint weights ``(B, J)``: 1 for a
    confident joint inside the image, else 0.

    ``keypoints: (B, J, 3)`` in pixels of ``image_size``; pixel i spans [i, i+1), so cell j of the
    heatmap is centred at ``(j + 0.5) * image_size / hm_size``. σ is ``sigma_fraction`` of the side.
    """
    centre = keypoints[..., :2] * (hm_size / image_size) - 0.5          # (B, J, 2) in cell units
    cells = torch.arange(hm_size, dtype=torch.float32, device=keypoints.device)
    sigma = max(sigma_fraction * hm_size, 1.0)
    gx = torch.exp(-((cells - centre[..., 0:1]) ** 2) / (2 * sigma ** 2))   # (B, J, h)
    gy = torch.exp(-((cells - centre[..., 1:2]) ** 2) / (2 * sigma ** 2))
    inside = ((keypoints[..., :2] >= 0) & (keypoints[..., :2] < image_size)).all(-1)
    weight = ((keypoints[..., 2] >= MIN_CONF) & inside).float()
    return gy[..., :, None] * gx[..., None, :], weight


def class_weights(parsing: torch.Tensor) -> torch.Tensor:
    """``(N, R, R)`` labels → ``(n_parts,)`` cross-entropy weights ∝ 1/√frequency, mean 1.

    Background covers ~90% of a frame and a forearm ~0.5%; unweighted, the thin parts are the last
    thing the net learns, and a short schedule never gets there.
    """
    freq = torch.bincount(parsing.flatten().long(), minlength=N_SP_PARTS).float() + 1.0
    w = freq.rsqrt()
    return w / w.mean()


def sp_losses(net: SPNet, images: torch.Tensor, parsing: torch.Tensor, keypoints: torch.Tensor,
              part_weights: torch.Tensor, sigma_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(parsing cross-entropy at full resolution, weighted heatmap MSE) of one batch.

    ``images: (B, 3, R, R)`` in [-1, 1], ``parsing: (B, R, R) long``, ``keypoints: (B, J, 3)``,
    ``part_weights: (n_parts,)`` per-class weights of the cross-entropy, ``sigma_fraction`` the
    heatmap σ as a fraction of the image side.
    """
    logits, heatmaps = net(images)
    logits = F.interpolate(logits, size=parsing.shape[-2:], mode="bilinear", align_corners=False)
    ce = F.cross_entropy(logits, parsing, weight=part_weights)
    target, weight = heatmap_targets(keypoints, images.shape[-1], heatmaps.shape[-1], sigma_fraction)
    mse = ((heatmaps - target) ** 2 * weight[..., None, None]).mean()
    return ce, mse


def fit(net: SPNet, data: SPSet, params: TrainSPParams, device: torch.device) -> np.ndarray:
    """Train ``net`` in place with Adam for ``params.iters`` batches; returns the ``(iters, 2)``
    training losses (parsing CE, heatmap MSE)."""
    gen = torch.Generator().manual_seed(params.seed)
    opt = torch.optim.Adam(net.parameters(), lr=params.lr)
    # A cosine decay lets the short demo schedule settle instead of ending mid-oscillation.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=params.iters)
    part_weights = class_weights(data.parsing).to(device)
    net.train()
    history = torch.zeros(params.iters, 2, device=device)
    for it in tqdm(range(params.iters), desc="train_sp", unit="it"):
        idx = torch.randint(0, len(data), (params.batch_size,), generator=gen)
        batch = data.images[idx].to(device), data.parsing[idx].to(device), data.keypoints[idx].to(device)
        images, parsing, kp = augment(to_input(batch[0]), batch[1].long(), batch[2], gen)
        ce, mse = sp_losses(net, images, parsing, kp, part_weights, params.sigma)
        opt.zero_grad(set_to_none=True)
        (ce + params.w_heatmap * mse).backward()
        opt.step()
        sched.step()
        history[it] = torch.stack([ce.detach(), mse.detach()])
    net.eval()
    return history.cpu().numpy()


def peak_positions(heatmaps: torch.Tensor) -> torch.Tensor:
    """``(N, J, h, w)`` → ``(N, J, 2)`` x, y of each map's maximum in cell units (cell j centred at j),
    refined by a parabola through the peak and its two neighbours along each axis."""
    n, j, h, w = heatmaps.shape
    flat = heatmaps.flatten(2).argmax(-1)
    iy, ix = flat // w, flat % w
    padded = F.pad(heatmaps, (1, 1, 1, 1), mode="replicate").flatten(0, 1)
    k = torch.arange(n * j, device=heatmaps.device)

    def offset(prev: torch.Tensor, peak: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        curvature = prev - 2 * peak + nxt
        delta = 0.5 * (prev - nxt) / torch.where(curvature < 0, curvature, torch.full_like(curvature, -1e9))
        return delta.clamp(-0.5, 0.5)

    cy, cx = iy.flatten() + 1, ix.flatten() + 1
    peak = padded[k, cy, cx]
    dx = offset(padded[k, cy, cx - 1], peak, padded[k, cy, cx + 1])
    dy = offset(padded[k, cy - 1, cx], peak, padded[k, cy + 1, cx])
    return torch.stack([ix.flatten() + dx, iy.flatten() + dy], -1).view(n, j, 2)


@torch.no_grad()
def predict(net: SPNet, frames: np.ndarray, resolution: int, device: torch.device
            ) -> tuple[np.ndarray, np.ndarray]:
    """Parsing and keypoints for ``frames: (N, S, S, 3) uint8``, at the frame size S.

    Returns ``parsing: (N, S, S) uint8`` 0..10 (logits upsampled bilinearly) and
    ``keypoints: (N, J, 2) float32`` x, y in pixels of S (the heatmap peaks scaled up).
    """
    size = frames.shape[1]
    x = to_input(torch.from_numpy(np.stack([resize_area(f, resolution) for f in frames])).permute(0, 3, 1, 2)).to(device)
    logits, heatmaps = net(x)
    parsing = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False).argmax(1)
    xy = (peak_positions(heatmaps.float()) + 0.5) * (size / heatmaps.shape[-1])
    return parsing.to(torch.uint8).cpu().numpy(), xy.cpu().numpy()


def body_size(kp: np.ndarray) -> np.ndarray:
    """``kp: (N, J, 3)`` → ``(N,)`` the longer side of the box around the confident joints, the
    reference length of PCK."""
    conf = kp[..., 2:] >= MIN_CONF
    lo = np.where(conf, kp[..., :2], np.inf).min(1)
    hi = np.where(conf, kp[..., :2], -np.inf).max(1)
    return np.nan_to_num((hi - lo).max(-1), neginf=0.0)


def score_sp(net: SPNet, frames: FrameStore, pose: PoseStore, indices: np.ndarray, resolution: int,
             device: torch.device) -> dict:
    """Test metrics at the frame size over the frames ``indices`` (increasing)."""
    confusion = np.zeros((N_SP_PARTS, N_SP_PARTS), np.int64)    # [truth, predicted] pixel counts
    errors, hits = [], []
    for start in tqdm(range(0, len(indices), CHUNK), desc="evaluate", unit="chunk", leave=False):
        idx = indices[start:start + CHUNK]
        pred_parse, pred_xy = predict(net, frames[idx], resolution, device)
        truth = pose.parsing(idx)
        pairs = truth.astype(np.int64).ravel() * N_SP_PARTS + pred_parse.ravel()
        confusion += np.bincount(pairs, minlength=N_SP_PARTS ** 2).reshape(N_SP_PARTS, N_SP_PARTS)
        kp = pose.keypoints[idx][:, list(SP_JOINTS)]
        scored = kp[..., 2] >= MIN_CONF
        dist = np.linalg.norm(pred_xy - kp[..., :2], axis=-1)
        errors.append(dist[scored])
        hits.append((dist <= PCK_FRACTION * body_size(kp)[:, None])[scored])
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    per_part = {name: float(inter[i + 1] / union[i + 1]) for i, name in enumerate(skeleton.PART_NAMES)
                if union[i + 1] > 0}
    errors, hits = np.concatenate(errors), np.concatenate(hits)
    return {
        "iou": float(np.mean(list(per_part.values()))) if per_part else 0.0,
        "iou_per_part": per_part,
        "kp_error_px": float(errors.mean()) if len(errors) else float("nan"),
        "pck": float(hits.mean()) if len(hits) else float("nan"),
    }


def split_indices(video: PersonalVideo) -> tuple[np.ndarray, np.ndarray]:
    """Valid frame indices of the (train, test) split the pairs stage recorded, each non-empty."""
    for name, idx in (("train", video.train_frames), ("test", video.test_frames)):
        if len(idx) == 0:
            raise DanceGenError(video.paths.pose, f"the {name} split has no valid detection to learn or test on")
    return video.train_frames, video.test_frames


def even_subset(indices: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``indices``, evenly spaced: neighbouring video frames are near duplicates."""
    if len(indices) <= n:
        return indices
    return indices[np.linspace(0, len(indices) - 1, n).round().astype(int)]


def train_sp(video: PersonalVideo, params: TrainSPParams, out_dir: str | Path) -> dict:
    """Train an SPNet on one video, evaluate it, and write ``sp.pt`` and ``metrics.json`` into the
    directory ``out_dir`` (which appears, or is replaced, only when both are written).

    Returns the metrics: ``iou`` (mean over the parts), ``iou_per_part``, ``kp_error_px``, ``pck``,
    ``n_train``, ``n_test``, ``iters``, ``seconds`` and the mean training losses over the first and
    last tenth of the iterations.
    """
    started = time.perf_counter()
    device = compute_device()
    torch.manual_seed(params.seed)
    train_idx, test_idx = split_indices(video)
    data = load_set(video.frames, video.pose, even_subset(train_idx, params.max_frames), params.resolution)
    net = SPNet(params.width).to(device)
    history = fit(net, data, params, device)
    metrics = score_sp(net, video.frames, video.pose, test_idx, params.resolution, device)
    tenth = max(params.iters // 10, 1)
    metrics.update(
        n_train=len(data), n_test=len(test_idx), iters=params.iters,
        loss_parse_start=float(history[:tenth, 0].mean()), loss_parse_end=float(history[-tenth:, 0].mean()),
        loss_pose_start=float(history[:tenth, 1].mean()), loss_pose_end=float(history[-tenth:, 1].mean()),
        seconds=round(time.perf_counter() - started, 1),
    )
    meta = {"params": asdict(params), "joints": list(SP_JOINTS), "frame_size": video.size,
            "frames": str(video.paths.frames), "pose": str(video.paths.pose), "metrics": metrics}
    with atomic_dir(out_dir) as tmp:
        save_sp(tmp / "sp.pt", net.cpu(), meta)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
