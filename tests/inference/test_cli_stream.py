"""`tools/inference.py --stream` (and automatic streaming above `--stream-above` frames) writes the same files as the
non-streaming path: the same PNG masks byte for byte, the same RLE JSON, the same overlay frames and MP4 pictures."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.inference.helpers import decode_mp4, load_tool, scene_frames, write_mp4_cv2

NUM_FRAMES = 37


@pytest.fixture(scope="module")
def cli():
    return load_tool("inference")


def run(cli, checkpoint, video, square, out, *flags):
    args = [str(video), "Where does [0] go? Segment [1].", "--mask", f"{square}@2", "--point", "100,70@20"]
    args += ["--answer", "[0] <|seg|> [1] <|seg|>", "--model", str(checkpoint), "--out", str(out)]
    return cli.main([*args, "--overlay-frames", "--no-progress", *flags])


def test_stream_writes_the_same_files(cli, released_checkpoint, tmp_path):
    video = write_mp4_cv2(tmp_path / "clip.mp4", scene_frames(NUM_FRAMES), fps=8)
    mask = np.zeros((96, 128), dtype=np.uint8)
    mask[20:50, 18:48] = 255
    Image.fromarray(mask).save(tmp_path / "square.png")
    square = tmp_path / "square.png"
    plain = run(cli, released_checkpoint, video, square, tmp_path / "plain", "--no-stream")
    streamed = run(cli, released_checkpoint, video, square, tmp_path / "stream", "--stream")
    assert (plain["streamed"], streamed["streamed"]) == (False, True)
    drop = ("files", "streamed")
    assert {k: v for k, v in plain.items() if k not in drop} == {k: v for k, v in streamed.items() if k not in drop}
    assert plain["objects"] == 2 and any(plain["mask_pixels"])
    a, b = tmp_path / "plain", tmp_path / "stream"
    assert (a / "masks.json").read_bytes() == (b / "masks.json").read_bytes()
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.png")) and len(files) == 3 * NUM_FRAMES
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    np.testing.assert_array_equal(decode_mp4(a / "overlay.mp4"), decode_mp4(b / "overlay.mp4"))
    assert json.loads((b / "result.json").read_text())["streamed"] is True


def test_stream_chosen_by_length(cli, released_checkpoint, tmp_path):
    video = write_mp4_cv2(tmp_path / "clip.mp4", scene_frames(12), fps=8)
    args = [str(video), "Segment [0].", "--point", "30,40", "--answer", "[0] <|seg|>", "--no-progress"]
    args += ["--model", str(released_checkpoint)]
    assert cli.main([*args, "--out", str(tmp_path / "a"), "--stream-above", "11"])["streamed"] is True
    assert cli.main([*args, "--out", str(tmp_path / "b"), "--stream-above", "12"])["streamed"] is False
    assert cli.main([*args, "--out", str(tmp_path / "c")])["streamed"] is False  # 12 frames: below the default
    assert cli.main([*args, "--out", str(tmp_path / "d"), "--sam2-frames", "llm", "--stream"])["streamed"] is False
