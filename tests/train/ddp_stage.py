"""Run by torchrun in tests: stage 2 of the tiny experiment on 2 CPU processes (gloo), then write per-rank results."""

import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from tests.train.conftest import compose_train  # noqa: E402
from tests.train.synthetic import SyntheticDataset  # noqa: E402
from unipixel.train.run import build_stage  # noqa: E402


def main(out: str) -> None:
    torch.set_num_threads(1)
    cfg = compose_train(
        [
            "experiment=unipixel_3b",
            "model=tiny",
            "hardware=cpu",
            f"output_dir={out}",
            "train.report_to=[]",
            "train.dataloader_num_workers=0",
            "train.disable_tqdm=true",
            "stages.stage2.global_batch_size=4",
            "stages.stage2.max_steps=2",
            "stages.stage2.save_steps=100",
            "stages.stage2.learning_rate=1e-2",
        ]
    )
    trainer, _, _ = build_stage(cfg, "stage2", dataset=SyntheticDataset(8, ("seg_image", "seg_video")))
    seen = []
    collate = trainer.data_collator
    trainer.data_collator = lambda items: seen.extend(i.id for i in items) or collate(items)
    trainer.train()
    state = trainer.model.state_dict()
    digest = hashlib.sha256(b"".join(state[k].detach().float().numpy().tobytes() for k in sorted(state))).hexdigest()
    rank = int(os.environ["RANK"])
    result = {
        "rank": rank,
        "world": torch.distributed.get_world_size(),
        "backend": torch.distributed.get_backend(),
        "accumulation": trainer.args.gradient_accumulation_steps,
        "steps": trainer.state.global_step,
        "samples": seen,
        "digest": digest,
    }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
