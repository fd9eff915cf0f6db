"""Streaming mask tracking (`Predictor.predict_stream` / `stream_sample`, `unipixel.inference.streaming`): the same
text and masks as the non-streaming path, every pixel of every frame, from video files, frame folders and arrays;
frames decoded lazily (the LLM's only, then SAM 2's chunk by chunk, each frame handed on before the next chunk is
read); SAM 2's kept memory bounded whatever the length; chunked decoding equal to `VideoReader.get` on every backend."""

import numpy as np
import pytest
import torch

from tests.helpers import force_token, random_frames
from tests.inference.helpers import HEIGHT, WIDTH, scene_frames, tiny_model, write_frame_folder
from unipixel.data.io import VideoReader
from unipixel.data.processor import Sample
from unipixel.inference import LazyFrames, Predictor, VisualPrompt, load_media, open_media, write_video
from unipixel.inference.streaming import prefetch

NUM_FRAMES = 37  # three SAM 2 chunks of 16, the last one short


@pytest.fixture
def predictor(tiny_tokenizer, processor):
    return Predictor(tiny_model(tiny_tokenizer), processor)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream_media")
    frames = scene_frames(NUM_FRAMES)
    return {
        "frames": frames,
        "mp4": write_video(folder / "clip.mp4", frames, fps=10),
        "folder": write_frame_folder(folder / "frames", frames),
    }


PROMPTS = [VisualPrompt.point(30, 40, frame=5), VisualPrompt.box(10, 10, 90, 70, frame=20)]
ANSWER = "[0] <|seg|> [1] <|seg|>"


def assert_same(stream_result, reference):
    assert stream_result.text == reference.text and stream_result.prompt == reference.prompt
    assert stream_result.frame_index == reference.frame_index
    assert stream_result.llm_frame_index == reference.llm_frame_index
    assert sorted(stream_result.masks) == sorted(reference.masks) and reference.masks
    for k in reference.masks:
        assert stream_result.masks[k].shape == reference.masks[k].shape
        assert torch.equal(stream_result.masks[k], reference.masks[k]), f"object {k}: masks differ"
        assert torch.equal(stream_result.scores[k], reference.scores[k]) if k in reference.scores else True


@pytest.mark.parametrize("kind", ["mp4", "folder", "array"])
def test_stream_equals_predict_every_pixel(predictor, clip, kind):
    media = clip["frames"] if kind == "array" else clip[kind]
    reference = predictor.predict(media, "Is [0] left of [1]?", PROMPTS, answer=ANSWER)
    stream = predictor.predict_stream(media, "Is [0] left of [1]?", PROMPTS, answer=ANSWER)
    assert stream.num_objects == 2 and len(stream) == NUM_FRAMES and (stream.height, stream.width) == (HEIGHT, WIDTH)
    result = stream.collect()
    assert_same(result, reference)
    assert any(m.any() for m in reference.masks.values()) and not all(m.all() for m in reference.masks.values())


def test_stream_equals_predict_generated_and_thinned(predictor, clip):
    force_token(predictor.model, predictor.model.config.seg_token_id)
    media = load_media(clip["mp4"], max_frames=20, keep=[5, 20])
    reference = predictor.predict(media, "Is [0] left of [1]?", PROMPTS, max_new_tokens=2)
    result = predictor.predict_stream(clip["mp4"], "Is [0] left of [1]?", PROMPTS, max_new_tokens=2, max_frames=20)
    assert "<|seg|>" in reference.text and len(reference.scores) == 2 and reference.frame_index == media.index
    assert_same(result.collect(), reference)


