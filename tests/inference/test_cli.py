"""`tools/inference.py` on a generated image, MP4 and frame folder with point, box and mask prompts: the files exist,
match the media's size and frame count, and the overlay changes only masked pixels."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.inference.helpers import (
    HEIGHT,
    WIDTH,
    decode_mp4,
    load_tool,
    scene_frames,
    write_frame_folder,
    write_mp4_cv2,
)
from unipixel.eval.runner import decode_masks
from unipixel.inference import load_media


@pytest.fixture(scope="module")
def cli():
    return load_tool("inference")


def read_masks(out, num_objects, names):
    """`(O, T, H, W)` from the PNG tree, checking each file's size."""
    tracks = []
    for obj in range(num_objects):
        files = sorted((out / "masks" / f"obj{obj}").glob("*.png"))
        assert [f.stem for f in files] == sorted(names)
        pngs = {f.stem: np.asarray(Image.open(f)) for f in files}
        assert all(p.shape == (HEIGHT, WIDTH) and set(np.unique(p)) <= {0, 255} for p in pngs.values())
        tracks.append(np.stack([pngs[name] > 0 for name in names]))
    return np.stack(tracks)


def check_outputs(out, summary, frames, names, num_objects):
    """Masks (PNG and RLE agree, media size, one per frame) and the lossless overlay frames."""
    assert summary["objects"] == num_objects and summary["frames"] == len(frames)
    assert summary["size"] == [HEIGHT, WIDTH]
    masks = read_masks(out, num_objects, names)
    rle = json.loads((out / "masks.json").read_text())
    assert rle["frames"] == names and rle["size"] == [HEIGHT, WIDTH]
    assert np.array_equal(decode_masks(rle["objects"]), masks)
    assert summary["mask_pixels"] == [int(m.sum()) for m in masks]
    assert masks.any(), "the tiny model's masks are not all empty (else the overlay check proves nothing)"
    return masks


def check_overlay(overlay, frames, masks):
    from unipixel.inference.visualize import legend_box

    changed = (overlay != frames).any(-1)
    union = masks.any(0)
    x0, y0, x1, y1 = legend_box(*frames.shape[1:3], [f"obj{k}" for k in range(len(masks))])
    legend = np.zeros(union.shape, bool)
    legend[..., y0:y1, x0:x1] = True
    assert changed[..., y0:y1, x0:x1].all(), "the legend darkens its corner"
    assert not (changed & ~union & ~legend).any(), "outside the legend, the overlay differs only where masks are"
    assert changed[union & ~legend].mean() > 0.9, "masked pixels are coloured"


def test_image_with_point_and_box(cli, released_checkpoint, tmp_path):
    frames = scene_frames(1)
    Image.fromarray(frames[0]).save(tmp_path / "scene.png")
    out = tmp_path / "out"
    summary = cli.main(
        [
            str(tmp_path / "scene.png"),
            "Is [1] bigger than [0]?",
            "--point",
            "25,35",
            "--box",
            "60,10,120,80",
            "--answer",
            "[0] <|seg|> [1] <|seg|>",
            "--model",
            str(released_checkpoint),
            "--out",
            str(out),
        ]
    )
    assert summary["model_prompt"] == "Is [1] <|ref|> bigger than [0] <|ref|>?"
    masks = check_outputs(out, summary, frames, ["scene"], 2)
    overlay = np.asarray(Image.open(out / "overlay.png"))
    assert overlay.shape == (HEIGHT, WIDTH, 3)
    check_overlay(overlay[None], frames, masks)
    assert json.loads((out / "result.json").read_text())["answer"] == "[0] <|seg|> [1] <|seg|>"


