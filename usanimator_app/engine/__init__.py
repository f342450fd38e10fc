"""Torch engine: losses, training, animation, evaluation (no Qt)."""
