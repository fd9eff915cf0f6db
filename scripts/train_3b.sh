#!/usr/bin/env bash
# Train UniPixel-3B: stages 1, 2 and 3 in order (one torchrun call per stage), then evaluate the final checkpoint.
#
#   bash scripts/train_3b.sh [extra Hydra overrides ...]
#   bash scripts/train_3b.sh hardware=zero3 stages.stage3.data.common.sample_frames=4
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash scripts/train_3b.sh     (then NODE_RANK=1 on the second node)
#
# Each stage is `torchrun ... -m unipixel.train experiment=unipixel_3b output_dir=... run_stages=[stageN] "$@"`;
# stage N writes work_dirs/<experiment>/stageN, stage 3 loads the stage-1 and stage-2 outputs and exports the merged
# full model to work_dirs/<experiment>/stage3, which scripts/eval_all.sh then evaluates (on node 0 only).
# Re-running resumes: a stage continues from its last checkpoint-* folder (`resume: true` in configs/train.yaml).
# Several nodes need a file system they all see for work_dirs/.
#
# Environment:
#   NNODES=1  NODE_RANK=0  MASTER_ADDR=127.0.0.1  MASTER_PORT=29500   torchrun rendezvous
#   NPROC_PER_NODE=N      processes per node (default: the GPUs CUDA_VISIBLE_DEVICES, nvidia-smi or torch find)
#   EXPERIMENT=unipixel_3b  OUTPUT_DIR=work_dirs/$EXPERIMENT
#   STAGES="stage1 stage2 stage3"   the stages to run (e.g. STAGES=stage3 once stages 1 and 2 are done)
#   SKIP_EVAL=1           do not run scripts/eval_all.sh at the end
#   DRY_RUN=1             print the commands instead of running them
#   TORCHRUN=torchrun  PYTHON=python
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXPERIMENT=${EXPERIMENT:-unipixel_3b}
OUTPUT_DIR=${OUTPUT_DIR:-work_dirs/$EXPERIMENT}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
STAGES=${STAGES:-stage1 stage2 stage3}
TORCHRUN=${TORCHRUN:-torchrun}
PYTHON=${PYTHON:-python}

count_gpus() {
    # CUDA_VISIBLE_DEVICES narrows what the processes will see; nvidia-smi lists every GPU; torch as a last resort.
    if [[ -n ${CUDA_VISIBLE_DEVICES+x} ]]; then
        local visible=${CUDA_VISIBLE_DEVICES//[[:space:]]/}
        if [[ -z $visible ]]; then echo 0; else awk -F, '{print NF}' <<<"$visible"; fi
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        nvidia-smi -L | grep -c '^GPU '
    else
        "$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0
    fi
}

if [[ -z ${NPROC_PER_NODE:-} ]]; then
    NPROC_PER_NODE=$(count_gpus)
    if [[ $NPROC_PER_NODE -lt 1 ]]; then
        echo "no GPU found: set NPROC_PER_NODE (and a hardware preset) to train anyway" >&2
        [[ -n ${DRY_RUN:-} ]] || exit 1
        NPROC_PER_NODE=1
    fi
fi

run() {
    if [[ -n ${DRY_RUN:-} ]]; then
        printf '%q ' "$@" | sed 's/ $//'
        echo
    else
        (cd "$REPO" && "$@")
    fi
}

for stage in $STAGES; do
    run "$TORCHRUN" --nnodes "$NNODES" --node_rank "$NODE_RANK" --master_addr "$MASTER_ADDR" \
        --master_port "$MASTER_PORT" --nproc_per_node "$NPROC_PER_NODE" \
        -m unipixel.train "experiment=$EXPERIMENT" "output_dir=$OUTPUT_DIR" "run_stages=[$stage]" "$@"
done

if [[ -z ${SKIP_EVAL:-} && $NODE_RANK == 0 ]]; then
    run bash "$REPO/scripts/eval_all.sh" "$OUTPUT_DIR/stage3"
fi
