"""Run by the evaluation kill test in a subprocess: inference of the tiny random model on toy RefCOCO val (the first
`limit` samples), optionally killed with SIGKILL half-way through writing one prediction line.

    python tests/reliability/eval_job.py DATA_ROOT OUT_DIR LIMIT [--kill-at N]
"""

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("limit", type=int)
    parser.add_argument("--kill-at", type=int, default=None, help="cut the N-th line (1-based) of this run and die")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from tests.helpers import force_token
    from unipixel.data.processor import PixelProcessor
    from unipixel.eval import runner
    from unipixel.eval.benchmarks.image_seg import ImageSegEvaluator
    from unipixel.inference import Predictor
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer)).eval()
    force_token(model, model.config.seg_token_id)  # the random model answers with a <|seg|>, so masks are written
    processor = PixelProcessor(tokenizer, sam2_image_size=128, target_frames=8, min_tokens=4, max_tokens=36)
    if args.kill_at is not None:
        written, append = [0], runner.append_line

        def append_line(f, line):
            written[0] += 1
            if written[0] == args.kill_at:  # half the line reaches the disk, then the process is killed
                f.write(line[: len(line) // 2])
                f.flush()
                os.fsync(f.fileno())
                os.kill(os.getpid(), signal.SIGKILL)
            append(f, line)

        runner.append_line = append_line
    evaluator = ImageSegEvaluator("val", "refcoco", root=args.root, max_new_tokens=2)
    runner.run_predictions(evaluator, Predictor(model, processor), args.out, limit=args.limit, progress=False)


if __name__ == "__main__":
    main()
