"""``ours``: the paper's method — the two-stage model with the synthesis net judged on its own
(D_s and the losses of eq. 8 on Ĩ_out and/or I_comb, ``loss.synthesis_target``)."""

from dancegen.model.variants._two_stage import TwoStage

VARIANT = TwoStage(name="ours", label="Ours", row=3, synthesis=True,
                   composes=True, warps_parts=True, per_part=True, judge_synthesis=True,
                   summary="the two-stage GAN with the synthesis supervision (the paper's method)")
