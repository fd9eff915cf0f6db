"""The demo: importable without gradio, clicks → prompts, `predict_fn` headless on the tiny model, the page only
when gradio is installed."""

import importlib.util
import sys

import numpy as np
import pytest
from PIL import Image

from tests.inference.helpers import HEIGHT, WIDTH, decode_mp4, load_tool, scene_frames, write_mp4_cv2
from unipixel.inference import Predictor


@pytest.fixture(scope="module")
def demo():
    return load_tool("demo")


@pytest.fixture(scope="module")
def predictor(released_checkpoint):
    return Predictor.from_pretrained(released_checkpoint, device="cpu")


def test_imports_without_gradio(demo):
    if importlib.util.find_spec("gradio") is None:
        assert "gradio" not in sys.modules


def test_clicks_make_points_and_boxes(demo):
    clicks = demo.add_click([], "point", 10, 20, frame=2)
    clicks = demo.add_click(clicks, "box", 50, 60)
    assert clicks[-1] == {"kind": "corner", "value": [50.0, 60.0], "frame": 0}
    clicks = demo.add_click(clicks, "box", 30, 90)
    assert clicks[-1] == {"kind": "box", "value": [30, 60.0, 50.0, 90], "frame": 0}, "corners in any order"
    clicks = demo.add_click(clicks, "box", 5, 5, frame=1)
    clicks = demo.add_click(clicks, "box", 7, 9, frame=3)  # second corner on another frame: a new box starts
    assert clicks[-1]["kind"] == "corner" and clicks[-1]["frame"] == 3 and len(clicks) == 3
    clicks = demo.add_click(clicks, "box", 7, 20, frame=3)  # same x: degenerate, still waiting
    assert clicks[-1]["kind"] == "corner"
    prompts = demo.clicks_to_prompts(clicks)
    assert [(p.kind, p.frame) for p in prompts] == [("point", 2), ("box", 0)], "a pending corner is no prompt"
    np.testing.assert_array_equal(prompts[1].value, [30, 60, 50, 90])
    with pytest.raises(ValueError, match="click mode"):
        demo.add_click([], "lasso", 1, 1)


def test_draw_clicks_marks_only_their_frame(demo):
    frame = np.zeros((40, 50, 3), dtype=np.uint8)
    clicks = [{"kind": "point", "value": [10, 10], "frame": 0}, {"kind": "box", "value": [20, 5, 45, 30], "frame": 1}]
    on0, on1 = demo.draw_clicks(frame, clicks, 0), demo.draw_clicks(frame, clicks, 1)
    assert on0[10, 10].any() and not on0[5:31, 20:46].any()
    assert on1[5, 30].any() and not on1[10, 10].any() and not on1[15, 30].any(), "boxes are outlines"


def test_predict_fn_image_headless(demo, predictor, tmp_path):
    frames = scene_frames(1)
    Image.fromarray(frames[0]).save(tmp_path / "scene.png")
    clicks = demo.add_click([], "point", 25, 35)
    clicks = demo.add_click(demo.add_click(clicks, "box", 60, 10), "box", 120, 80)
    out = demo.predict_fn(predictor, tmp_path / "scene.png", "Is [0] next to [1]?", clicks, "[0] <|seg|> [1] <|seg|>")
    assert out["text"] == "[0] <|seg|> [1] <|seg|>" and out["objects"] == 2 and out["frames"] == 1
    assert out["prompt"] == "Is [0] <|ref|> next to [1] <|ref|>?"
    overlay, masks = out["overlay"], out["masks"]
    assert overlay.shape == (HEIGHT, WIDTH, 3) and masks.shape == (2, 1, HEIGHT, WIDTH) and masks.any()
    from unipixel.inference.visualize import legend_box

    changed = (overlay != frames[0]).any(-1)
    x0, y0, x1, y1 = legend_box(HEIGHT, WIDTH, ["object 0", "object 1"])
    changed[y0:y1, x0:x1] = False  # the legend
    assert not (changed & ~masks[:, 0].any(0)).any()


def test_predict_fn_video_headless(demo, predictor, tmp_path):
    video = write_mp4_cv2(tmp_path / "clip.mp4", scene_frames(20))
    clicks = demo.add_click([], "point", 30, 30, frame=12)
    out = demo.predict_fn(predictor, video, "Track [0].", clicks, "[0] <|seg|>", max_frames=6, out_dir=tmp_path)
    assert out["frames"] == 6 and out["masks"].shape == (1, 6, HEIGHT, WIDTH)
    assert out["frame_index"] == [0, 4, 8, 12, 15, 19], "the clicked frame 12 is kept (it replaces 11)"
    assert decode_mp4(out["overlay"]).shape == (6, HEIGHT, WIDTH, 3)
    with pytest.raises(ValueError, match="not mentioned"):
        demo.predict_fn(predictor, video, "Track it.", clicks, max_frames=6, out_dir=tmp_path)


def test_main_without_gradio_says_how_to_install(demo, capsys):
    if importlib.util.find_spec("gradio") is not None:
        pytest.skip("gradio is installed")
    assert demo.main(["--model", "tiny"]) == 1
    assert 'pip install -e ".[demo]"' in capsys.readouterr().err


def test_build_demo_handlers(demo, predictor, tmp_path):
    """The page's event handlers, called as gradio would: upload a video, move the slider, click, run."""
    gr = pytest.importorskip("gradio")
    page = demo.build_demo(predictor, max_frames=5)
    handlers = {fn.name: fn.fn for fn in page.fns.values()}
    video = write_mp4_cv2(tmp_path / "clip.mp4", scene_frames(10))
    media, clicks, slider, canvas = handlers["on_upload"](str(video))
    assert media.index == [0, 2, 4, 7, 9] and canvas.shape == (HEIGHT, WIDTH, 3)
    for x, y, mode in ((30, 40, "point"), (60, 20, "box"), (100, 90, "box")):
        clicks, canvas = handlers["on_click"](
            media, clicks, mode, 1, gr.SelectData(None, {"index": [x, y], "value": None})
        )
    assert [(c["kind"], c["frame"]) for c in clicks] == [("point", 2), ("box", 2)], "slider position 1 = frame 2"
    text, image, overlay, info = handlers["on_run"](media, "Is [0] near [1]?", clicks, "[0] <|seg|> [1] <|seg|>")
    assert text == "[0] <|seg|> [1] <|seg|>" and image is None and info["objects"] == 2
    assert decode_mp4(overlay).shape == (5, HEIGHT, WIDTH, 3)
    with pytest.raises(gr.Error, match="not mentioned"):
        handlers["on_run"](media, "Is it?", clicks, "")
