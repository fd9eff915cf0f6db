"""unipixel: UniPixel (unified object referring and segmentation on Qwen2.5-VL + SAM 2.1), training and evaluation.

Importing the package registers UniPixel with transformers' Auto classes (`AutoConfig`, `AutoModel`,
`AutoModelForImageTextToText`) lazily: nothing heavy is imported until transformers is (`unipixel.auto_registration`).
"""

from .auto_registration import install as _register_with_transformers_auto_classes

__version__ = "0.1.0"

_register_with_transformers_auto_classes()
