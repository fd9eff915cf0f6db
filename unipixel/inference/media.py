"""Media in and out of the predictor: an image, a video file or a folder of frames as one `(T, H, W, 3)` array, and
overlay videos written back as MP4.

    media = load_media("clip.mp4")                  # every frame; `max_frames=N` keeps N uniformly spaced ones
    media.frames.shape, media.fps, media.names[:2]  # (T, H, W, 3) uint8, 30.0, ['00000', '00001']
    write_video("overlay.mp4", frames, fps=media.fps or 10)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.io import IMAGE_EXTENSIONS, VideoReader, read_image
from ..data.sampling import uniform_indices

logger = logging.getLogger(__name__)

DEFAULT_FOLDER_FPS = 10.0


@dataclass
class Media:
    """Decoded frames of one request.

    Attributes:
        frames: `(T, H, W, 3)` uint8 RGB.
        kind: `image` (one still frame), `video` (a video file), `frames` (a frame folder) or `array`.
        fps: frames per second of the frames kept (videos: from the container, thinned by `max_frames`), else None.
        index: per kept frame, its index in the source (all frames unless `max_frames` thinned a video).
        names: per kept frame, a file stem for outputs (the frame file's stem for folders, the 5-digit index else).
        source: the path, or `<array>`.
    """

    frames: np.ndarray
    kind: str
    fps: float | None = None
    index: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    source: str = "<array>"

    @property
    def is_image(self) -> bool:
        return self.kind == "image" or (self.kind == "array" and len(self.frames) == 1)


def _as_frames(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"media arrays must be (H, W, 3) or (T, H, W, 3) uint8, got {array.shape} {array.dtype}")
    return array


def select_frames(num_frames: int, n: int, required: Sequence[int] = ()) -> list[int]:
    """`n` uniformly spaced frames (all when there are fewer; first and last included), with every `required` frame
    forced in: each replaces the closest sampled frame that is not itself required (or joins when none is left)."""
    index = [int(i) for i in uniform_indices(num_frames, n)]
    required = sorted({int(f) for f in required})
    for frame in required:
        if frame in index:
            continue
        free = [j for j, v in enumerate(index) if v not in required]
        if free:
            index[min(free, key=lambda j: (abs(index[j] - frame), index[j]))] = frame
        else:
            index.append(frame)
    return sorted(set(index))


def load_media(media, max_frames: int | None = None, fps: float | None = None, keep: Sequence[int] = ()) -> Media:
    """Decode `media`: a `(H, W, 3)` / `(T, H, W, 3)` uint8 array or tensor, an image file, a video file (decord, then
    PyAV, then OpenCV) or a folder of frame images (natural order).

    Args:
        max_frames: keep at most this many uniformly spaced frames (first and last included) of a video or folder;
            the frames in `keep` (source indices, e.g. prompted frames) are forced in.
        fps: frame rate of a frame folder or array (default 10 for folders); videos use their container's rate.

    Raises `FileNotFoundError` for a missing path and `unipixel.data.errors.DataError` (naming the file) for a file
    that cannot be decoded.
    """
    if isinstance(media, (np.ndarray, torch.Tensor)):
        frames = _as_frames(media)
        return Media(frames, "array", fps, list(range(len(frames))), [f"{i:05d}" for i in range(len(frames))])
    path = Path(media)
    if not path.exists():
        raise FileNotFoundError(f"media not found: {path}")
    name = path.name
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        return Media(read_image(path, "predict", name)[None], "image", None, [0], [path.stem], str(path))
    reader = VideoReader(path, dataset="predict", sample_id=name, fps=fps or DEFAULT_FOLDER_FPS)
    total = reader.num_frames
    keep = [int(f) for f in keep if 0 <= int(f) < total]  # others: the caller reports them (it knows what they are)
    index = list(range(total)) if not max_frames else select_frames(total, max_frames, keep)
    frames = reader.get(index)
    rate = reader.fps or None
    if rate and 1 < len(index) < total:
        rate = rate * (len(index) - 1) / (total - 1)  # the kept frames span the same duration
    if reader.frame_paths is not None:
        names = [reader.frame_paths[i].stem for i in index]
        if len(set(names)) != len(names):
            names = [f"{i:05d}" for i in index]
        return Media(frames, "frames", rate, index, names, str(path))
    return Media(frames, "video", rate, index, [f"{i:05d}" for i in index], str(path))


def write_video(path: str | Path, frames: np.ndarray, fps: float = DEFAULT_FOLDER_FPS, crf: int = 18) -> Path:
    """Write `(T, H, W, 3)` uint8 RGB frames as an H.264 MP4 with PyAV (yuv420p; yuv444p when a side is odd, which
    4:2:0 cannot store). `crf` 0-51: lower is closer to the input."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = _as_frames(frames)
    height, width = frames.shape[1:3]
    rate = max(1, round(float(fps)))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
