"""UniPixel model: config, model class (registered with transformers' Auto classes on import), tiny builders."""

from .configuration import PixelQwen2_5_VLConfig
from .modeling import PixelGenerateOutput, PixelQwen2_5_VLForConditionalGeneration

__all__ = ["PixelQwen2_5_VLConfig", "PixelQwen2_5_VLForConditionalGeneration", "PixelGenerateOutput"]
