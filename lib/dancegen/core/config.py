"""``params.yaml`` → frozen, validated dataclasses, read once per stage.

Every section of ``params.yaml`` has one dataclass here; unknown keys, wrong types and values out
of range raise :class:`DanceGenError` naming ``params.yaml`` and the key, all when the file is
loaded, before any stage does work. Functions take the values they need, not the whole
:class:`Params`. The dataclasses' defaults are ``params.yaml``'s values (a test holds them equal);
the paper's setting is ``params.paper.yaml``, the keys where it differs (:func:`override_args`).

    python -m dancegen.core.config --set-args params.paper.yaml   # -> -S key=value ... for dvc exp run
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dancegen.core.errors import DanceGenError

# The variants a personal model can be trained as: the modules of dancegen.model.variants, listed
# there without importing any of them (the one name the config takes from a layer above it).
from dancegen.model.variants import NAMES as VARIANTS  # noqa: E402


@dataclass(frozen=True)
class DemoParams:
    seed: int = 0
    size: int = 256
    fps: int = 30
    personal_seconds: float = 40.0
    reference_seconds: float = 10.0


@dataclass(frozen=True)
class ExtractParams:
    size: int = 256          # side of the square frames, pixels
    fps: int = 30            # output rate; every source is resampled to it
    margin: float = 0.15     # room kept around the person's box when choosing the square crop
    probe_frames: int = 12   # frames sampled to locate the person before decoding


@dataclass(frozen=True)
class PoseParams:
    backend: str = "mediapipe"            # mediapipe | openpose_json | alphapose_json
    model_complexity: int = 1             # only 1 ships inside the mediapipe wheel
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    mask_threshold: float = 0.5           # person-mask probability above which a pixel is the person
    json: dict = field(default_factory=dict)  # video name -> OpenPose folder / AlphaPose JSON file
    workers: int = 2                      # processes, each detecting a run of consecutive frames


@dataclass(frozen=True)
class BackgroundParams:
    dilate_px: int = 9       # grow the person mask before averaging, so halos stay out of B


@dataclass(frozen=True)
class PairsParams:
    train_fraction: float = 0.85
    n_train: int = 2000
    n_test: int = 100
    seed: int = 0
    near_fraction: float = 0.8  # share of training pairs with a nearest-pose I_in (0: all random)
    near_k: int = 10            # I_in of a near pair is one of the k training frames of nearest pose


@dataclass(frozen=True)
class PosemapParams:
    K: int = 3                 # current + K-1 previous reference poses
    sigma: float = 1.5         # Gaussian smoothing, pixels of a 128² map (scales with the map side)
    limb_width: float = 1.0    # multiplier on the schema's limb widths
    landmark_radius: float = 1.5  # disc radius per landmark, pixels of a 128² map
    min_conf: float = 0.3      # keypoints below this confidence count as missing


SOURCES = ("single", "per_part")        # sources.mode (dancegen.model.sources)


@dataclass(frozen=True)
class SourcesParams:
    mode: str = "per_part"     # single (the paper's: every part from I_in) | per_part (each part from the
                               # training frame that shows it best, dancegen.model.sources)
    exclude_window: int = 15   # training pairs: no part from within this many frames of I_ref
    w_context: float = 2.0     # weight of the part's neighbours (body facing, the joint it hangs from)
    w_visible: float = 1.0     # cost of a part hidden or unparsed in a candidate frame (1 − its visible share)
    keep_margin: float = 0.15  # I_in keeps a part unless a frame poses it nearer by more than this (cost units)


@dataclass(frozen=True)
class ModelParams:
    ngf: int = 16              # generator base width (pix2pixHD 64, the paper halves it: 32)
    n_downsample: int = 3
    n_blocks: int = 4          # residual blocks of the global generator g
    n_local_blocks: int = 2    # residual blocks of the local enhancer
    ndf: int = 16
    n_layers_d: int = 3
    num_d_low: int = 2         # discriminator scales at the low resolution
    num_d_high: int = 3        # ... and at the high resolution
    upsample: str = "resize"   # resize (nearest ×2 + 3×3 conv) | transpose (pix2pixHD, the paper)
    compose: str = "flow"      # flow (blend, and the synthesis net moves the tangram's parts first) | blend
                               # (the nets correct the composites they are given) | paper
    stem: int = 0              # 0: the 7×7 stems read every input channel (pix2pixHD, the paper) | N: a 1×1
                               # projection of the inputs to N channels first (~4× cheaper stems)


@dataclass(frozen=True)
class TrainParams:
    variants: list = field(default_factory=lambda: list(VARIANTS))
    half_size: list = field(default_factory=list)   # variants trained and run at half low_res and high_res
    low_res: int = 64
    high_res: int = 128
    low_iters: int = 300
    high_iters: int = 150
    batch_size: int = 1
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    workers: int = 0
    precision: str = "auto"     # auto | fp32 | bf16 | fp16 (mixed precision on CUDA only)
    compile: bool = False       # torch.compile the generators (the discriminators run eager)
    seed: int = 0
    ema_decay: float = 0.99     # decay of the generators' weight average that is saved; 0 = the last weights
    checkpoint_every: int = 100
    log_every: int = 10
    sample_every: int = 100


PERCEPTUAL = ("auto", "vgg19", "efficientnet_lite0", "off")
COMPOSE = ("flow", "blend", "paper")    # model.compose (dancegen.model.generators)
ENGINES = ("openvino", "torch")          # infer.engine (dancegen.transfer.engine)
SYNTHESIS_TARGETS = ("both", "green", "scene")  # loss.synthesis_target (dancegen.model.generators.SYNTHESIS_JUDGED)


@dataclass(frozen=True)
class LossParams:
    w_rela: float = 1.0
    w_gp: float = 10.0
    gp_every: int = 1           # lazy gradient penalty: every k-th step only, weighted k·w_gp (1: every step)
    w_fm: float = 10.0
    w_vgg: float = 10.0
    w_sp: float = 10.0
    w_s: float = 0.01
    vgg_weights: str = "auto"   # path to a torchvision-layout VGG19 state dict, or auto = torch hub cache
    perceptual: str = "auto"    # auto (VGG19 when its weights are found, else EfficientNet-Lite0) |
                                # vgg19 | efficientnet_lite0 | off; weighted by w_vgg
    w_l1: float = 10.0          # L1 reconstruction term on every branch (not in the paper)
    w_synthesis: float = 1.0    # weight of the synthesis net's own losses; 0 = the paper's Ours-baseline
    synthesis_target: str = "both"    # what judges the synthesis net: green (Ĩ_out against Ĩ_ref,
                                      # the paper's) | scene (I_comb against I_ref) | both


@dataclass(frozen=True)
class TrainSPParams:
    resolution: int = 64
    width: int = 16
    iters: int = 600
    batch_size: int = 8
    lr: float = 3e-3
    w_heatmap: float = 10.0    # weight of the heatmap MSE beside the parsing cross-entropy
    sigma: float = 0.0625      # heatmap Gaussian σ, fraction of the image side: wider learns faster
    max_frames: int = 2000     # distinct training frames held in memory, evenly spaced in time
    seed: int = 0


@dataclass(frozen=True)
class RefineParams:
    """The HD refiner (:mod:`dancegen.train.refine`), trained after a correcting variant's nets."""

    iters: int = 0              # Adam steps; 0: no refiner (the plain HD render)
    pairs: int = 240            # training pairs rendered at H to learn from
    width: int = 32             # channels of its convolutions
    layers: int = 4             # 3 × 3 convolutions before its head
    crop: int = 128             # side (px at H) of the crops it trains on, most of them on the person
    batch_size: int = 8
    lr: float = 1e-3            # Adam, cosine decay to 0
    w_detail: float = 3.0       # weight of the detail term (local mean |Laplacian| against the truth's) beside L1
    seed: int = 0


