"""``ours_baseline``: the paper's Ours-baseline — the same two nets as ``ours`` without Ĩ_out's
supervision (no D_s, no synthesis losses): G_s learns only through the fusion loss flowing back
through I_comb."""

from dancegen.model.variants._two_stage import TwoStage

VARIANT = TwoStage(name="ours_baseline", label="Ours-baseline", row=2, synthesis=True,
                   composes=True, warps_parts=True, per_part=True, judge_synthesis=False,
                   summary="the two-stage GAN without the synthesis supervision (the paper's baseline)")
