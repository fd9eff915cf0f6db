"""Where a restarted stage picks up (in-process; the SIGKILL versions are in `test_kill_train.py`): the newest complete
checkpoint, skipping ones a kill cut short with the file at fault named; a finished stage is a no-op that says so."""

import hashlib
import logging
import shutil

import pytest

from tests.train.synthetic import SyntheticDataset
from unipixel.train.resume import STAGE_DONE, checkpoint_problems, newest_complete_checkpoint
from unipixel.train.run import run_stage

from .conftest import compose_train

DATA = SyntheticDataset(4, ("seg_image",))


def digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


STEPS = ["stages.stage2.max_steps=4", "stages.stage2.save_steps=2"]


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A stage-2 folder trained to step 4 with checkpoints at 2 and 4 (trained once per module)."""
    out = tmp_path_factory.mktemp("trained")
    cfg = compose_train(_tiny(out) + STEPS)
    return run_stage(cfg, "stage2", dataset=DATA)


def _tiny(out):
    stages = [f"stages.stage2.{k}" for k in ("global_batch_size=2", "learning_rate=1e-2")]
    common = ["experiment=unipixel_3b", "model=tiny", "hardware=cpu", f"output_dir={out}", "train.report_to=[]"]
    return common + ["train.dataloader_num_workers=0", "train.logging_steps=1", "train.disable_tqdm=true", *stages]


@pytest.fixture
def finished(trained_once, tmp_path):
    """A private copy of the trained folder, and a config that points at it."""
    shutil.copytree(trained_once, tmp_path / "stage2")
    return tmp_path / "stage2", compose_train(_tiny(tmp_path) + STEPS)


def cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda ck: (ck / "optimizer.pt").write_bytes(b""), "optimizer.pt is empty (0 bytes)"),
        (lambda ck: cut(ck / "partial_model.safetensors"), "partial_model.safetensors is truncated"),
        (lambda ck: (ck / "trainer_state.json").unlink(), "trainer_state.json is missing"),
        (lambda ck: cut(ck / "trainer_state.json"), "trainer_state.json is unreadable"),
        (lambda ck: cut(ck / "rng_state.pth", 0.9), "rng_state.pth is truncated"),
        (lambda ck: (ck / "scheduler.pt").unlink(), "scheduler.pt is missing"),
    ],
)
def test_incomplete_checkpoint_is_skipped_with_the_reason(finished, caplog, damage, reason):
    out, _ = finished
    assert newest_complete_checkpoint(out).name == "checkpoint-4"
    damage(out / "checkpoint-4")
    assert any(reason in p for p in checkpoint_problems(out / "checkpoint-4")), checkpoint_problems(
        out / "checkpoint-4"
    )
    with caplog.at_level(logging.WARNING):
        assert newest_complete_checkpoint(out).name == "checkpoint-2"
    assert "skipping incomplete checkpoint" in caplog.text and "checkpoint-4" in caplog.text and reason in caplog.text


def test_lora_checkpoint_needs_its_adapter(finished):
    out, _ = finished
    assert checkpoint_problems(out / "checkpoint-4", lora=True) == ["adapter_model.safetensors is missing"]


def test_finished_stage_is_a_no_op(finished, caplog):
    out, cfg = finished
    before = digests(out)
    with caplog.at_level(logging.WARNING):
        assert run_stage(cfg, "stage2", dataset=DATA) == out
    assert "stage stage2 already finished at step 4" in caplog.text and "force=true" in caplog.text
    assert digests(out) == before


def test_cut_export_is_redone_from_the_last_checkpoint_without_training(finished, caplog):
    out, cfg = finished
    expected = (out / "partial_model.safetensors").read_bytes()
    (out / STAGE_DONE).unlink()  # as after a kill during the export
    cut(out / "partial_model.safetensors")
    (out / ".export-staging").mkdir()
    (out / ".export-staging" / "partial_model.safetensors").write_bytes(b"half")
    with caplog.at_level(logging.INFO):
        run_stage(cfg, "stage2", dataset=DATA)
    assert "checkpoint-4 is already at the last step; exporting its weights" in caplog.text
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"], "no step 5"
    assert (out / "partial_model.safetensors").read_bytes() == expected
    assert (out / STAGE_DONE).is_file() and not (out / ".export-staging").exists()


def test_resume_skips_a_cut_checkpoint(finished, caplog):
    out, cfg = finished
    (out / STAGE_DONE).unlink()
    shutil.rmtree(out / "checkpoint-4")
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-4")
    (out / "checkpoint-4" / "optimizer.pt").write_bytes(b"")
    with caplog.at_level(logging.INFO):
        run_stage(cfg, "stage2", dataset=DATA)
    assert "skipping incomplete checkpoint" in caplog.text and "optimizer.pt is empty" in caplog.text
    assert "loaded 5 tensors (seg) from" in caplog.text and "checkpoint-2" in caplog.text
    assert not checkpoint_problems(out / "checkpoint-4"), "re-saved whole at step 4"