@dataclass(frozen=True)
class InferParams:
    retarget: bool = True            # scale reference poses to the target's body size (bone lengths), place them on its floor
    background_image: str = "data/demo/scene.png"  # the new scene of the Fig. 9 composite
    edge_blur: float = 2.0           # Gaussian blur (px) of the green-key matte edge for compositing
    max_frames: int = 0              # 0 = the whole reference video
    batch_size: int = 8              # frames per generator call
    smooth_window: int = 9           # frames (odd) of the Savitzky–Golay filter on the reference keypoints; 1 = off
    smooth_order: int = 3            # its polynomial order, below smooth_window
    max_gap: int = 5                 # a joint missing for at most this many frames is interpolated; 0 = never
    size: int = 0                    # render size H: the nets run at R, their fields are applied at H; 0 = the frames' size
    engine: str = "openvino"         # what the generator nets run in on a CPU: openvino | torch (transfer/engine.py)


@dataclass(frozen=True)
class EvaluateParams:
    novelty_k: int = 10
    judge_stride: int = 2            # transfers: detection, identity and colour on every n-th frame


@dataclass(frozen=True)
class InputSpec:
    """What the generators' inputs are built from (:mod:`dancegen.model.inputs`), gathered from four
    sections: the pose maps, the person mask's threshold, the growth of the input's person region
    and where each part is taken from."""

    posemap: PosemapParams = PosemapParams()
    mask_threshold: float = 0.5       # pose.mask_threshold
    scene_dilate_px: int = 9          # background.dilate_px
    sources: SourcesParams = SourcesParams()


