"""The two-stage model of Sec. 3, shared by ``ours`` and ``ours_baseline``.

T = warp_parts(I_in) (3.1); synthesis net G_s(T ⊕ P_ref) → Ĩ_out on green (3.3); H_gen its
matte; I_comb = H_gen Ĩ_out + (1 − H_gen) B (eq. 2); fusion net G_f(I_comb ⊕ P_ref) → I_out (3.4).
How the nets compose (``model.compose``: paper, blend, flow) is :mod:`dancegen.model.generators`'.
``ours`` judges the synthesis net by D_s as well (``loss.synthesis_target``: Ĩ_out against Ĩ_ref on
green, I_comb against I_ref, or both); ``ours_baseline`` trains G_s only through the fusion loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


from dancegen.body.parts import tangram_layer, warp_parts_amodal, warp_parts_with_coverage
from dancegen.model.inputs import part_stacks
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.config import LossParams
from dancegen.model.generators import (BLENDING, COMB, FINAL, FLOW_SCALE, SYNTHESIS, SYNTHESIS_JUDGED,
                                       chroma_key, compose, compose_layer, key_pooled, move_layer, on_green,
                                       upsampled)
from dancegen.model.variants.base import Variant


@dataclass(frozen=True)
class TwoStage(Variant):
    """A two-stage variant; ``judge_synthesis``: the synthesis net has losses of its own (``ours``)."""

    judge_synthesis: bool = True

    @property
    def judges_synthesis(self) -> bool:
        return self.judge_synthesis

    def corrects(self, compose: str) -> bool:
        return compose in BLENDING

    def net_channels(self, pose_channels: int, compose: str) -> dict[str, tuple[int, int]]:
        # A correcting net: image change and mask (compose_layer, compose), and for flow a 2-channel
        # flow (move_layer); a synthesising net: the image.
        out_ch, flow_ch = (4, 2 * (compose == "flow")) if self.corrects(compose) else (3, 0)
        return {SYNTHESIS: (3 * NUM_PARTS + pose_channels, out_ch + flow_ch), FINAL: (3 + pose_channels, out_ch)}

    def forward(self, generators, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``T`` (B, 30, R, R), ``synthesis`` Ĩ_out, ``key`` H_gen (B, 1, R, R), ``comb`` I_comb,
        ``final`` I_out, and the nets' raw outputs ``heads`` (synthesis, fusion) that :meth:`render`
        applies at another size; batch keys ``I_in, parsing_in, theta, part_valid, P_ref`` (and
        ``I_parts, parsing_parts`` with per-part sources) and ``B`` (paper) or ``B_in, hidden_in`` (blend, flow)."""
        pose = batch["P_ref"]
        T, coverage, hidden = self._warp(generators.config, batch)
        raw_s = generators.run(SYNTHESIS, torch.cat([T, pose], 1))
        synthesis, key, comb = self._layer(generators.config, batch, T, coverage, hidden, raw_s)
        raw_f = generators.run(FINAL, torch.cat([comb, pose], 1))
        final = compose(comb, raw_f) if self.corrects(generators.config.compose) else raw_f
        return {"T": T, SYNTHESIS: synthesis, "key": key, COMB: comb, FINAL: final, "heads": (raw_s, raw_f)}

    def render(self, generators, outputs: dict[str, torch.Tensor], batch_hd: dict[str, torch.Tensor]
               ) -> dict[str, torch.Tensor]:
        """A correcting composition at the render size: the nets' heads (flow, matte and colour change;
        gate and change) upsampled bilinearly and applied to the tangram, B_in and I_comb built from
        the person's own pixels at that size. The paper's composition synthesises: upsampled."""
        if not self.corrects(generators.config.compose):
            return super().render(generators, outputs, batch_hd)
        size = batch_hd["I_in"].shape[-2:]
        raw_s, raw_f = (upsampled(h, size, "bilinear") for h in outputs["heads"])
        synthesis, key, comb = self._layer(generators.config, batch_hd, *self._warp(generators.config, batch_hd),
                                           raw_s)
        return {SYNTHESIS: synthesis, "key": key, COMB: comb, FINAL: compose(comb, raw_f)}

    def _warp(self, config, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """T, the parts' coverage and (completed parts) their hidden share, at the batch's size."""
        # The warp in float32 even under autocast: its interpolation and fill in bfloat16 cost the
        # composite detail (0.001 foreground SSIM on a nearly static clip, benchmarks/README.md).
        with torch.autocast(batch["I_in"].device.type, enabled=False):
            images, parsing = part_stacks(batch)
            if self.corrects(config.compose) and config.hidden_parts:
                return warp_parts_amodal(images, parsing, batch["theta"], batch["part_valid"], batch["hidden_in"])
            T, coverage = warp_parts_with_coverage(images, parsing, batch["theta"], batch["part_valid"])
            return T, coverage, None

    def _layer(self, config, batch: dict[str, torch.Tensor], T: torch.Tensor, coverage: torch.Tensor,
               hidden: torch.Tensor | None, raw_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(Ĩ_out, H_gen, I_comb) from the warped parts and the synthesis net's output ``raw_s``."""
        if self.corrects(config.compose):
            # The person as a layer (colour, matte): Ĩ_out is it on green, I_comb over B_in.
            colour, alpha = tangram_layer(T, coverage, hidden)
            if config.compose == "flow":
                colour, alpha = move_layer(colour, alpha, FLOW_SCALE * raw_s[:, 4:6])
            person, key = compose_layer(colour, alpha, raw_s[:, :4])
            return on_green(person, key), key, key * person + (1 - key) * batch["B_in"]
        # Eq. 2: the person keyed out of Ĩ_out, over the background plate.
        key = chroma_key(raw_s)
        return raw_s, key, key * raw_s + (1 - key) * batch["B"]

    def judged(self, loss: LossParams) -> tuple[str, ...]:
        """``final``, and with ``judge_synthesis`` and ``loss.w_synthesis`` > 0 the outputs that judge
        the synthesis net (``loss.synthesis_target``, :data:`SYNTHESIS_JUDGED`)."""
        if loss.synthesis_target not in SYNTHESIS_JUDGED:
            raise ValueError(f"unknown synthesis target '{loss.synthesis_target}' "
                             f"(known: {', '.join(SYNTHESIS_JUDGED)})")
        if self.judge_synthesis and loss.w_synthesis > 0:
            return (*SYNTHESIS_JUDGED[loss.synthesis_target], FINAL)
        return (FINAL,)

    def matte(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              corrects: bool) -> torch.Tensor:
        """The synthesis net's own matte H_gen (``key``) when it corrects the tangram; under the
        paper's composition the chroma key of Ĩ_out (as H_gen of eq. 2), keyed on the image averaged
        over :data:`dancegen.model.generators.KEY_POOL`² pixels."""
        if corrects:
            return outputs["key"]
        return chroma_key(key_pooled(outputs[SYNTHESIS]))

    def sample_columns(self, batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                       n: int) -> list[torch.Tensor]:
        """T (the parts summed; gaps stay 0, grey) | Ĩ_out | I_comb."""
        T = outputs["T"][:n]
        parts = T.reshape(n, -1, 3, *T.shape[-2:]).sum(1)    # parts barely overlap
        return [parts, outputs[SYNTHESIS][:n], outputs[COMB][:n]]


