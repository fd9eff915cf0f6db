"""Inference: the stateless `Predictor` shared by the CLI, the demo and the evaluators, and mask visualisation."""

from .predictor import Prediction, Predictor, pick_device
from .visualize import PALETTE, overlay_masks

__all__ = ["Predictor", "Prediction", "pick_device", "overlay_masks", "PALETTE"]
