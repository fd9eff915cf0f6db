#!/usr/bin/env bash
# Evaluate one checkpoint on every benchmark, then score and render the results table.
#
#   scripts/eval_all.sh <checkpoint> [out_dir] [extra Hydra overrides ...]
#
# Every config under configs/benchmark/ is run on each split its header lists ("Splits: a, b" or "Split: a").
# Inference (torchrun) uses one process per local GPU, one process on a machine without a GPU; the shards merge at
# scoring, and it is resumable, so re-running the script only predicts what is missing. Scoring runs on the CPU and
# writes <out_dir>/<benchmark>/<split>/results.json; tools/make_tables.py then writes <out_dir>/results_table.{md,tex}.
# out_dir defaults to <checkpoint>/eval.
#
# Environment:
#   BENCHMARKS="mvbench pixelqa"   only these benchmarks (default: every config)
#   DATA_ROOT=data                 the data folder (the released data/ layout)
#   LIMIT=N                        only the first N samples of every split (smoke runs)
#   NPROC=N                        inference processes (default: the number of visible GPUs, 1 without one)
#   DRY_RUN=1                      print the commands instead of running them
#   PYTHON=python                  the interpreter (of the environment unipixel is installed in)
#   UNIPIXEL_JUDGE_URL, UNIPIXEL_JUDGE_MODEL, UNIPIXEL_JUDGE_API_KEY
#                                  the VideoRefer-Bench-D judge (see unipixel/eval/judge.py); without an endpoint
#                                  D is predicted but not scored
# A benchmark split that fails is listed at the end (exit status 1) and the others still run.
set -uo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
CKPT=$1
OUT=${2:-$CKPT/eval}
shift $(($# < 2 ? $# : 2))
EXTRA=("$@")

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
DATA_ROOT=${DATA_ROOT:-data}

if [[ -z ${NPROC:-} ]]; then
    NPROC=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
    [[ $NPROC -ge 1 ]] 2>/dev/null || NPROC=1
fi

if [[ -n ${BENCHMARKS:-} ]]; then
    read -r -a NAMES <<<"$BENCHMARKS"
else
    NAMES=()
    for config in "$REPO"/configs/benchmark/*.yaml; do
        NAMES+=("$(basename "$config" .yaml)")
    done
fi

# the splits a config's header lists: "... Splits: val, test (umd)" -> "val test"; "Split: valid" -> "valid"
splits_of() {
    sed -n 's/.*Splits\{0,1\}: *//p' "$1" | head -n 1 | sed 's/([^)]*)//g; s/,/ /g'
}

run() {
    echo "+ $*"
    [[ -n ${DRY_RUN:-} ]] || "$@"
}

COMMON=(model.path="$CKPT" out_dir="$OUT" data_root="$DATA_ROOT" progress=false)
[[ -n ${LIMIT:-} ]] && COMMON+=(limit="$LIMIT")

echo "checkpoint $CKPT -> $OUT; $NPROC inference process(es); benchmarks: ${NAMES[*]}"
FAILED=()
JOBS=()
for name in "${NAMES[@]}"; do
    config="$REPO/configs/benchmark/$name.yaml"
    if [[ ! -f $config ]]; then
        echo "no config $config" >&2
        FAILED+=("$name")
        continue
    fi
    splits=$(splits_of "$config")
    if [[ -z $splits ]]; then
        echo "$config lists no splits (a header line \"Splits: a, b\" or \"Split: a\")" >&2
        FAILED+=("$name")
        continue
    fi
    for split in $splits; do
        JOBS+=("$name:$split")
    done
done

cd "$REPO" || exit 1
for job in "${JOBS[@]}"; do
    name=${job%%:*} split=${job#*:}
    args=(benchmark="$name" split="$split" "${COMMON[@]}" hydra.run.dir="$OUT/logs/$name/$split" "${EXTRA[@]}")
    if ! run "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m unipixel.eval \
        "${args[@]}" mode=predict; then
        FAILED+=("$name/$split (inference)")
        continue
    fi
    if [[ $name == videorefer_bench_d && -z ${UNIPIXEL_JUDGE_URL:-} ]]; then
        echo "$name/$split: predicted; not scored (set UNIPIXEL_JUDGE_URL and UNIPIXEL_JUDGE_MODEL for the judge)"
        continue
    fi
    run "$PYTHON" -m unipixel.eval "${args[@]}" mode=score || FAILED+=("$name/$split (scoring)")
done

run "$PYTHON" "$REPO/tools/make_tables.py" "$OUT" || FAILED+=("tables")

if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf 'failed: %s\n' "${FAILED[@]}" >&2
    exit 1
fi
