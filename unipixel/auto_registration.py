"""`import unipixel` makes transformers' Auto classes know UniPixel, without importing torch or transformers itself.

`AutoConfig.from_pretrained(path)` / `AutoModel.from_pretrained(path)` on a UniPixel folder need the
`pixel_qwen2_5_vl` model type registered, which `unipixel.model` does on import; importing it here would make every
`import unipixel` (e.g. only the metrics) pay for torch, transformers and SAM 2. Instead, when transformers' Auto
config module is first imported (it imports torch itself), a stand-in is put into its config mapping; the first time
a UniPixel config is asked for, the stand-in imports `unipixel.model`, whose import registers the real config and
model classes (with AutoConfig, AutoModel and AutoModelForImageTextToText), and hands the call on.
"""

from __future__ import annotations

import importlib.abc
import sys

MODEL_TYPE = "pixel_qwen2_5_vl"
TRIGGER = "transformers.models.auto.configuration_auto"


def real_config_class():
    """The real config class; importing `unipixel.model` registers it and the model class with the Auto classes."""
    import unipixel.model

    return unipixel.model.PixelQwen2_5_VLConfig


class LazyPixelConfig:
    """Stands in for `PixelQwen2_5_VLConfig` in AutoConfig's mapping until `unipixel.model` is imported."""

    model_type = MODEL_TYPE

    def __new__(cls, *args, **kwargs):  # AutoConfig.for_model(model_type, ...) calls the class
        return real_config_class()(*args, **kwargs)

    @classmethod
    def from_dict(cls, *args, **kwargs):  # AutoConfig.from_pretrained
        return real_config_class().from_dict(*args, **kwargs)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return real_config_class().from_pretrained(*args, **kwargs)


def register_stand_in(configuration_auto) -> None:
    mapping = configuration_auto.CONFIG_MAPPING
    if MODEL_TYPE not in mapping:  # the real class may be registered already
        mapping.register(MODEL_TYPE, LazyPixelConfig, exist_ok=True)


class _AfterConfigurationAuto(importlib.abc.MetaPathFinder):
    """Finds transformers' Auto config module with the other finders, and registers the stand-in once it has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TRIGGER:
            return None
        sys.meta_path.remove(self)  # one shot
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        else:
            return None
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            register_stand_in(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register now if transformers' Auto config module is loaded already, else when it is."""
    if TRIGGER in sys.modules:
        register_stand_in(sys.modules[TRIGGER])
    elif not any(isinstance(f, _AfterConfigurationAuto) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterConfigurationAuto())