@dataclass(frozen=True)
class Params:
    videos: dict = field(default_factory=dict)      # video name -> path
    personal: list = field(default_factory=list)    # names of personal (target) videos
    reference: list = field(default_factory=list)   # names of reference (driving) videos
    demo: DemoParams = DemoParams()
    extract: ExtractParams = ExtractParams()
    pose: PoseParams = PoseParams()
    background: BackgroundParams = BackgroundParams()
    pairs: PairsParams = PairsParams()
    posemap: PosemapParams = PosemapParams()
    sources: SourcesParams = SourcesParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    loss: LossParams = LossParams()
    train_sp: TrainSPParams = TrainSPParams()
    refine: RefineParams = RefineParams()
    infer: InferParams = InferParams()
    evaluate: EvaluateParams = EvaluateParams()

    @property
    def inputs(self) -> InputSpec:
        return InputSpec(self.posemap, self.pose.mask_threshold, self.background.dilate_px, self.sources)

    def personal_video(self, name: str) -> str:
        """``name`` if it is one of the personal videos, else a one-line error."""
        if name not in self.personal:
            raise DanceGenError("params.yaml", f"'{name}' is not listed under personal")
        return name

    def video_path(self, name: str) -> Path:
        if name not in self.videos:
            raise DanceGenError("params.yaml", f"video '{name}' is not listed under videos")
        return Path(self.videos[name])


