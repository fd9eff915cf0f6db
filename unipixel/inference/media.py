"""Media in and out of the predictor: an image, a video file or a folder of frames as one `(T, H, W, 3)` array, and
overlay videos written back as MP4.

    media = load_media("clip.mp4")                  # every frame; `max_frames=N` keeps N uniformly spaced ones
    media = open_media("clip.mp4")                  # the same, decoded only where indexed (`LazyFrames`)
    media.frames.shape, media.fps, media.names[:2]  # (T, H, W, 3) uint8, 30.0, ['00000', '00001']
    write_video("overlay.mp4", frames, fps=media.fps or 10)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.io import IMAGE_EXTENSIONS, VideoReader, read_image
from ..data.sampling import force_frames, uniform_indices

logger = logging.getLogger(__name__)

DEFAULT_FOLDER_FPS = 10.0
# Video files: PyAV first. It decodes a file front to back in one pass with memory flat in the video's length, which
# streaming needs (`VideoReader.iter_chunks`); decord, first in the data pipeline, holds memory that grows with the
# video (measured: +0.38 GB reading a 1600-frame 320 x 240 video in chunks, +0.06 GB for 100 frames). Streaming and
# non-streaming inference both read through this order, so they see the same frames.
MEDIA_VIDEO_BACKENDS = ("pyav", "opencv", "decord")


@dataclass
class Media:
    """Decoded frames of one request.

    Attributes:
        frames: `(T, H, W, 3)` uint8 RGB: an array, or from `open_media` a `LazyFrames` that decodes when indexed.
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
    return force_frames(uniform_indices(num_frames, n), required)


class LazyFrames:
    """`(T, H, W, 3)` uint8 frames of a video file or frame folder, decoded when indexed.

    `frames[i]`, `frames[[i, j]]`, `frames[a:b]` decode only those frames; `np.asarray(frames)` decodes all of them;
    `chunks(n)` yields them `n` at a time, each chunk decoded when its turn comes.

    Args:
        reader: the `VideoReader` of the source. index: the source frames this view holds, in order.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, reader: VideoReader, index: Sequence[int]):
        self.reader = reader
        self.index = [int(i) for i in index]
        if not self.index:
            raise ValueError(f"{reader.path}: no frames to read")
        first = reader.get(self.index[:1])
        self.shape = (len(self.index), *first.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def _positions(self, key) -> list[int]:
        if isinstance(key, slice):
            return list(range(len(self)))[key]
        if isinstance(key, torch.Tensor):
            key = key.tolist()
        return [int(k) for k in np.asarray(key).reshape(-1)]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.reader.get([self.index[int(key)]])[0]
        positions = self._positions(key)
        if not positions:
            return np.zeros((0, *self.shape[1:]), dtype=np.uint8)
        return self.reader.get([self.index[p] for p in positions])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """The frames in order, `size` at a time (the last chunk may be shorter)."""
        return self.reader.iter_chunks(self.index, size)


def frame_chunks(frames, size: int) -> Iterator[np.ndarray]:
    """`(n, H, W, 3)` uint8 chunks of `frames` (a `LazyFrames`, an array or a tensor), in order."""
    if isinstance(frames, LazyFrames):
        yield from frames.chunks(size)
        return
    for start in range(0, len(frames), size):
        chunk = frames[start : start + size]
        yield chunk.numpy() if isinstance(chunk, torch.Tensor) else np.asarray(chunk)


def load_media(media, max_frames: int | None = None, fps: float | None = None, keep: Sequence[int] = ()) -> Media:
    """Decode `media`: a `(H, W, 3)` / `(T, H, W, 3)` uint8 array or tensor, an image file, a video file (PyAV, then
    OpenCV, then decord: `MEDIA_VIDEO_BACKENDS`) or a folder of frame images (natural order).

    Args:
        max_frames: keep at most this many uniformly spaced frames (first and last included) of a video or folder;
            the frames in `keep` (source indices, e.g. prompted frames) are forced in.
        fps: frame rate of a frame folder or array (default 10 for folders); videos use their container's rate.

    Raises `FileNotFoundError` for a missing path and `unipixel.data.errors.DataError` (naming the file) for a file
    that cannot be decoded. `open_media` takes the same arguments and decodes nothing up front.
    """
    media = open_media(media, max_frames, fps, keep)
    if isinstance(media.frames, LazyFrames):
        media.frames = np.asarray(media.frames)
    return media


def open_media(media, max_frames: int | None = None, fps: float | None = None, keep: Sequence[int] = ()) -> Media:
    """`load_media` without decoding a video or a frame folder up front: the returned `Media.frames` is a
    `LazyFrames` (only the first frame is read, for the size). Images and arrays come back as `load_media` gives them;
    an already loaded `Media` is returned as it is. Arguments and errors as in `load_media`."""
    if isinstance(media, Media):
        return media
    if isinstance(media, (np.ndarray, torch.Tensor)):
        frames = _as_frames(media)
        return Media(frames, "array", fps, list(range(len(frames))), [f"{i:05d}" for i in range(len(frames))])
    path = Path(media)
    if not path.exists():
        raise FileNotFoundError(f"media not found: {path}")
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        return Media(read_image(path, "predict", path.name)[None], "image", None, [0], [path.stem], str(path))
    reader = VideoReader(
        path, MEDIA_VIDEO_BACKENDS, dataset="predict", sample_id=path.name, fps=fps or DEFAULT_FOLDER_FPS
    )
    total = reader.num_frames
    keep = [int(f) for f in keep if 0 <= int(f) < total]  # others: the caller reports them (it knows what they are)
    index = list(range(total)) if not max_frames else select_frames(total, max_frames, keep)
    rate = reader.fps or None
    if rate and 1 < len(index) < total:
        rate = rate * (len(index) - 1) / (total - 1)  # the kept frames span the same duration
    frames = LazyFrames(reader, index)
    if reader.frame_paths is not None:
        names = [reader.frame_paths[i].stem for i in index]
        if len(set(names)) != len(names):
            names = [f"{i:05d}" for i in index]
        return Media(frames, "frames", rate, index, names, str(path))
    return Media(frames, "video", rate, index, [f"{i:05d}" for i in index], str(path))


class VideoWriter:
    """An H.264 MP4 written frame by frame with PyAV (yuv420p; yuv444p when a side is odd, which 4:2:0 cannot store):
    `add(frame)` for each `(H, W, 3)` uint8 RGB frame, then `close()` (or use it as a context manager). `crf` 0-51:
    lower is closer to the input."""

    def __init__(self, path: str | Path, height: int, width: int, fps: float = DEFAULT_FOLDER_FPS, crf: int = 18):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w")
        self.stream = self.container.add_stream("libx264", rate=max(1, round(float(fps))))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        self.stream.options = {"crf": str(crf)}

    def add(self, frame: np.ndarray) -> None:
        import av

        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(image):
            self.container.mux(packet)

    def close(self) -> Path:
        if self.container is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            self.container = None
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str | Path, frames: np.ndarray, fps: float = DEFAULT_FOLDER_FPS, crf: int = 18) -> Path:
    """Write `(T, H, W, 3)` uint8 RGB frames as an H.264 MP4 (`VideoWriter`)."""
    frames = _as_frames(frames)
    with VideoWriter(path, frames.shape[1], frames.shape[2], fps, crf) as writer:
        for frame in frames:
            writer.add(frame)
    return Path(path)
