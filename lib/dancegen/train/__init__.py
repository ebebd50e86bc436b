"""Training a variant: the loop with checkpoints and DVCLive (loop), the generator and discriminator
objectives (objective, losses), and the L_SP pose-and-parsing network (sp).
"""
