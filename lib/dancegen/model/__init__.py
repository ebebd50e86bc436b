"""What a trained model is: its variants (variants/), the generators and their composition, the one
input builder, a personal video opened once, the training dataset, and the networks (nets/).
"""
