"""unipixel: UniPixel (unified object referring and segmentation on Qwen2.5-VL + SAM 2.1), training and evaluation."""

__version__ = "0.1.0"
