"""Builders shared by the inference tests: tool modules loaded from `tools/`, a tiny checkpoint in the released
format, and generated media (image, MP4, frame folder) with known sizes."""

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.conftest import REPO
from tests.model.test_checkpoint import write_released_format

HEIGHT, WIDTH = 96, 128


def load_tool(name: str):
    """A script under `tools/` as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_model(tokenizer, seed: int = 0):
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import tiny_config

    torch.manual_seed(seed)
    return PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer)).eval()


def save_released_checkpoint(model, tokenizer, folder: Path) -> Path:
    """The model as a released UniPixel folder (bf16, legacy prefixes, 2 shards, released config) plus tokenizer."""
    write_released_format(model, folder)
    tokenizer.save_pretrained(folder)
    return folder


def bf16_reference(model):
    """What a released-format save keeps of `model`: its weights rounded through bf16, `<|mem|>` in window order."""
    state = model.state_dict()
    model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in state.items()})
    model.config.mem_token_order = "window"
    return model


def scene_frames(num_frames: int, height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """Smooth frames (a gradient and a moving square) that survive video compression well."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)
    frames = np.repeat(base[None], num_frames, 0)
    colour = rng.integers(150, 255, 3)
    for t in range(num_frames):
        frames[t, 20:50, 10 + 4 * t : 40 + 4 * t] = colour
    return frames


def write_mp4_cv2(path: Path, frames: np.ndarray, fps: float = 10.0) -> Path:
    """An MP4 written with OpenCV (independent of the code under test, which writes with PyAV)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_frame_folder(folder: Path, frames: np.ndarray) -> Path:
    """Frames as `0.png, 1.png, ..., 10.png` (natural order differs from string order past 9)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i}.png")
    return folder


def decode_mp4(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])
