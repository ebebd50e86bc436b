import pytest
import torch
from torch import nn

from dancegen.train.losses import (VGGLoss, feature_matching_loss, gradient_penalty, rela_d_loss, rela_g_loss,
                             sp_loss)
from dancegen.model.nets.discriminator import MultiscaleDiscriminator
from dancegen.model.nets.vgg import Vgg19Features

REAL = torch.tensor([0.5, 1.5, 1.0, 1.0]).view(2, 1, 1, 2)    # mean 1
FAKE = torch.tensor([0.0, 0.4, -0.4, 0.0]).view(2, 1, 1, 2)   # mean 0


def _outputs(*preds: torch.Tensor) -> list[list[torch.Tensor]]:
    """Multiscale-D-shaped outputs: a feature map the adversarial losses must ignore, then the prediction."""
    return [[torch.full((2, 4, 3, 3), 99.0), p] for p in preds]


def test_rela_d_loss_by_hand():
    # ½ mean((REAL - 0 - 1)²) + ½ mean((FAKE - 1 + 1)²) = ½·0.125 + ½·0.08
    assert rela_d_loss(_outputs(REAL), _outputs(FAKE)).item() == pytest.approx(0.1025)


def test_rela_g_loss_by_hand():
    # ½ mean((FAKE - 1 - 1)²) + ½ mean((REAL - 0 + 1)²) = ½·4.08 + ½·4.125
    assert rela_g_loss(_outputs(REAL), _outputs(FAKE)).item() == pytest.approx(4.1025)


def test_rela_losses_average_over_scales():
    zero = torch.zeros(2, 1, 1, 2)   # equal real and fake: both terms are ½·1
    assert rela_d_loss(_outputs(REAL, zero), _outputs(FAKE, zero)).item() == pytest.approx(
        (0.1025 + 1.0) / 2)
    assert rela_g_loss(_outputs(REAL, zero), _outputs(FAKE, zero)).item() == pytest.approx(
        (4.1025 + 1.0) / 2)


def test_rela_d_loss_is_zero_when_real_beats_fake_by_one():
    real, fake = torch.full((2, 1, 3, 3), 0.7), torch.full((2, 1, 3, 3), -0.3)
    assert rela_d_loss(_outputs(real), _outputs(fake)).item() == pytest.approx(0.0)
    assert rela_g_loss(_outputs(fake), _outputs(real)).item() == pytest.approx(0.0)


class LinearCritics(nn.Module):
    """Two 'scales', each a 1x1 conv: a sample's mean patch score has gradient w_c / (H W) per pixel."""

    def __init__(self, weights: list[list[float]]):
        super().__init__()
        self.convs = nn.ModuleList()
        for w in weights:
            conv = nn.Conv2d(len(w), 1, 1)
            conv.weight.data = torch.tensor(w).view(1, len(w), 1, 1)
            self.convs.append(conv)

    def forward(self, x):
        return [[conv(x)] for conv in self.convs]


def test_gradient_penalty_of_linear_critics_by_hand():
    torch.manual_seed(0)
    w1, w2 = [2.0, 2.0, 2.0, 2.0, 2.0], [1.0, 0.0, 0.0, 0.0, 0.0]
    disc = LinearCritics([w1, w2])
    real, fake, cond = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4), torch.randn(3, 2, 4, 4)
    # ‖∇‖₂ = ‖w‖ / sqrt(H W) = ‖w‖ / 4, whatever the interpolation weights
    expected = ((20 ** 0.5 / 4 - 1) ** 2 + (1 / 4 - 1) ** 2) / 2
    gp = gradient_penalty(disc, real, fake, cond)
    assert gp.item() == pytest.approx(expected, rel=1e-5)
    gp.backward()   # d/dw (‖w‖/4 - 1)² / 2 = (‖w‖/4 - 1) w / (4 ‖w‖)
    norm = 20 ** 0.5
    assert disc.convs[0].weight.grad.flatten() == pytest.approx(
        [(norm / 4 - 1) * 2.0 / (4 * norm)] * 5, rel=1e-4)


def test_gradient_penalty_trains_a_real_discriminator_only():
    torch.manual_seed(0)
    D = MultiscaleDiscriminator(3 + 6, ndf=4, n_layers=2, num_D=2)
    fake = torch.randn(2, 3, 16, 16, requires_grad=True)
    gp = gradient_penalty(D, torch.randn(2, 3, 16, 16), fake, torch.randn(2, 6, 16, 16))
    gp.backward()
    assert gp.item() > 0 and torch.isfinite(gp)
    weights = [m.weight for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)
    assert fake.grad is None


def test_feature_matching_by_hand():
    a, b, c = torch.randn(2, 4, 5, 5), torch.randn(2, 8, 3, 3), torch.randn(2, 4, 2, 2)
    pred0, pred1 = torch.randn(2, 1, 3, 3), torch.randn(2, 1, 2, 2)
    real = [[a.requires_grad_(), b, pred0], [c, pred1]]
    fake_a = (a.detach() + 1).requires_grad_()
    fake = [[fake_a, b - 0.5, pred0 + 100], [c + 2, pred1 - 100]]
    loss = feature_matching_loss(real, fake)   # predictions excluded: ((1 + 0.5) + 2) / 2
    assert loss.item() == pytest.approx(1.75)
    loss.backward()
    assert a.grad is None and fake_a.grad.abs().sum() > 0


class ShiftFeatures(nn.Module):
    """Stands in for VGG19: five 'layers' that are all the image itself."""

    def forward(self, x):
        return [x] * 5


def test_vgg_loss_layer_weights_by_hand():
    y = torch.rand(1, 3, 8, 8)
    x = (y + 0.2).requires_grad_()
    loss = VGGLoss(ShiftFeatures())(x, y)
    assert loss.item() == pytest.approx(0.2 * (1 / 32 + 1 / 16 + 1 / 8 + 1 / 4 + 1))


def test_vgg_loss_zero_for_identical_images_positive_otherwise():
    torch.manual_seed(0)
    loss = VGGLoss(Vgg19Features())
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    x = (y + 0.1 * torch.randn_like(y)).requires_grad_()
    assert loss(y.clone(), y).item() == 0.0
    value = loss(x, y)
    assert value.item() > 0
    value.backward()
    assert x.grad.abs().sum() > 0


def test_sp_loss_by_hand():
    p_real = [torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 4, 4)]
    p_fake = [torch.ones(2, 4, 8, 8), torch.full((2, 8, 4, 4), -2.0)]
    s_real, s_fake = [torch.zeros(2, 4, 8, 8)], [torch.full((2, 4, 8, 8), 10.0)]
    assert sp_loss(p_real, p_fake, s_real, s_fake, w_s=0.01).item() == pytest.approx(3.1)