def _convert(value: Any, typ: Any, where: str, source: str) -> Any:
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            raise DanceGenError(source, f"'{where}' must be a mapping, got {value!r}")
        return _build(typ, value, where, source)
    origin = typing.get_origin(typ)
    if typ is bool:
        if not isinstance(value, bool):
            raise DanceGenError(source, f"'{where}' must be true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DanceGenError(source, f"'{where}' must be an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DanceGenError(source, f"'{where}' must be a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise DanceGenError(source, f"'{where}' must be a string, got {value!r}")
        return value
    if typ is list or origin is list:
        if not isinstance(value, list):
            raise DanceGenError(source, f"'{where}' must be a list, got {value!r}")
        return list(value)
    if typ is dict or origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise DanceGenError(source, f"'{where}' must be a mapping, got {value!r}")
        return dict(value)
    if isinstance(typ, types.UnionType):
        return value
    raise TypeError(f"unsupported config type {typ!r} for {where}")


def _build(cls: type, raw: dict, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise DanceGenError(source, f"unknown key '{key}' (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name in names:
        if name in raw:
            where = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _convert(raw[name], hints[name], where, source)
    return cls(**kwargs)


def _check(p: Params, source: str) -> None:
    def bad(key: str, problem: str) -> DanceGenError:
        return DanceGenError(source, f"'{key}' {problem}")

    for name in list(p.personal) + list(p.reference):
        if name not in p.videos:
            raise bad("personal/reference", f"names video '{name}', which is not under 'videos'")
    _check_pose(p.pose, bad)
    _check_fractions(p, bad)
    _check_sizes_and_counts(p, bad)
    for key in ("variants", "half_size"):
        unknown_variants = set(getattr(p.train, key)) - set(VARIANTS)
        if unknown_variants:
            raise bad(f"train.{key}", f"has unknown variant(s) {sorted(unknown_variants)}; "
                      f"known: {', '.join(VARIANTS)}")
    check_schedule(p.train, source)
    _check_infer(p.infer, bad)
    _check_choices_and_loss(p, bad)
    _check_training(p, bad)
    _check_train_sp(p.train_sp, bad)
    _check_refine(p.refine, bad)


def _check_pose(pose: PoseParams, bad) -> None:
    if pose.backend not in ("mediapipe", "openpose_json", "alphapose_json"):
        raise bad("pose.backend", f"must be mediapipe, openpose_json or alphapose_json, got '{pose.backend}'")
    if pose.model_complexity != 1:
        raise bad("pose.model_complexity", "must be 1: MediaPipe's complexities 0 and 2 download their "
                  "models at run time, which this tool never does")
    if not isinstance(pose.workers, int) or pose.workers < 1:
        raise bad("pose.workers", f"must be a whole number of processes, at least 1, got {pose.workers!r}")


def _check_fractions(p: Params, bad) -> None:
    if not 0.0 < p.pairs.train_fraction < 1.0:
        raise bad("pairs.train_fraction", f"must be between 0 and 1, got {p.pairs.train_fraction}")
    if not 0.0 <= p.train.ema_decay < 1.0:
        raise bad("train.ema_decay", f"must be in [0, 1), got {p.train.ema_decay}")
    if not 0.0 <= p.pairs.near_fraction <= 1.0:
        raise bad("pairs.near_fraction", f"must be between 0 and 1, got {p.pairs.near_fraction}")


def _check_sizes_and_counts(p: Params, bad) -> None:
    for key, val in (("extract.size", p.extract.size), ("demo.size", p.demo.size)):
        if val < 32 or val % 2:
            raise bad(key, f"must be an even number of pixels >= 32, got {val}")
    for key, val in (("extract.fps", p.extract.fps), ("demo.fps", p.demo.fps),
                     ("pairs.n_train", p.pairs.n_train), ("pairs.n_test", p.pairs.n_test),
                     ("pairs.near_k", p.pairs.near_k),
                     ("posemap.K", p.posemap.K), ("train.batch_size", p.train.batch_size),
                     ("infer.batch_size", p.infer.batch_size), ("evaluate.novelty_k", p.evaluate.novelty_k),
                     ("evaluate.judge_stride", p.evaluate.judge_stride)):
        if val < 1:
            raise bad(key, f"must be at least 1, got {val}")
    for key, val in (("posemap.sigma", p.posemap.sigma), ("posemap.min_conf", p.posemap.min_conf)):
        if val < 0:
            raise bad(key, f"must be >= 0, got {val}")
    for key, val in (("posemap.limb_width", p.posemap.limb_width),
                     ("posemap.landmark_radius", p.posemap.landmark_radius)):
        if val <= 0:
            raise bad(key, f"must be > 0, got {val}")


def _check_infer(infer: InferParams, bad) -> None:
    for key, val in (("infer.max_frames", infer.max_frames), ("infer.edge_blur", infer.edge_blur),
                     ("infer.max_gap", infer.max_gap), ("infer.smooth_order", infer.smooth_order),
                     ("infer.size", infer.size)):
        if val < 0:
            raise bad(key, f"must be >= 0, got {val}")
    if infer.smooth_window < 1 or infer.smooth_window % 2 == 0:
        raise bad("infer.smooth_window", f"must be an odd number of frames >= 1, got {infer.smooth_window}")
    if infer.smooth_window > 1 and infer.smooth_order >= infer.smooth_window:
        raise bad("infer.smooth_order", f"must be below infer.smooth_window ({infer.smooth_window}), "
                  f"got {infer.smooth_order}")


def _check_choices_and_loss(p: Params, bad) -> None:
    for key, val, known in (("model.upsample", p.model.upsample, ("resize", "transpose")),
                            ("model.compose", p.model.compose, COMPOSE),
                            ("sources.mode", p.sources.mode, SOURCES),
                            ("infer.engine", p.infer.engine, ENGINES),
                            ("loss.perceptual", p.loss.perceptual, PERCEPTUAL),
                            ("loss.synthesis_target", p.loss.synthesis_target, SYNTHESIS_TARGETS)):
        if val not in known:
            raise bad(key, f"must be one of {', '.join(known)}, got '{val}'")
    for key in ("w_rela", "w_gp", "w_fm", "w_vgg", "w_sp", "w_s", "w_l1", "w_synthesis"):
        if getattr(p.loss, key) < 0:
            raise bad(f"loss.{key}", f"must be >= 0, got {getattr(p.loss, key)}")
    for key in ("exclude_window", "w_context", "w_visible", "keep_margin"):
        if getattr(p.sources, key) < 0:
            raise bad(f"sources.{key}", f"must be >= 0, got {getattr(p.sources, key)}")
    if not isinstance(p.loss.gp_every, int) or p.loss.gp_every < 1:
        raise bad("loss.gp_every", f"must be a whole number of steps, at least 1, got {p.loss.gp_every!r}")


def _check_training(p: Params, bad) -> None:
    """train's switches, and the resolutions and width the generators' architecture needs."""
    if not isinstance(p.train.compile, bool):
        raise bad("train.compile", f"must be true or false, got {p.train.compile!r}")
    if p.train.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise bad("train.precision", f"must be auto, fp32, bf16 or fp16, got '{p.train.precision}'")
    for res_key, res in (("train.low_res", p.train.low_res), ("train.high_res", p.train.high_res)):
        if res % 2 ** (p.model.n_downsample + 1):
            raise bad(res_key, f"must be divisible by 2**(model.n_downsample+1) = "
                      f"{2 ** (p.model.n_downsample + 1)}, got {res}")
    if p.model.ngf < 2 or p.model.ngf % 2:
        raise bad("model.ngf", f"must be an even width >= 2 (G's enhancer runs at ngf/2), got {p.model.ngf}")
    if isinstance(p.model.stem, bool) or not isinstance(p.model.stem, int) or p.model.stem < 0:
        raise bad("model.stem",
                  f"must be 0 (the paper's stems) or the channels of the projection (> 0), got {p.model.stem!r}")


def check_schedule(train: TrainParams, source: str = "params.yaml") -> None:
    """Raise DanceGenError (``source``) on a training schedule the generators cannot follow."""
    if train.low_iters < 0 or train.high_iters < 0 or train.low_iters + train.high_iters == 0:
        raise DanceGenError(source, "'train.low_iters' and 'train.high_iters' must be >= 0 "
                            "and not both 0")
    if train.half_size and (train.low_res % 2 or train.high_res % 2):
        raise DanceGenError(source, f"'train.half_size' halves 'train.low_res' {train.low_res} and "
                            f"'train.high_res' {train.high_res}: both must be even")
    if train.low_iters and train.high_iters and train.high_res != 2 * train.low_res:
        raise DanceGenError(source, f"'train.high_res' must be twice 'train.low_res' (G runs its "
                            f"g on the input halved), got {train.high_res} and {train.low_res}")
    for key in ("checkpoint_every", "log_every", "sample_every"):
        if getattr(train, key) < 1:
            raise DanceGenError(source, f"'train.{key}' must be at least 1")


def _check_train_sp(sp: TrainSPParams, bad) -> None:
    if sp.resolution < 16 or sp.resolution % 16:
        raise bad("train_sp.resolution", f"must be a multiple of 16 (SPNet halves it 4 times), got {sp.resolution}")
    for key in ("width", "iters", "batch_size", "max_frames"):
        if getattr(sp, key) < 1:
            raise bad(f"train_sp.{key}", f"must be at least 1, got {getattr(sp, key)}")
    for key in ("lr", "sigma"):
        if getattr(sp, key) <= 0:
            raise bad(f"train_sp.{key}", f"must be > 0, got {getattr(sp, key)}")
    if sp.w_heatmap < 0:
        raise bad("train_sp.w_heatmap", f"must be >= 0, got {sp.w_heatmap}")


def _check_refine(refine: RefineParams, bad) -> None:
    for key in ("pairs", "width", "layers", "batch_size"):
        if getattr(refine, key) < 1:
            raise bad(f"refine.{key}", f"must be at least 1, got {getattr(refine, key)}")
    if refine.iters < 0:
        raise bad("refine.iters", f"must be >= 0 (0: no refiner), got {refine.iters}")
    if refine.crop < 8 or refine.crop % 2:
        raise bad("refine.crop", f"must be an even number of pixels, at least 8, got {refine.crop}")
    if refine.lr <= 0 or refine.w_detail < 0:
        raise bad("refine.lr/w_detail", f"must be > 0 and >= 0, got {refine.lr} and {refine.w_detail}")


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise DanceGenError(path, "not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DanceGenError(path, f"not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise DanceGenError(path, "must be a mapping of sections")
    return raw


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``; raise :class:`DanceGenError` on any problem."""
    path = Path(path)
    params = _build(Params, _read_yaml(path), "", str(path))
    _check(params, str(path))
    return params


def _flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        out.update(_flatten(value, f"{dotted}.") if isinstance(value, dict) and value else {dotted: value})
    return out


def _merged(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) and value else value
    return out


def override_args(overrides_path: str | Path, params_path: str | Path = "params.yaml") -> list[str]:
    """``dvc exp run`` arguments (``-S key=value`` …) that apply the overrides file to params.yaml.

    The merged params are validated first, so a mistyped key or a bad value in the overrides file
    is a one-line error naming it rather than a failure hours into an experiment.
    """
    overrides_path, params_path = Path(overrides_path), Path(params_path)
    overrides, base = _read_yaml(overrides_path), _read_yaml(params_path)
    merged = _merged(base, overrides)
    _check(_build(Params, merged, "", str(overrides_path)), str(overrides_path))
    return [arg for key, value in _flatten(overrides).items()
            for arg in ("-S", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}")]


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="print the dvc exp run arguments of an overrides file")
    parser.add_argument("--set-args", type=Path, required=True, metavar="YAML")
    try:
        print(" ".join(override_args(parser.parse_args().set_args)))
    except DanceGenError as err:
        sys.exit(f"error: {err}")
