"""Training: stage runner, Trainer subclass, trainable-module selection, partial checkpoints."""
