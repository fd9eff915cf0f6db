"""Evaluation entry point (see `configs/eval.yaml`).

python -m unipixel.eval benchmark=refcoco split=val model.path=model_zoo/UniPixel-3B
torchrun --nproc_per_node 8 -m unipixel.eval benchmark=mevis split=valid_u model.path=...
python -m unipixel.eval benchmark=refcoco split=val model.path=... mode=score        # re-score on a CPU
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from unipixel.paths import config_dir

# the config tree inside the installed package, or the checkout's configs/ (console scripts and `python -m` alike)
CONFIG_DIR = str(config_dir())
logger = logging.getLogger(__name__)


def build_predictor(model_cfg: DictConfig, seed: int = 0):
    """A `Predictor` for a checkpoint folder, or for a random tiny model when `path=tiny` (smoke runs)."""
    import torch

    from unipixel.inference import Predictor

    if model_cfg.path == "tiny":
        from unipixel.data.processor import PixelProcessor
        from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
        from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

        tokenizer = build_tiny_tokenizer()
        torch.manual_seed(seed)
        model = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer))
        processor = PixelProcessor(
            tokenizer, sam2_image_size=model.config.sam2_image_size, target_frames=int(model_cfg.sample_frames)
        )
        return Predictor(model, processor)
    device = model_cfg.device
    if device == "auto" and "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    return Predictor.from_pretrained(model_cfg.path, device=device, sample_frames=int(model_cfg.sample_frames))


def evaluate(cfg: DictConfig) -> dict | None:
    """Predict this process's shard and/or score; returns the results when scored here."""
    from hydra.utils import instantiate

    from .runner import distributed_layout, run_predictions, score_predictions

    evaluator = instantiate(cfg.benchmark)
    rank, world = distributed_layout()
    shard = rank if cfg.shard is None else int(cfg.shard)
    num_shards = world if cfg.num_shards is None else int(cfg.num_shards)
    if cfg.mode in ("predict", "all"):
        predictor = build_predictor(cfg.model, int(cfg.seed))
        predictor.stream_above = cfg.get("stream_above", predictor.stream_above)
        info = {
            "checkpoint": str(cfg.model.path),
            "seed": int(cfg.seed),
            "llm_frames": int(cfg.model.sample_frames),
            "decoding": "greedy",
            "stream_above": predictor.stream_above,  # longer video samples stream (the same masks)
        }
        run_predictions(
            evaluator, predictor, cfg.out_dir, shard, num_shards, cfg.limit, info=info, progress=bool(cfg.progress)
        )
    if cfg.mode == "predict":
        return None
    if cfg.mode == "all" and world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()
        if rank != 0:
            return None
    elif cfg.mode == "all" and num_shards > 1:
        logger.info("shard %d/%d done; score with mode=score once every shard has finished", shard, num_shards)
        return None
    results = score_predictions(evaluator, cfg.out_dir, allow_partial=bool(cfg.allow_partial), limit=cfg.limit)
    print(json.dumps(results["metrics"], indent=2))
    return results


def check_model_path(cfg: DictConfig) -> None:
    """`model.path` must be given (predictions and results go under it unless `out_dir` is set)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(cfg.model, "path"):
        raise SystemExit(
            "model.path is not set: pass model.path=<checkpoint folder> (e.g. model_zoo/UniPixel-3B, see "
            "docs/weights.md) or model.path=tiny for a random tiny model"
        )


@hydra.main(config_path=CONFIG_DIR, config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    # force: Hydra's own logging setup would otherwise label every line "[HYDRA]"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    check_model_path(cfg)
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    evaluate(cfg)


if __name__ == "__main__":
    main()
