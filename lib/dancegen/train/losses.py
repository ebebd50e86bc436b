"""The losses of Sec. 3.5 (eqs. 3-7), on :class:`MultiscaleDiscriminator` outputs.

Discriminator outputs are lists over scales of lists over layers of (B, C, H, W) tensors; the last
layer of each scale is the patch prediction (B, 1, H_p, W_p). Adversarial and feature-matching
terms are averaged over scales. Weights (w_rela, w_GP, w_FM, w_VGG, w_SP) are the caller's.

Relativistic average LSGAN (eq. 4). With D(·) the patch predictions, μ(·) their mean over the batch
and the patches of one scale, x the generated and y the real images, this module uses

    L_D = ½ E[(D(y) − μ(D(x)) − 1)²] + ½ E[(D(x) − μ(D(y)) + 1)²]
    L_G = ½ E[(D(x) − μ(D(y)) − 1)²] + ½ E[(D(y) − μ(D(x)) + 1)²]

which is the RaLSGAN of Jolicoeur-Martineau [13], the paper's cited source. Eq. 4 as printed has
target 0, not −1, in each second term, carried over from LSGAN's fake target in eq. 3; for the real
minus fake gap d of the means it asks d = 1 and d = 0 at once, settling at d = ½ (and −½ for G).
With −1 both terms agree on d = 1 (and −1 for G), as in [13].
"""

from __future__ import annotations

import torch
from torch import nn

from dancegen.model.nets.vgg import Vgg19Features

Outputs = list[list[torch.Tensor]]

# pix2pixHD's weights for relu1_1 ... relu5_1: deeper, coarser features count more.
VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def _predictions(outputs: Outputs) -> list[torch.Tensor]:
    return [scale[-1] for scale in outputs]


def _l1_sum(reals: list[torch.Tensor], fakes: list[torch.Tensor]) -> torch.Tensor:
    """Σ_i mean |fakes[i] − reals[i]|, reals detached."""
    return sum((f - r.detach()).abs().mean() for r, f in zip(reals, fakes, strict=True))


def _relativistic(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """½E[(pos − μ(neg) − 1)²] + ½E[(neg − μ(pos) + 1)²]: ``pos`` is pushed above ``neg``."""
    return 0.5 * ((pos - neg.mean() - 1) ** 2).mean() + 0.5 * ((neg - pos.mean() + 1) ** 2).mean()


def rela_d_loss(real_outputs: Outputs, fake_outputs: Outputs) -> torch.Tensor:
    """Eq. 4, discriminator side (see the module docstring); pass fake outputs of detached images."""
    pairs = zip(_predictions(real_outputs), _predictions(fake_outputs), strict=True)
    return torch.stack([_relativistic(real, fake) for real, fake in pairs]).mean()


def rela_g_loss(real_outputs: Outputs, fake_outputs: Outputs) -> torch.Tensor:
    """Eq. 4, generator side: fake pushed above real, gradients flow through both."""
    pairs = zip(_predictions(real_outputs), _predictions(fake_outputs), strict=True)
    return torch.stack([_relativistic(fake, real) for real, fake in pairs]).mean()


def gradient_penalty(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     cond: torch.Tensor) -> torch.Tensor:
    """WGAN-GP term of eq. 4, E[(‖∇ D(x̂, p)‖₂ − 1)²], before its weight w_GP.

    real, fake: (B, 3, H, W) images; cond: (B, C_p, H, W) pose maps. x̂ interpolates real and
    (detached) fake with one uniform weight per sample, and the gradient is taken w.r.t. the whole
    input x̂ ⊕ p. Each scale of ``disc`` is its own critic, scoring a sample by the mean of its patch
    predictions; the penalties are averaged over scales. The graph is kept, so the term trains D.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = alpha * real.detach() + (1 - alpha) * fake.detach()
    inputs = torch.cat([mixed, cond.detach()], dim=1).requires_grad_(True)
    penalties = []
    for pred in _predictions(disc(inputs)):
        score = pred.flatten(1).mean(1).sum()  # samples are independent (no batch norm in D)
        (grad,) = torch.autograd.grad(score, inputs, create_graph=True)
        penalties.append(((grad.flatten(1).norm(dim=1) - 1) ** 2).mean())
    return torch.stack(penalties).mean()


def feature_matching_loss(real_outputs: Outputs, fake_outputs: Outputs) -> torch.Tensor:
    """Eq. 5: Σ over D's layers but the prediction of mean |D^i(y) − D^i(x)|, averaged over scales.

    Real features are detached: the term trains G only.
    """
    per_scale = [_l1_sum(reals[:-1], fakes[:-1])
                 for reals, fakes in zip(real_outputs, fake_outputs, strict=True)]
    return torch.stack(per_scale).mean()


class VGGLoss(nn.Module):
    """Eq. 6: Σ_i w_i mean |φ^i(y) − φ^i(x)| over VGG19's relu1_1 ... relu5_1, w = VGG_LAYER_WEIGHTS.

    x, y: (B, 3, H, W) in [-1, 1]; the target's features are detached.
    """

    def __init__(self, vgg: Vgg19Features):
        super().__init__()
        self.vgg = vgg

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        pairs = zip(VGG_LAYER_WEIGHTS, self.vgg(real), self.vgg(fake), strict=True)
        return sum(w * (f - r.detach()).abs().mean() for w, r, f in pairs)


class FeatureLoss(nn.Module):
    """A perceptual term on any frozen feature extractor, LPIPS-style: Σ_i mean |n(φ^i(y)) − n(φ^i(x))|
    / N over its N feature maps, where n scales each pixel's feature vector to unit length over
    the channels (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
    Metric", 2018). Normalised and equally weighted, no layer's raw scale dominates: used for
    EfficientNet-Lite0, whose feature magnitudes differ from VGG's by orders between layers.

    ``features``: (B, 3, H, W) in [-1, 1] → list of (B, C_i, H_i, W_i); the target's are detached.
    """

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features

    @staticmethod
    def _unit(x: torch.Tensor) -> torch.Tensor:
        return x / x.norm(dim=1, keepdim=True).add(1e-6)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        pairs = list(zip(self.features(real), self.features(fake), strict=True))
        return sum((self._unit(f) - self._unit(r.detach())).abs().mean() for r, f in pairs) / len(pairs)


def sp_loss(phi_p_real: list[torch.Tensor], phi_p_fake: list[torch.Tensor],
            phi_s_real: list[torch.Tensor], phi_s_fake: list[torch.Tensor],
            w_s: float) -> torch.Tensor:
    """Eq. 7: Σ mean |φ_p(y) − φ_p(x)| + w_s Σ mean |φ_s(y) − φ_s(x)|, over the given feature maps.

    The lists hold the pose (p) and parsing (s) encoders' feature maps of the real and generated
    images, pairwise of equal shapes; real features are detached.
    """
    return _l1_sum(phi_p_real, phi_p_fake) + w_s * _l1_sum(phi_s_real, phi_s_fake)
