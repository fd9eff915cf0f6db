"""`tools/render_example.py`: the docs image is the input and its overlay side by side, from a tiny model or a
checkpoint."""

import numpy as np
from PIL import Image

from tests.inference.helpers import load_tool


def test_render_example_panels(tmp_path, released_checkpoint):
    tool = load_tool("render_example")
    out = tool.main(
        ["--checkpoint", str(released_checkpoint), "--answer", "Sure, it is <|seg|>.", "--out", str(tmp_path / "a.png")]
    )
    image, query = tool.toy_image(0)
    height, width = image.shape[:2]
    canvas = np.asarray(Image.open(out))
    assert canvas.shape == (3 * height + 44, 2 * 3 * width + 8, 3)
    left = canvas[: 3 * height : 3, : 3 * width : 3]
    right = canvas[: 3 * height : 3, 3 * width + 8 :: 3]
    assert np.array_equal(left, image), "left panel: the input, upscaled by 3"
    assert (right != image).any(-1).any(), "right panel: the overlay colours the mask"
    assert query and tool.main(["--out", str(tmp_path / "tiny.png")]).is_file()
