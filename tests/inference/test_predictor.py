"""Predictor: released checkpoints load strictly and predict like the in-memory model; media kinds; point, box and
mask prompts (each with a frame); batched requests; devices."""

import contextlib
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.helpers import force_token, random_frames
from tests.inference.helpers import (
    HEIGHT,
    WIDTH,
    bf16_reference,
    scene_frames,
    tiny_model,
    write_frame_folder,
    write_mp4_cv2,
)
from unipixel.data.errors import DataError
from unipixel.data.processor import PixelProcessor, Sample
from unipixel.inference import Predictor, Request, VisualPrompt, load_media, pick_device, write_video
from unipixel.inference.media import select_frames
from unipixel.inference.predictor import default_dtype, insert_ref_tokens


def box_mask(x1, y1, x2, y2, height=HEIGHT, width=WIDTH):
    mask = np.zeros((height, width), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


@pytest.fixture
def predictor(tiny_tokenizer, processor):
    return Predictor(tiny_model(tiny_tokenizer), processor)


# ------------------------------------------------------------------------------------------------ loading
def test_released_checkpoint_predicts_like_the_in_memory_model(released_checkpoint, tiny_tokenizer):
    loaded = Predictor.from_pretrained(released_checkpoint, device="auto")
    assert loaded.device.type == "cpu" and loaded.model.dtype == torch.float32, "fp32 on CPU"
    assert loaded.model.config.mem_token_order == "window", "a released config keeps the order it was trained with"
    reference = Predictor(
        bf16_reference(tiny_model(tiny_tokenizer)),
        PixelProcessor(tiny_tokenizer, sam2_image_size=128, target_frames=16),
    )
    frames = scene_frames(6)
    prompts = [VisualPrompt.point(30, 35, frame=1), VisualPrompt.box(60, 10, 120, 80, frame=4)]
    prompts.append(VisualPrompt.mask(box_mask(10, 20, 40, 50), frame=2))
    question = "Is [0] left of [1]? What about [2]?"
    forced = "[0] <|seg|> [1] <|seg|>"
    a = reference.predict(frames, question, prompts, answer=forced)
    b = loaded.predict(frames, question, prompts, answer=forced)
    assert a.prompt == b.prompt and len(a.masks) == len(b.masks) == 2
    for k in a.masks:
        assert a.masks[k].shape == (6, HEIGHT, WIDTH) and torch.equal(a.masks[k], b.masks[k])
    for p in (reference, loaded):
        force_token(p.model, p.model.config.seg_token_id)
    a = reference.predict(frames, "Please segment the square in this video.", max_new_tokens=2)
    b = loaded.predict(frames, "Please segment the square in this video.", max_new_tokens=2)
    assert a.text == b.text == "<|seg|><|seg|>"
    for k in a.masks:
        assert torch.equal(a.masks[k], b.masks[k])
        torch.testing.assert_close(a.scores[k], b.scores[k], atol=1e-4, rtol=1e-4)


def test_from_pretrained_is_strict(released_checkpoint, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(released_checkpoint, broken)
    index = json.loads((broken / "model.safetensors.index.json").read_text())
    shard = broken / index["weight_map"]["seg_head.3.weight"]
    state = load_file(str(shard))
    del state["seg_head.3.weight"]
    save_file(state, str(shard), metadata={"format": "pt"})
    del index["weight_map"]["seg_head.3.weight"]
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(RuntimeError, match=r"missing_keys \(1\): seg_head\.3\.weight"):
        Predictor.from_pretrained(broken, device="cpu")


def test_device_auto_order_and_dtypes(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu") and pick_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    assert default_dtype(torch.device("cuda")) == torch.bfloat16
    assert default_dtype(torch.device("cpu")) == default_dtype(torch.device("mps")) == torch.float32


# ------------------------------------------------------------------------------------------------ media
def test_media_kinds(tmp_path):
    frames = scene_frames(12)
    from PIL import Image

    Image.fromarray(frames[0]).save(tmp_path / "still.png")
    image = load_media(tmp_path / "still.png")
    assert image.is_image and image.frames.shape == (1, HEIGHT, WIDTH, 3) and np.array_equal(image.frames[0], frames[0])
    folder = load_media(write_frame_folder(tmp_path / "frames", frames))
    assert folder.kind == "frames" and folder.names[:3] == ["0", "1", "2"] and folder.names[10] == "10"
    assert np.array_equal(folder.frames, frames), "natural order: 2.png before 10.png"
    thinned = load_media(tmp_path / "frames", max_frames=4)
    assert thinned.index == [0, 4, 7, 11] and thinned.names == ["0", "4", "7", "11"]
    assert np.array_equal(thinned.frames, frames[[0, 4, 7, 11]])
    assert load_media(tmp_path / "frames", max_frames=4, keep=[5, 99]).index == [0, 5, 7, 11], "prompted frame kept"
    video = load_media(write_mp4_cv2(tmp_path / "clip.mp4", frames, fps=10))
    assert video.kind == "video" and video.frames.shape == frames.shape and video.fps == pytest.approx(10)
    assert np.abs(video.frames.astype(int) - frames).mean() < 6, "decoded frames are the encoded ones (lossy codec)"
    ours = load_media(write_video(tmp_path / "ours.mp4", frames, fps=5))
    assert ours.frames.shape == frames.shape and ours.fps == pytest.approx(5)
    array = load_media(frames[0])
    assert array.frames.shape == (1, HEIGHT, WIDTH, 3) and array.is_image
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        load_media(tmp_path / "missing.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match="broken.mp4"):
        load_media(tmp_path / "broken.mp4")
    with pytest.raises(ValueError, match="uint8"):
        load_media(frames.astype(np.float32))


def test_prompt_frames_are_source_frame_numbers(predictor, tmp_path):
    """With a thinned video, a prompt's frame is still the video's frame number; results use the same numbers."""
    frames = scene_frames(30)
    media = load_media(write_frame_folder(tmp_path / "frames", frames), max_frames=5, keep=[13])
    assert media.index == [0, 7, 13, 22, 29]
    result = predictor.predict(media, "Segment [0].", [VisualPrompt.box(10, 20, 40, 50, 13)], answer="[0] <|seg|>")
    assert result.frame_index == media.index and result.masks[0].shape == (5, HEIGHT, WIDTH)
    same = predictor.predict(
        frames[media.index], "Segment [0].", [VisualPrompt.box(10, 20, 40, 50, 2)], answer="[0] <|seg|>"
    )
    assert torch.equal(result.masks[0], same.masks[0])
    with pytest.raises(ValueError, match=r"frame 12 is not among the media's frames \[0, 7, 13, 22, 29\]"):
        predictor.predict(media, "Segment [0].", [VisualPrompt.point(5, 5, 12)])


def test_video_file_and_folder_give_masks_on_every_frame(predictor, tmp_path):
    frames = scene_frames(5)
    prompts = [VisualPrompt.point(25, 35, frame=3)]
    for media in (write_mp4_cv2(tmp_path / "clip.mp4", frames), write_frame_folder(tmp_path / "frames", frames)):
        result = predictor.predict(media, "Please segment [0].", prompts, answer="[0] <|seg|>")
        assert result.frame_index == [0, 1, 2, 3, 4] and result.masks[0].shape == (5, HEIGHT, WIDTH)
        assert torch.equal(result.mask_at(0, 3), result.masks[0][3])


# ------------------------------------------------------------------------------------------------ prompts
def test_ref_tokens_follow_the_first_mention_in_text_order():
    text, order = insert_ref_tokens("Is [1] bigger than [0]? And [1] again.", [0, 1])
    assert text == "Is [1] <|ref|> bigger than [0] <|ref|>? And [1] again."
    assert order == [1, 0], "prompt rows follow the <|ref|> tokens' order in the text"
    assert insert_ref_tokens("What is <|ref|>?", [0]) == ("What is <|ref|>?", [0])
    with pytest.raises(ValueError, match=r"visual prompt 1 is not mentioned.*\[1\]"):
        insert_ref_tokens("What is [0]?", [0, 1])
    with pytest.raises(ValueError, match="1 <\\|ref\\|> tokens but 2"):
        insert_ref_tokens("What is <|ref|>?", [0, 1])


def test_llm_frames_are_uniform_with_prompt_frames_forced_in():
    assert select_frames(5, 16) == [0, 1, 2, 3, 4]
    assert select_frames(31, 4) == [0, 10, 20, 30]
    assert select_frames(31, 4, [12]) == [0, 12, 20, 30], "12 replaces the closest sampled frame, 10"
    assert select_frames(31, 4, [9, 12]) == [0, 9, 12, 30], "a forced frame is never replaced by another"
    assert select_frames(31, 2, [5, 9, 12]) == [5, 9, 12], "more forced frames than slots: all kept"


def test_sample_rows_and_memory_block(predictor):
    """Points/boxes become `<|ref|>` rows (media pixels, LLM-frame positions); masks the `<|mem|>` block."""
    frames = random_frames(20, HEIGHT, WIDTH)
    prompts = [
        VisualPrompt.box(10, 12, 50, 60, frame=19),
        VisualPrompt.mask(box_mask(60, 10, 110, 70), frame=6),
        VisualPrompt.point(33, 44, frame=5),
    ]
    sample = predictor.build_sample(frames, "Compare [2] with [0] and [1].", prompts)
    llm = [0, 3, 5, 6, 11, 14, 16, 19]  # uniform 8 of 20 = 0 3 5 8 11 14 16 19, frame 6 forced in for 8
    assert sample.meta["llm_frame_index"] == llm
    assert sample.conversation[0]["content"] == (
        "Here is a video with 8 frames denoted as <1> to <8>. The highlighted regions are as follows:\n"
        "[1]: <3>-<4> <|mem|>\n"
        "Compare [2] <|ref|> with [0] <|ref|> and [1]."
    )
    np.testing.assert_array_equal(
        sample.ref_prompts, [[0, 33, 44, 0, 0, llm.index(5)], [1, 10, 12, 50, 60, llm.index(19)]]
    )
    assert sample.refer_masks.shape == (1, 8, HEIGHT, WIDTH)
    assert sample.refer_masks[0, llm.index(6)].sum() == 50 * 60 and sample.refer_masks[0].sum() == 50 * 60
    image = predictor.build_sample(frames[0], "What is [0]?", [VisualPrompt.mask(box_mask(0, 0, 60, 60))])
    assert image.conversation[0]["content"] == (
        "Here is an image with the following highlighted regions:\n[0]: <|mem|>\nWhat is [0]?"
    )


def test_mask_prompt_equals_a_hand_built_memory_sample(predictor):
    """The mask path is the `<|mem|>` path of the data pipeline: same inputs, same outputs."""
    frames = random_frames(4, HEIGHT, WIDTH)
    mask = box_mask(20, 10, 70, 60)
    answer = "[0] <|seg|>"
    got = predictor.predict(frames, "What is [0] doing?", [VisualPrompt.mask(mask, frame=3)], answer=answer)
    refer = np.zeros((1, 4, HEIGHT, WIDTH), dtype=bool)
    refer[0, 3] = mask
    text = (
        "Here is a video with 4 frames denoted as <1> to <4>. The highlighted regions are as follows:\n"
        "[0]: <3>-<4> <|mem|>\nWhat is [0] doing?"
    )
    conv = [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
    want = predictor.predict_sample(Sample("hand", "unit", frames, conv, refer_masks=refer))
    assert got.prompt == text and torch.equal(got.masks[0], want.masks[0])
    # the mask really reaches the model: another mask changes the <|seg|> state SAM 2 is prompted with (thresholded
    # masks of a random model can coincide, so compare the prompt tokens)
    with seg_states(predictor) as states:
        predictor.predict(frames, "What is [0] doing?", [VisualPrompt.mask(mask, frame=3)], answer=answer)
        predictor.predict(frames, "What is [0] doing?", [VisualPrompt.mask(~mask, frame=0)], answer=answer)
    assert not torch.allclose(states[0], states[1])


@contextlib.contextmanager
def seg_states(predictor):
    """Collect the `seg_head` outputs (SAM 2's prompt tokens) of the calls made inside the block."""
    states = []
    handle = predictor.model.seg_head.register_forward_hook(lambda m, i, o: states.append(o.detach().clone()))
    try:
        yield states
    finally:
        handle.remove()


def test_point_prompt_equals_the_row_array_path(predictor):
    frames = random_frames(3, HEIGHT, WIDTH)
    a = predictor.predict(frames, "Segment [0].", [VisualPrompt.point(40, 30, frame=2)], answer="[0] <|seg|>")
    rows = np.array([[0, 40, 30, 0, 0, 2]], dtype=np.float32)
    b = predictor.predict(frames, "Segment [0] <|ref|>.", rows, answer="[0] <|seg|>")
    assert torch.equal(a.masks[0], b.masks[0])
    with seg_states(predictor) as states:
        predictor.predict(frames, "Segment [0].", [VisualPrompt.point(40, 30, frame=2)], answer="[0] <|seg|>")
        predictor.predict(frames, "Segment [0].", [VisualPrompt.point(100, 80, frame=0)], answer="[0] <|seg|>")
    assert not torch.allclose(states[0], states[1]), "the point reaches the model"


@pytest.mark.parametrize(
    "prompt,match",
    [
        (VisualPrompt.point(WIDTH + 5, 10), "outside the 128 x 96 media"),
        (VisualPrompt.box(50, 10, 20, 40), "x1 < x2"),
        (VisualPrompt.point(5, 5, frame=9), "frame 9 is not among the media's 3 frames"),
        (VisualPrompt.mask(np.ones((10, 10), bool)), r"shape \(10, 10\) differs"),
        (VisualPrompt.mask(np.zeros((HEIGHT, WIDTH), bool)), "the mask is empty"),
    ],
)
def test_bad_prompts_are_named(predictor, prompt, match):
    with pytest.raises(ValueError, match=f"visual prompt 0.*{match}"):
        predictor.predict(random_frames(3, HEIGHT, WIDTH), "What is [0]?", [prompt])


def test_one_pixel_mask_keeps_its_visual_token(predictor):
    """D5: the token grid is downsampled with antialiasing (as the released code), so a one-pixel mask on a row that
    plain bilinear resizing to 392 px skips still reaches its `<|mem|>` token instead of vanishing."""
    big = random_frames(1, 900, 1200)
    tiny = np.zeros((900, 1200), dtype=bool)
    tiny[445, 601] = True  # row 445 falls between the rows plain bilinear resizing to 392 px samples
    result = predictor.predict(big, "What is [0]?", [VisualPrompt.mask(tiny)], max_new_tokens=2)
    assert result.text is not None


# ------------------------------------------------------------------------------------------------ batching, frames
def test_batch_equals_single_requests(predictor):
    force_token(predictor.model, predictor.model.config.seg_token_id)
    frames = random_frames(6, HEIGHT, WIDTH)
    requests = [
        Request(
            frames, "Is [0] near [1]?", [VisualPrompt.point(50, 60, 2), VisualPrompt.mask(box_mask(5, 5, 50, 50), 4)]
        ),
        Request(frames[0], "Please segment the red circle in this image."),
        Request(frames[:3], "Segment [0].", [VisualPrompt.box(10, 10, 90, 90, 1)], answer="[0] <|seg|>"),
        {"media": random_frames(3, 64, 80, seed=2), "prompt": "Track the blue square in this video."},
    ]
    batch = predictor.predict_batch(requests, max_new_tokens=2)
    for request, got in zip(requests, batch):
        request = Request(**request) if isinstance(request, dict) else request
        want = predictor.predict(**vars(request), max_new_tokens=2)
        assert got.text == want.text and got.prompt == want.prompt and got.frame_index == want.frame_index
        assert sorted(got.masks) == sorted(want.masks) and got.masks
        for k in want.masks:
            assert torch.equal(got.masks[k], want.masks[k])


def test_frames_encoded_once_for_all_objects(predictor):
    """Three objects over 5 frames: one image-encoder call (one chunk), one decoder call per frame."""
    calls = {"encoder": 0, "decoder": []}
    sam2 = predictor.model.sam2
    sam2.image_encoder.register_forward_hook(lambda *_: calls.__setitem__("encoder", calls["encoder"] + 1))
    sam2.sam_mask_decoder.register_forward_hook(lambda m, args, kw=None: calls["decoder"].append(None))
    prompts = [VisualPrompt.point(20, 20), VisualPrompt.point(60, 40), VisualPrompt.box(5, 5, 100, 90, 4)]
    result = predictor.predict(
        random_frames(5, HEIGHT, WIDTH), "[0], [1], [2]?", prompts, answer="[0] <|seg|> [1] <|seg|> [2] <|seg|>"
    )
    assert len(result.masks) == 3 and calls["encoder"] == 1 and len(calls["decoder"]) == 5


def test_sam2_on_llm_frames_only_and_progress(predictor, capsys):
    frames = random_frames(20, HEIGHT, WIDTH)
    full = predictor.predict(frames, "Segment [0].", [VisualPrompt.point(30, 30, 6)], answer="[0] <|seg|>")
    llm = predictor.predict(
        frames, "Segment [0].", [VisualPrompt.point(30, 30, 6)], answer="[0] <|seg|>", sam2_frames="llm", progress=True
    )
    assert full.frame_index == list(range(20)) and full.llm_frame_index == [0, 3, 6, 8, 11, 14, 16, 19]
    assert llm.frame_index == llm.llm_frame_index == full.llm_frame_index
    assert llm.masks[0].shape == (8, HEIGHT, WIDTH)
    err = capsys.readouterr().err
    assert "SAM 2 frames" in err and "8/8" in err, "the bar counts the frames SAM 2 decoded"
    with pytest.raises(KeyError, match="frame 1 has no mask"):
        llm.mask_at(0, 1)
