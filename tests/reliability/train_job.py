"""Run by the kill tests in a subprocess: one stage of the tiny experiment (`run_stage`) on synthetic data, optionally
killed with SIGKILL half-way through writing one file.

    python tests/reliability/train_job.py OUT STAGE MAX_STEPS SAVE_STEPS [--kill optimizer@4 | --kill export] [--force]

`--kill optimizer@N` writes half of checkpoint-N's `optimizer.pt` and kills the process (a kill during a checkpoint
save); `--kill export` writes half of the final `partial_model.safetensors` export (a kill during the final save).
"""

import argparse
import io
import os
import signal
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import torch  # noqa: E402

from tests.train.conftest import compose_train  # noqa: E402
from tests.train.synthetic import SyntheticDataset  # noqa: E402

KINDS = {"stage2": ("seg_image", "seg_video"), "stage3": ("seg_image", "ref_point", "region_video")}


def kill_half_way(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill: str) -> None:
    if kill.startswith("optimizer@"):
        folder = f"checkpoint-{int(kill.split('@')[1])}"
        real_save = torch.save

        def save(obj, f, *args, **kwargs):
            if isinstance(f, str) and f.endswith("optimizer.pt") and folder in f:
                buffer = io.BytesIO()
                real_save(obj, buffer, *args, **kwargs)
                kill_half_way(f, buffer.getvalue())
            return real_save(obj, f, *args, **kwargs)

        torch.save = save
    elif kill == "export":
        import safetensors.torch

        from unipixel.train import checkpoint

        real = safetensors.torch.save_file

        def save_file(tensors, filename, *args, **kwargs):
            if ".export-staging" in str(filename):
                kill_half_way(str(filename), safetensors.torch.save(tensors, *args, **kwargs))
            return real(tensors, filename, *args, **kwargs)

        checkpoint.save_file = save_file
    else:
        raise SystemExit(f"unknown --kill {kill}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("stage")
    parser.add_argument("max_steps", type=int)
    parser.add_argument("save_steps", type=int)
    parser.add_argument("--kill", default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from unipixel.train.run import run_stage

    cfg = compose_train(
        [
            "experiment=unipixel_3b",
            "model=tiny",
            "hardware=cpu",
            f"output_dir={args.out}",
            "train.report_to=[]",
            "train.dataloader_num_workers=0",
            "train.disable_tqdm=true",
            "train.logging_steps=1",
            "stages.stage3.lora.r=4",
            "stages.stage3.lora.alpha=8",
            "stages.stage3.partial_checkpoints=[]",
            f"stages.{args.stage}.global_batch_size=2",
            f"stages.{args.stage}.max_steps={args.max_steps}",
            f"stages.{args.stage}.save_steps={args.save_steps}",
            f"stages.{args.stage}.learning_rate=1e-2",
            f"force={str(args.force).lower()}",
        ]
    )
    if args.kill:
        arm(args.kill)
    run_stage(cfg, args.stage, dataset=SyntheticDataset(8, KINDS[args.stage]))


if __name__ == "__main__":
    main()