def test_stream_sample_equals_predict_sample(predictor):
    """The evaluators' path: a `Sample` with every frame and `llm_frame_index`; the LLM sees only those frames."""
    force_token(predictor.model, predictor.model.config.seg_token_id)
    frames = random_frames(NUM_FRAMES, HEIGHT, WIDTH, seed=3)
    meta = {"llm_frame_index": [0, 6, 12, 18, 24, 30, 36], "vid": "v"}
    sample = Sample("s0", "toy", frames, [{"role": "user", "content": "Please segment the red box."}], meta=meta)
    reference = predictor.predict_sample(sample, max_new_tokens=2)
    result = predictor.stream_sample(sample, max_new_tokens=2).collect()
    assert result.llm_frame_index == meta["llm_frame_index"] and sample.meta == meta
    assert_same(result, reference)


def test_frames_are_decoded_lazily_and_handed_on_chunk_by_chunk(predictor, clip, monkeypatch):
    decoded = []
    get, chunks = VideoReader.get, VideoReader.iter_chunks

    def counting_get(self, indices):
        decoded.extend(int(i) for i in indices)
        return get(self, indices)

    def counting_chunks(self, indices, size):
        for chunk in chunks(self, indices, size):
            decoded.extend(["chunk"] * len(chunk))
            yield chunk

    monkeypatch.setattr(VideoReader, "get", counting_get)
    monkeypatch.setattr(VideoReader, "iter_chunks", counting_chunks)
    media = open_media(clip["mp4"])
    assert isinstance(media.frames, LazyFrames) and media.frames.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert decoded == [0], "opening reads the first frame only (its size)"
    stream = predictor.predict_stream(media, "Is [0] left of [1]?", PROMPTS, answer=ANSWER, chunk_size=8)
    llm = sorted(set(stream.llm_frame_index))
    assert sorted(set(decoded[1:])) == llm and len(llm) <= predictor.processor.target_frames + 2
    decoded.clear()
    for item in stream:
        # frame t is handed on once its chunk is tracked; the reader is at most two chunks ahead (one prefetched,
        # one waiting to be)
        if item.position in (0, 8):
            assert item.position + 8 <= decoded.count("chunk") <= item.position + 24 < NUM_FRAMES
        assert item.frame == item.position and item.masks.shape == (2, HEIGHT, WIDTH)
        assert item.masks.dtype == torch.bool and item.masks.device.type == "cpu"
        np.testing.assert_array_equal(item.image, load_media(clip["mp4"]).frames[item.position])
    assert decoded.count("chunk") == NUM_FRAMES
    with pytest.raises(RuntimeError, match="once"):
        list(stream)


def test_no_object_stream_yields_every_frame_empty(predictor, clip):
    stream = predictor.predict_stream(clip["frames"], "Describe the video.", answer="A box moves.")
    items = list(stream)
    assert stream.num_objects == 0 and len(items) == NUM_FRAMES
    assert all(item.masks.shape == (0, HEIGHT, WIDTH) for item in items)


