"""`import unipixel` alone lets transformers' Auto classes open a UniPixel folder, while a metrics-only import loads
neither torch nor transformers; a released-style `config.json` (written by transformers 4.x: `rope_scaling` /
`rope_theta` repeated at the top level) loads without a transformers warning."""

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    import unipixel
    import unipixel.eval.metrics
    light = not any(m in sys.modules for m in ("torch", "transformers"))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging
    hf_logging.get_logger("transformers").addHandler(handler)
    config = AutoConfig.from_pretrained(sys.argv[1])
    model = AutoModel.from_pretrained(sys.argv[1])
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    print(json.dumps({"light": light, "config": type(config).__name__, "model": type(model).__name__,
                      "rope": config.text_config.rope_parameters, "warnings": warnings}))
    """
)


def released_style_folder(model, folder):
    """The model saved, then its config.json written the way the release's is: LLM fields repeated at the top level."""
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    text = config["text_config"]
    rope = dict(text.pop("rope_parameters"))
    theta = rope.pop("rope_theta")
    text.update(rope_scaling={**rope, "type": rope["rope_type"]}, rope_theta=theta)
    config.update(rope_scaling=dict(text["rope_scaling"]), rope_theta=theta)
    (folder / "config.json").write_text(json.dumps(config))
    return rope, theta


def test_import_unipixel_registers_the_auto_classes_lazily(tiny_model, tmp_path):
    rope, theta = released_style_folder(tiny_model, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "warning"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["light"], "importing unipixel and its metrics loaded torch or transformers"
    assert result["config"] == "PixelQwen2_5_VLConfig"
    assert result["model"] == "PixelQwen2_5_VLForConditionalGeneration"
    assert result["rope"]["mrope_section"] == rope["mrope_section"] and result["rope"]["rope_theta"] == theta
    assert result["warnings"] == [], result["warnings"]


def test_top_level_rope_fields_fill_a_text_config_without_them():
    from unipixel.model import PixelQwen2_5_VLConfig

    config = PixelQwen2_5_VLConfig(
        text_config={"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100},
        rope_scaling={"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
        rope_theta=1234.0,
    )
    assert config.text_config.rope_parameters["mrope_section"] == [2, 3, 3]
    assert config.text_config.rope_parameters["rope_theta"] == 1234.0
