"""Evaluation at the end of a training run: the final model and the same architecture untrained, side by side.

An experiment asks for it with an `evaluation` block (the toy run does):

    evaluation:
      root: data/toy                  # data root handed to every benchmark
      limit: null                     # first N samples of each benchmark (null: all)
      baseline: true                  # also score the untrained model (same config and seed, no training)
      processor: {min_tokens: 16, max_tokens: 64}   # PixelProcessor settings of the run (pixel budgets)
      benchmarks:                     # each entry: an evaluator config (configs/benchmark/*.yaml) + split
        refcoco: {_target_: ..., split: val, ...}
      report: [refcoco/val/cIoU, ...] # metric keys of the printed table (default: every metric)

Predictions and `results.json` files go under `<output_dir>/eval/{trained,untrained}/<benchmark>/<split>/` through the
same sharded, resumable runner as `python -m unipixel.eval`; the table is printed and written to
`<output_dir>/eval/results.md` (and `.json`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

logger = logging.getLogger(__name__)


def _predictor(model, tokenizer, processor_kwargs: dict, sample_frames: int):
    from unipixel.data.processor import PixelProcessor
    from unipixel.inference import Predictor

    processor = PixelProcessor(
        tokenizer, sam2_image_size=model.config.sam2_image_size, target_frames=sample_frames, **processor_kwargs
    )
    return Predictor(model.eval(), processor)


def untrained_model(cfg: DictConfig, stage_name: str):
    """The run's architecture as the last stage builds it before training (same seed, no partial checkpoints)."""
    from .run import build_model, build_tokenizer

    tokenizer = build_tokenizer(cfg.model)
    model = build_model(cfg.model, tokenizer, cfg.stages[stage_name], cfg.hardware, int(cfg.seed))
    return model, tokenizer


def trained_model(final_dir: str | Path):
    from transformers import AutoTokenizer

    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    model = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(final_dir, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(final_dir)


def evaluate_models(cfg: DictConfig, models: dict[str, tuple], out_dir: str | Path) -> dict[str, dict[str, float]]:
    """Run every configured benchmark for each `name -> (model, tokenizer)`; returns `name -> metrics`."""
    from hydra.utils import instantiate

    from unipixel.eval.runner import run_predictions, score_predictions

    spec = cfg.evaluation
    processor_kwargs = OmegaConf.to_container(spec.get("processor") or {}, resolve=True)
    frames = int(spec.get("sample_frames", 16))
    limit = spec.get("limit")
    results: dict[str, dict[str, float]] = {}
    for name, (model, tokenizer) in models.items():
        predictor = _predictor(model, tokenizer, processor_kwargs, frames)
        folder = Path(out_dir) / name
        metrics: dict[str, float] = {}
        for bench_cfg in spec.benchmarks.values():
            evaluator = instantiate(bench_cfg, root=spec.root, out_dir=str(folder))
            info = {"checkpoint": name, "seed": int(cfg.seed), "llm_frames": frames, "decoding": "greedy"}
            logger.info("evaluating %s model on %s (%d samples)", name, evaluator.result_prefix, len(evaluator))
            run_predictions(evaluator, predictor, folder, limit=limit, info=info, progress=True)
            metrics.update(score_predictions(evaluator, folder)["metrics"])
        results[name] = metrics
    return results


def format_table(results: dict[str, dict[str, float]], keys: list[str] | None = None) -> str:
    """Markdown table: one row per metric key, one column per model (and trained − untrained when both exist)."""
    names = list(results)
    keys = keys or sorted({k for metrics in results.values() for k in metrics})
    both = {"trained", "untrained"} <= set(names)
    header = "| metric | " + " | ".join(names) + (" | Δ |" if both else " |")
    lines = [header, "|" + "---|" * (len(names) + 1 + both)]
    for key in keys:
        values = [results[n].get(key) for n in names]
        cells = ["–" if v is None else f"{v:.3f}" for v in values]
        if both:
            t, u = results["trained"].get(key), results["untrained"].get(key)
            cells.append("–" if t is None or u is None else f"{t - u:+.3f}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_run(cfg: DictConfig, final_dir: str | Path, stage_name: str) -> dict[str, dict[str, float]]:
    """The end-of-run evaluation described in the module docstring."""
    out_dir = Path(cfg.output_dir) / "eval"
    models = {"trained": trained_model(final_dir)}
    if cfg.evaluation.get("baseline", True):
        seed_state = torch.random.get_rng_state()
        models["untrained"] = untrained_model(cfg, stage_name)
        torch.random.set_rng_state(seed_state)
    results = evaluate_models(cfg, models, out_dir)
    keys = list(cfg.evaluation.get("report") or []) or None
    table = format_table(results, keys)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(table + "\n")
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nEvaluation of {final_dir} ({cfg.evaluation.root}):\n{table}\n")
    return results
