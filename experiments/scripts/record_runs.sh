#!/usr/bin/env bash
# Turn finished runs into committed records under experiments/: fine-grained runs are copied without their
# checkpoints and TensorBoard events; the finished zero-shot seeds of each setting become one multi-seed record
# (python -m sbir_tf.experiments.report --aggregate). Reads the folders the campaign scripts write by default:
#   runs/fg_sketchy_mini_<WEIGHTS>_<DECODER_DISTANCE>/<variant>/   (fg_sketchy_mini.sh)
#     -> experiments/fg_sketchy_mini_<WEIGHTS>_<DECODER_DISTANCE>_112px/<variant>/
#   runs/zs_sketchy_mini_<WEIGHTS>/<setting>/seed<k>/              (zs_sketchy_mini.sh; <setting>: an --ablation
#     -> experiments/zs_sketchy_mini_<WEIGHTS>_sempcyc25/<setting>/     name such as wasserstein+cls, or full_<semantics>)
#   runs/zs_sketchy_mini_<WEIGHTS>_synthetic/<setting>/seed<k>/    (zs_sketchy_mini.sh, the embedded synthetic set)
#     -> experiments/zs_synthetic_<WEIGHTS>/<setting>/
# Seeds still running (no metrics.json yet) are left out; re-run the script when they finish.
# Usage: [WEIGHTS=imagenet-offline|imagenet|hed] [DECODER_DISTANCE=pixel_mse|norm] \
#   bash experiments/scripts/record_runs.sh [FG_RUNS_DIR] [ZS_RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
weights=${WEIGHTS:-imagenet-offline}
distance=${DECODER_DISTANCE:-pixel_mse}
fg_runs=${1:-runs/fg_sketchy_mini_${weights}_$distance}
zs_runs=${2:-runs/zs_sketchy_mini_$weights}

for run in "$fg_runs"/*/; do
  [ -f "$run/metrics.json" ] || continue
  dest="experiments/fg_sketchy_mini_${weights}_${distance}_112px/$(basename "$run")"
  mkdir -p "$dest"
  for file in config.json environment.json metrics.json history.jsonl history.json; do
    if [ -f "$run/$file" ]; then cp "$run/$file" "$dest"/; fi
  done
  if [ -d "$run/figures" ]; then cp -r "$run/figures" "$dest"/; fi
done

aggregate() {  # aggregate RUNS_DIR RECORDS_DIR: one multi-seed record per <setting>/ with finished seeds
  local setting seed
  for setting in "$1"/*/; do
    local seeds=()
    for seed in "$setting"seed*/; do
      if [ -f "${seed}metrics.json" ]; then seeds+=("$seed"); fi
    done
    if [ ${#seeds[@]} -eq 0 ]; then continue; fi
    python -m sbir_tf.experiments.report --aggregate "${seeds[@]}" --aggregate_out "$2/$(basename "$setting")"
  done
}
aggregate "$zs_runs" "experiments/zs_sketchy_mini_${weights}_sempcyc25"
aggregate "${zs_runs}_synthetic" "experiments/zs_synthetic_${weights}"
python -m sbir_tf.experiments.report --out experiments/REPORT.md
