#!/usr/bin/env bash
# Train UniPixel-7B: stages 1, 2 and 3 in order (one torchrun call per stage), then evaluate the final checkpoint.
#
#   bash scripts/train_7b.sh [extra Hydra overrides ...]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash scripts/train_7b.sh     (then NODE_RANK=1 on the second node)
#
# The same launcher as scripts/train_3b.sh (see it for every environment variable: NNODES, NODE_RANK, MASTER_ADDR,
# MASTER_PORT, NPROC_PER_NODE, OUTPUT_DIR, STAGES, SKIP_EVAL, DRY_RUN) with experiment=unipixel_7b, whose stage 3
# offloads the optimizer to CPU (configs/experiment/unipixel_7b.yaml). Outputs: work_dirs/unipixel_7b/stage{1,2,3}.
set -euo pipefail

EXPERIMENT=${EXPERIMENT:-unipixel_7b} exec bash "$(dirname "${BASH_SOURCE[0]}")/train_3b.sh" "$@"
