"""Inference: the stateless `Predictor` shared by the CLI, the demo and the evaluators, media I/O and mask overlays."""

from .media import LazyFrames, Media, load_media, open_media, write_video
from .predictor import Prediction, Predictor, Request, VisualPrompt, load_predictor, pick_device
from .streaming import FrameMasks, MaskStream
from .visualize import PALETTE, overlay_masks, overlay_video

__all__ = [
    "Predictor",
    "Prediction",
    "Request",
    "VisualPrompt",
    "pick_device",
    "load_predictor",
    "Media",
    "load_media",
    "open_media",
    "LazyFrames",
    "MaskStream",
    "FrameMasks",
    "write_video",
    "overlay_masks",
    "overlay_video",
    "PALETTE",
]
