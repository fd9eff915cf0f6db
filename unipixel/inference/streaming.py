"""Long videos with flat memory: frames decoded lazily, masks decoded by SAM 2 chunk by chunk and handed on frame by
frame.

    from unipixel.inference import Predictor, VisualPrompt
    stream = predictor.predict_stream("long.mp4", "Please segment [0].", [VisualPrompt.point(40, 110)],
                                      answer="[0] <|seg|>")
    stream.text, stream.num_objects           # the LLM's part is done: only its sampled frames were decoded
    for item in stream:                       # SAM 2 runs as the loop asks: one chunk of frames at a time
        item.frame, item.masks                # media frame index, (O, H, W) bool on the CPU; write it, then drop it

`open_media` is `load_media` without the decoding: its `Media.frames` is a `LazyFrames` that decodes the frames an
index asks for (the LLM's 16, or SAM 2's next chunk). The stream's masks equal those of `Predictor.predict`, every
pixel of every frame: the same SAM 2 session, the same chunk boundaries (`chunk_size`), the same resize and threshold.
What stays in memory is a few chunks of frames (the one SAM 2 tracks, with its image features; the next one,
decoded and resized in a background thread meanwhile), the memory SAM 2 still reads (the conditioning frame, the last
`num_maskmem` frames' memories, the object pointers), and whatever the consumer keeps. On a GPU only the chunk being
encoded is on the device (SAM 2's `offload_video_to_cpu`), and `offload_state=True` keeps the memory-bank features in
CPU memory between frames (`offload_state_to_cpu`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Empty, Full, Queue

import numpy as np
import torch

from ..data.processor import sam2_transform
from .media import frame_chunks


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """`items`, produced in a background thread up to `depth` ahead of the consumer (decoding and resizing release
    the GIL, so they overlap SAM 2's work). The producer's exceptions are raised in the consumer; a consumer that
    stops early stops the producer."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((item, None), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            queue.put((done, exc))

    thread = threading.Thread(target=produce, name="unipixel-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                pass
            thread.join(timeout=0.1)


@dataclass
class FrameMasks:
    """One frame of a `MaskStream`.

    Attributes:
        position: the frame's position in the stream (0, 1, ...). frame: its index in the media.
        masks: `(O, H, W)` bool on the CPU, one per object (`<|seg|>`), at the media's resolution.
        scores: `(O,)` object-presence logits. image: the frame itself, `(H, W, 3)` uint8.
    """

    position: int
    frame: int
    masks: torch.Tensor
    scores: torch.Tensor
    image: np.ndarray


class MaskStream:
    """The answer to one request, with its masks still to be decoded: iterate it (once) for `FrameMasks`.

    Attributes:
        text, prompt, llm_frame_index: as in `Prediction`. frame_index: the media frames the masks cover, in order.
        num_objects: objects (one per `<|seg|>`). height, width: the media's frame size.
    """

    def __init__(
        self,
        model,
        frames,
        hidden: torch.Tensor | None,
        *,
        text: str,
        prompt: str,
        frame_index: list[int],
        llm_frame_index: list[int],
        chunk_size: int = 16,
        offload_state: bool = False,
        threshold: float = 0.0,
        progress: bool = False,
    ):
        self.model, self.frames, self.hidden = model, frames, hidden
        self.text, self.prompt = text, prompt
        self.frame_index, self.llm_frame_index = list(frame_index), list(llm_frame_index)
        self.num_objects = 0 if hidden is None else int(hidden.shape[0])
        self.height, self.width = (int(v) for v in frames.shape[1:3])
        self.chunk_size, self.offload_state, self.threshold, self.progress = (
            chunk_size,
            offload_state,
            threshold,
            progress,
        )
        if len(self.frame_index) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(self.frame_index)} frame indices")
        self._started = False

    def __len__(self) -> int:
        return len(self.frame_index)

    def __iter__(self) -> Iterator[FrameMasks]:
        if self._started:
            raise RuntimeError("a MaskStream decodes its frames once; iterate it a single time")
        self._started = True
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self), desc="SAM 2 frames", unit="frame")
        try:
            for item in self._frames():
                yield item
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    def _frames(self) -> Iterator[FrameMasks]:
        chunks = frame_chunks(self.frames, self.chunk_size)
        if self.num_objects == 0:
            empty_masks = torch.zeros(0, self.height, self.width, dtype=torch.bool)
            position = 0
            for images in chunks:
                for image in images:
                    yield FrameMasks(position, self.frame_index[position], empty_masks, torch.zeros(0), image)
                    position += 1
            return
        pending: deque[np.ndarray] = deque()  # decoded chunks whose frames are not all handed on yet
        size = self.model.config.sam2_image_size

        def decoded():
            for images in chunks:
                yield images, sam2_transform(torch.from_numpy(np.ascontiguousarray(images)), size)

        def sam2_chunks():
            for images, frames in prefetch(decoded()):  # the next chunk decodes while SAM 2 tracks this one
                pending.append(images)
                yield frames

        offset = 0  # stream position of pending[0]'s first frame
        logits_stream = self.model.stream_mask_logits(
            self.hidden, sam2_chunks(), len(self), (self.height, self.width), self.offload_state
        )
        for t, logits, scores in logits_stream:
            while t >= offset + len(pending[0]):
                offset += len(pending.popleft())
            yield FrameMasks(
                t, self.frame_index[t], (logits > self.threshold).cpu(), scores.cpu(), pending[0][t - offset]
            )

    def collect(self):
        """Iterate the whole stream into a `Prediction` (masks `(T, H, W)` per object), as `Predictor.predict` gives
        it; for short media or tests: the point of a stream is not to hold every mask."""
        from .predictor import Prediction

        tracks = [[] for _ in range(self.num_objects)]
        scores = [[] for _ in range(self.num_objects)]
        for item in self:
            for obj in range(self.num_objects):
                tracks[obj].append(item.masks[obj])
                scores[obj].append(item.scores[obj])
        result = Prediction(
            text=self.text, frame_index=self.frame_index, llm_frame_index=self.llm_frame_index, prompt=self.prompt
        )
        for obj in range(self.num_objects):
            result.masks[obj] = torch.stack(tracks[obj])
            result.scores[obj] = torch.stack(scores[obj])
        return result
