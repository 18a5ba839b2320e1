"""Training: the trainer loop, checkpoints, run directories and the figures a run draws."""