def test_segment_stream_equals_segment_and_keeps_bounded_memory(tiny_model):
    """SAM 2 level: chunks through `segment_stream` (also with the memory offloaded) give `segment`'s outputs, and the
    memory kept after each frame never exceeds what memory attention reads, however many frames went by."""
    sam = tiny_model.sam2.eval()
    size = tiny_model.config.sam2_image_size
    torch.manual_seed(0)
    frames = torch.randn(NUM_FRAMES, 3, size, size)
    hidden = torch.randn(2, tiny_model.config.sam2_hidden_tokens, sam.sam_prompt_embed_dim)
    reference = [out for _, out in sam.segment(frames, hidden, chunk_size=16)]
    sessions = []
    track_frame = sam._track_frame

    def recording(t, frame_feats, features, num_objects, num_frames, memory, *args):
        if t == 0:
            sessions.append(memory)
        return track_frame(t, frame_feats, features, num_objects, num_frames, memory, *args)

    sam._track_frame = recording
    for offload in (False, True):
        kept = []  # after each frame is handed on: (entries, entries holding a mask memory)
        chunks = (frames[s : s + 16] for s in range(0, NUM_FRAMES, 16))
        got = []
        for _, out in sam.segment_stream(chunks, NUM_FRAMES, hidden, offload_state=offload):
            got.append(out)
            memory = sessions[-1]
            entries = [*memory["cond_frame_outputs"].values(), *memory["non_cond_frame_outputs"].values()]
            kept.append((len(entries), sum("maskmem_features" in e for e in entries)))
            if offload:
                assert all(e["maskmem_features"].device.type == "cpu" for e in entries if "maskmem_features" in e)
        assert len(got) == NUM_FRAMES
        for a, b in zip(reference, got):
            assert torch.equal(a.best_low_res, b.best_low_res) and torch.equal(a.object_scores, b.object_scores)
        # the conditioning frame and the last max_obj_ptrs - 1 frames (pointers); num_maskmem mask memories in all
        assert max(n for n, _ in kept) == sam.max_obj_ptrs_in_encoder
        assert max(m for _, m in kept) == sam.num_maskmem and kept[-2] == kept[NUM_FRAMES // 2]
    with pytest.raises(ValueError, match="36 frames, 37 were announced"):
        list(sam.segment_stream([frames[:20], frames[20:36]], NUM_FRAMES, hidden))


@pytest.mark.parametrize("backend", ["pyav", "opencv", "decord", "frames"])
def test_iter_chunks_equals_get(clip, backend, monkeypatch):
    if backend == "decord":
        pytest.importorskip("decord")
    source = clip["folder"] if backend == "frames" else clip["mp4"]
    reader = VideoReader(source, backend="auto" if backend == "frames" else backend)
    indices = [0, 1, 2, 5, 9, 10, 11, 20, 33, 36]
    whole = reader.get(indices)
    opened = []
    if backend == "pyav":
        import av

        real_open = av.open
        monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    chunks = list(reader.iter_chunks(indices, 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    if backend == "pyav":
        assert len(opened) == 2, "one decode pass for all chunks (plus the first-frame check)"
    all_chunks = list(reader.iter_chunks(range(NUM_FRAMES), 16))
    np.testing.assert_array_equal(np.concatenate(all_chunks), reader.get(range(NUM_FRAMES)))


def test_lazy_frames_index_like_an_array(clip):
    media, decoded = open_media(clip["folder"]), load_media(clip["folder"])
    frames = media.frames
    assert len(frames) == NUM_FRAMES and frames.shape == decoded.frames.shape and media.names == decoded.names
    np.testing.assert_array_equal(frames[3], decoded.frames[3])
    np.testing.assert_array_equal(frames[[4, 1]], decoded.frames[[4, 1]])
    np.testing.assert_array_equal(frames[2:30:7], decoded.frames[2:30:7])
    np.testing.assert_array_equal(np.asarray(frames), decoded.frames)


def test_backend_order(clip):
    """Predictor media read video files with PyAV first (one pass, memory flat in the length); a reader takes an
    order of backends to try."""
    media = open_media(clip["mp4"])
    media.frames[0]
    assert media.frames.reader._current == "pyav"
    reader = VideoReader(clip["mp4"], backend=("opencv", "pyav"))
    np.testing.assert_array_equal(reader.get([3]), VideoReader(clip["mp4"], backend="opencv").get([3]))
    assert reader._current == "opencv"
    with pytest.raises(ValueError, match="unknown video backend"):
        VideoReader(clip["mp4"], backend=("pyav", "ffmpeg"))


def test_prefetch_keeps_order_bounds_and_errors():
    import threading
    import time

    made = []

    def items(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise OSError(f"item {i} is broken")
            made.append(i)
            yield i

    assert list(prefetch(items(50), depth=2)) == list(range(50))
    made.clear()
    for i in prefetch(items(100), depth=3):
        time.sleep(0.01)  # a slow consumer: the producer stays at most depth (+1 in hand) ahead
        assert len(made) <= i + 5
        if i == 5:
            break
    time.sleep(0.2)
    assert len(made) <= 11 and not any(t.name == "unipixel-prefetch" for t in threading.enumerate())
    with pytest.raises(OSError, match="item 3 is broken"):
        list(prefetch(items(10, fail_at=3)))
