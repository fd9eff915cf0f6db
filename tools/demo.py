"""Browser demo: upload an image or a video, click points or draw boxes on a frame, type a prompt, see masks and text.

    pip install -e ".[demo]"          # gradio, the only extra dependency
    python tools/demo.py --model model_zoo/UniPixel-3B [--port 7860] [--share]
    python tools/demo.py --model tiny                    # random tiny model: checks the page works, answers are noise

Clicks in "point" mode add a point; in "box" mode two clicks make a box (opposite corners). Prompted objects are
numbered in the order they were added: write `[0]`, `[1]`, ... in the prompt where they are meant. "Fixed answer"
reads masks from the given answer instead of generating one (e.g. `[0] <|seg|>` segments object 0).

The page is a thin layer over `predict_fn` (pure: no gradio involved), which calls the same `Predictor` as the CLI and
the evaluators.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

INSTALL_HINT = 'The demo needs gradio: pip install -e ".[demo]"  (or: pip install "gradio>=4")'


# ------------------------------------------------------------------------------------------------ pure helpers
def add_click(clicks: list[dict], mode: str, x: float, y: float, frame: int = 0) -> list[dict]:
    """A new click list with `(x, y)` on `frame` added: a point, or one corner of a box.

    Entries are `{"kind": "point" | "box" | "corner", "value": [...], "frame": int}`; a `corner` is a box waiting
    for its second click (on the same frame; a click on another frame starts a new box).
    """
    if mode not in ("point", "box"):
        raise ValueError(f"click mode must be 'point' or 'box', got {mode!r}")
    clicks = [dict(c) for c in clicks]
    pending = clicks[-1] if clicks and clicks[-1]["kind"] == "corner" else None
    if mode == "point":
        if pending is not None:
            clicks.pop()
        return clicks + [{"kind": "point", "value": [float(x), float(y)], "frame": int(frame)}]
    if pending is not None and pending["frame"] == int(frame):
        x0, y0 = pending["value"]
        if x0 == x or y0 == y:
            return clicks  # a degenerate box: wait for another second corner
        clicks[-1] = {
            "kind": "box",
            "value": [min(x0, x), min(y0, y), max(x0, x), max(y0, y)],
            "frame": int(frame),
        }
        return clicks
    if pending is not None:
        clicks.pop()
    return clicks + [{"kind": "corner", "value": [float(x), float(y)], "frame": int(frame)}]


def clicks_to_prompts(clicks: list[dict]):
    """`VisualPrompt`s of the finished clicks (a pending box corner is ignored)."""
    from unipixel.inference import VisualPrompt

    out = []
    for click in clicks:
        if click["kind"] == "point":
            out.append(VisualPrompt.point(*click["value"], frame=click["frame"]))
        elif click["kind"] == "box":
            out.append(VisualPrompt.box(*click["value"], frame=click["frame"]))
    return out


def draw_clicks(frame: np.ndarray, clicks: list[dict], frame_index: int = 0) -> np.ndarray:
    """The frame with the clicks made on it drawn in their object colours (points as dots, boxes as outlines)."""
    from PIL import Image, ImageDraw

    from unipixel.inference import PALETTE

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    radius = max(2, min(frame.shape[:2]) // 80)
    obj = 0
    for click in clicks:
        colour = tuple(int(c) for c in PALETTE[obj % len(PALETTE)])
        if click["frame"] == frame_index:
            if click["kind"] in ("point", "corner"):
                x, y = click["value"]
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=(255, 255, 255))
            else:
                draw.rectangle(tuple(click["value"]), outline=colour, width=max(1, radius // 2))
        obj += click["kind"] != "corner"
    return np.asarray(image)


def predict_fn(
    predictor,
    media,
    prompt: str,
    clicks: list[dict] | None = None,
    answer: str | None = None,
    max_frames: int | None = 64,
    out_dir: str | Path | None = None,
    max_new_tokens: int = 512,
) -> dict:
    """Run one demo request; no gradio involved.

    Args:
        media: an image / video file, a frame folder, or a loaded `Media`.
        clicks: from `add_click` (frames are the video's own frame numbers). answer: a fixed answer to read masks
            from (blank: generate).
        max_frames: frames of a video kept (uniformly spaced, clicked frames forced in) so a request stays short.
        out_dir: where a video overlay MP4 goes (default: a new temporary folder).

    Returns:
        `{"text", "overlay"` (an `(H, W, 3)` image for images, the MP4 path for videos)`, "objects", "frames",
        "frame_index"` (the video's frame numbers shown)`, "prompt"` (the model prompt)`, "masks"` (`(O, T, H, W)`
        bool)`}`.
    """
    from unipixel.inference import Media, load_media, overlay_video, write_video

    if not isinstance(media, Media):
        media = load_media(media, max_frames=max_frames, keep=[c["frame"] for c in clicks or []])
    result = predictor.predict(
        media,
        prompt,
        clicks_to_prompts(clicks or []),
        answer=answer or None,
        max_new_tokens=max_new_tokens,
    )
    tracks = [result.masks[k].numpy() for k in sorted(result.masks)]
    frames = media.frames
    masks = np.stack(tracks) if tracks else np.zeros((0, *frames.shape[:3]), dtype=bool)
    overlay = overlay_video(frames, tracks, labels=[f"object {k}" for k in range(len(tracks))])
    if media.is_image:
        shown = overlay[0]
    else:
        folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="unipixel_demo_"))
        shown = str(write_video(folder / "overlay.mp4", overlay, media.fps or 10.0))
    return {
        "text": result.text,
        "overlay": shown,
        "objects": len(tracks),
        "frames": len(frames),
        "frame_index": result.frame_index,
        "prompt": result.prompt,
        "masks": masks,
    }


# ------------------------------------------------------------------------------------------------ page
def build_demo(predictor, max_frames: int | None = 64):
    """The gradio page around `predict_fn` (imports gradio here, so this module imports without it)."""
    import gradio as gr

    from unipixel.inference import load_media

    def on_upload(path):
        if not path:
            return None, [], gr.update(value=0, visible=False), None
        media = load_media(path, max_frames=max_frames)
        last = len(media.frames) - 1  # a slider needs minimum < maximum, so a still image hides it instead
        return media, [], gr.update(maximum=max(last, 1), value=0, visible=last > 0), media.frames[0]

    # the slider moves over the kept frames; clicks store the video's own frame numbers (`media.index`)
    def on_frame(media, clicks, position):
        if media is None:
            return None
        position = int(position)
        return draw_clicks(media.frames[position], clicks, media.index[position])

    def on_click(media, clicks, mode, position, evt: gr.SelectData):
        if media is None:
            return clicks, None
        position = int(position)
        clicks = add_click(clicks, mode, evt.index[0], evt.index[1], media.index[position])
        return clicks, draw_clicks(media.frames[position], clicks, media.index[position])

    def on_clear(media, index):
        return [], None if media is None else media.frames[int(index)]

    def on_run(media, prompt, clicks, answer):
        if media is None:
            raise gr.Error("upload an image or a video first")
        try:
            out = predict_fn(predictor, media, prompt, clicks, answer)
        except ValueError as exc:  # bad prompts (unmentioned object, box outside the frame, ...): show, don't crash
            raise gr.Error(str(exc)) from exc
        image = out["overlay"] if media.is_image else None
        video = None if media.is_image else out["overlay"]
        info = {"objects": out["objects"], "frames": out["frames"], "model prompt": out["prompt"]}
        return out["text"], image, video, info

    with gr.Blocks(title="UniPixel") as demo:
        gr.Markdown(
            "## UniPixel\nUpload an image or a video, click points or boxes (two clicks) on a frame, write `[0]`, "
            "`[1]`, ... for the clicked objects, and run."
        )
        media_state = gr.State(None)
        clicks_state = gr.State([])
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="image or video", file_types=["image", "video"], type="filepath")
                frame_slider = gr.Slider(0, 1, value=0, step=1, label="frame", visible=False)
                canvas = gr.Image(label="click to add prompts", type="numpy", interactive=False)
                mode = gr.Radio(["point", "box"], value="point", label="click mode")
                clear = gr.Button("clear prompts")
            with gr.Column():
                prompt = gr.Textbox(label="prompt", value="Please segment [0].", lines=2)
                answer = gr.Textbox(label="fixed answer (optional)", placeholder="[0] <|seg|>")
                run = gr.Button("run", variant="primary")
                text = gr.Textbox(label="answer", lines=4)
                out_image = gr.Image(label="masks", type="numpy")
                out_video = gr.Video(label="masks")
                info = gr.JSON(label="details")
        upload.change(on_upload, upload, [media_state, clicks_state, frame_slider, canvas])
        frame_slider.change(on_frame, [media_state, clicks_state, frame_slider], canvas)
        canvas.select(on_click, [media_state, clicks_state, mode, frame_slider], [clicks_state, canvas])
        clear.click(on_clear, [media_state, frame_slider], [clicks_state, canvas])
        run.click(on_run, [media_state, prompt, clicks_state, answer], [text, out_image, out_video, info])
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="model_zoo/UniPixel-3B", help="checkpoint folder, or 'tiny' (random)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-frames", type=int, default=64, help="frames kept of an uploaded video")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="a public gradio link")
    args = parser.parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    from unipixel.inference import load_predictor

    predictor = load_predictor(args.model, args.device)
    build_demo(predictor, args.max_frames).launch(server_port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
