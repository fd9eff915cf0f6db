"""docs/finetune.md end to end on the tiny model: toy data converted to the custom format (tools/toy_to_custom.py),
every row checked, a few fine-tuning steps of `experiment=finetune_toy` from a tiny checkpoint saved in the released
layout, then the inference CLI on the exported model: the answer holds `<|seg|>` (the starting checkpoint's does not)
and the masks are written."""

import json

from PIL import Image

from tests.inference.helpers import load_tool, save_released_checkpoint, tiny_model
from tests.train.conftest import compose_train
from unipixel.data import check
from unipixel.data.toy import SMALL, make_toy_data
from unipixel.train.run import run_stage

PROMPT = "Please segment the red circle in this image."


def segment(cli, model, image, out):
    return cli.main([str(image), PROMPT, "--model", str(model), "--out", str(out), "--max-new-tokens", "6",
                     "--device", "cpu", "--no-progress"])  # fmt: skip


def test_finetune_on_custom_rows_keeps_segmenting(tmp_path, tiny_tokenizer):
    make_toy_data(tmp_path / "toy", seed=0, relational=False, **SMALL)
    custom = tmp_path / "custom"
    counts = load_tool("toy_to_custom").convert(
        tmp_path / "toy", custom, images=8, refs=0, videos=4, answer="<|seg|>.", seed=0
    )
    assert counts == {"refcoco": 8, "mevis": 4}
    reports = check.check_file(custom / "train.jsonl")
    assert len(reports) == 12 and all(r.ok for r in reports), check.format_report(reports, bad_only=True)
    rows = [json.loads(line) for line in (custom / "train.jsonl").read_text().splitlines()]
    captions = tmp_path / "captions"  # short captions of a clicked or boxed object: rows without masks
    load_tool("toy_to_custom").convert(tmp_path / "toy", captions, images=0, refs=4, videos=0, answer=None, seed=0)
    assert all(r.ok for r in check.check_file(captions / "train.jsonl"))
    objects = [o for line in (captions / "train.jsonl").read_text().splitlines() for o in json.loads(line)["objects"]]
    assert len(objects) == 4 and all(("box" in o or "point" in o) and "masks" not in o for o in objects)

    released = save_released_checkpoint(tiny_model(tiny_tokenizer), tiny_tokenizer, tmp_path / "released")
    cli = load_tool("inference")
    image = custom / rows[0]["image"]
    before = segment(cli, released, image, tmp_path / "before")
    assert "<|seg|>" not in before["answer"] and before["objects"] == 0

    cfg = compose_train([
        "experiment=finetune_toy",
        f"model.path={released}",
        f"data_file={custom / 'train.jsonl'}",
        f"output_dir={tmp_path / 'work'}",
        "stages.finetune.max_steps=20",
        "stages.finetune.learning_rate=1e-2",
        "train.lr_scheduler_type=constant",
        "train.per_device_train_batch_size=4",
        "stages.finetune.global_batch_size=4",
        "train.report_to=[]",
        "train.disable_tqdm=true",
    ])  # fmt: skip
    out_dir = run_stage(cfg, "finetune")
    assert (out_dir / "config.json").is_file() and (out_dir / "unipixel_processor.json").is_file()

    after = segment(cli, out_dir, image, tmp_path / "after")
    assert "<|seg|>" in after["answer"], after["answer"]
    assert after["objects"] >= 1 and after["frames"] == 1
    masks = sorted((tmp_path / "after" / "masks" / "obj0").glob("*.png"))
    assert len(masks) == 1 and (tmp_path / "after" / "masks.json").is_file()
    with Image.open(masks[0]) as mask, Image.open(image) as picture:
        assert mask.size == picture.size, "masks at the media's size"