def test_mp4_with_mask_and_point(cli, released_checkpoint, tmp_path, capsys):
    frames = scene_frames(7)
    video = write_mp4_cv2(tmp_path / "clip.mp4", frames, fps=8)
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[20:50, 18:48] = 255
    Image.fromarray(mask).save(tmp_path / "square.png")
    out = tmp_path / "out"
    args = [str(video), "Where does [0] go? Segment [1].", "--mask", f"{tmp_path / 'square.png'}@2"]
    args += ["--point", "100,70@5", "--answer", "[0] <|seg|> [1] <|seg|>", "--model", str(released_checkpoint)]
    summary = cli.main([*args, "--out", str(out), "--overlay-frames"])
    assert summary["model_prompt"].startswith("Here is a video with 7 frames denoted as <1> to <7>.")
    assert "[0]: <3>-<4> <|mem|>" in summary["model_prompt"] and "Segment [1] <|ref|>." in summary["model_prompt"]
    names = [f"{i:05d}" for i in range(7)]
    masks = check_outputs(out, summary, frames, names, 2)
    decoded = load_media(video).frames  # what the CLI read (the MP4 is lossy, so not `frames`)
    lossless = np.stack([np.asarray(Image.open(out / "overlay" / f"{n}.png")) for n in names])
    check_overlay(lossless, decoded, masks)
    mp4 = decode_mp4(out / "overlay.mp4")
    assert mp4.shape == (7, HEIGHT, WIDTH, 3)
    # H.264 blurs sharp detail: the mask edges with their outlines and the legend text are left out of the comparison
    from scipy.ndimage import binary_dilation, binary_erosion

    from unipixel.inference.visualize import legend_box

    edges = np.stack([binary_dilation(u, iterations=2) & ~binary_erosion(u, iterations=3) for u in masks.any(0)])
    x0, y0, x1, y1 = legend_box(HEIGHT, WIDTH, ["obj0", "obj1"])
    edges[:, : y1 + 2, : x1 + 2] = True
    mse = np.mean((mp4.astype(float) - lossless)[~edges] ** 2)
    assert 10 * np.log10(255**2 / mse) > 24, "the MP4 shows the overlay (PSNR > 24 dB away from edges and legend)"
    captured = capsys.readouterr()
    assert captured.out.strip() == "[0] <|seg|> [1] <|seg|>" and "SAM 2 frames" in captured.err


def test_frame_folder_with_box_and_generation(cli, released_checkpoint, tmp_path):
    frames = scene_frames(11)
    folder = write_frame_folder(tmp_path / "frames", frames)
    out = tmp_path / "out"
    args = [str(folder), "Please segment [0].", "--box", "10,20,50,60@3", "--model", str(released_checkpoint)]
    summary = cli.main([*args, "--out", str(out), "--max-new-tokens", "4", "--no-progress", "--overlay-frames"])
    names = [str(i) for i in range(11)]  # named after the frame files, natural order
    n = summary["objects"]  # the random model may or may not write <|seg|> by itself
    assert summary["frames"] == 11 and len(list((out / "masks").glob("obj*"))) == n
    assert len(decode_mp4(out / "overlay.mp4")) == 11
    lossless = np.stack([np.asarray(Image.open(out / "overlay" / f"{name}.png")) for name in names])
    masks = read_masks(out, n, names) if n else np.zeros((0, 11, HEIGHT, WIDTH), dtype=bool)
    changed = (lossless != frames).any(-1)
    assert not (changed & ~masks.any(0)).any()


def test_teacher_forced_folder_with_box(cli, released_checkpoint, tmp_path):
    frames = scene_frames(11)
    folder = write_frame_folder(tmp_path / "frames", frames)
    out = tmp_path / "out"
    args = [str(folder), "Please segment [0].", "--box", "10,20,50,60@3", "--answer", "[0] <|seg|>"]
    summary = cli.main([*args, "--model", str(released_checkpoint), "--out", str(out), "--overlay-frames"])
    names = [str(i) for i in range(11)]
    masks = check_outputs(out, summary, frames, names, 1)
    check_overlay(np.stack([np.asarray(Image.open(out / "overlay" / f"{n}.png")) for n in names]), frames, masks)


def test_bad_arguments_are_explained(cli, released_checkpoint, tmp_path, capsys):
    Image.fromarray(scene_frames(1)[0]).save(tmp_path / "scene.png")
    base = [str(tmp_path / "scene.png"), "What is this?", "--model", str(released_checkpoint)]
    with pytest.raises(SystemExit):
        cli.main([*base, "--point", "12"])
    assert "--point '12': expected 2 numbers" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"visual prompt 0 is not mentioned.*\[0\]"):
        cli.main([*base, "--point", "12,13", "--out", str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        cli.main([*base, "--mask", str(tmp_path / "nothing.png")])
