#!/usr/bin/env bash
# Turn finished runs into committed records under experiments/: single runs are copied without their
# checkpoints and TensorBoard events; the zero-shot seeds of each ablation become one multi-seed record.
# Records are named after the weights: experiments/fg_sketchy_mini_<WEIGHTS>_112px, zs_sketchy_mini_<WEIGHTS>_sempcyc25.
# Usage: [WEIGHTS=imagenet-offline|imagenet|hed] bash experiments/scripts/record_runs.sh [FG_RUNS_DIR] [ZS_RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
weights=${WEIGHTS:-imagenet-offline}
fg_runs=${1:-runs/fg_sketchy_mini_$weights}
zs_runs=${2:-runs/zs_sketchy_mini_$weights}
for run in "$fg_runs"/*/; do
  [ -f "$run/metrics.json" ] || continue
  dest="experiments/fg_sketchy_mini_${weights}_112px/$(basename "$run")"
  mkdir -p "$dest"
  cp "$run"/{config.json,environment.json,metrics.json,history.json} "$dest"/ 2>/dev/null || true
  cp -r "$run/figures" "$dest"/
done
for ablation in "$zs_runs"/*/; do
  seeds=("$ablation"seed*/)
  [ -f "${seeds[0]}metrics.json" ] || continue
  python -m sbir_tf.experiments.report --aggregate "${seeds[@]}" \
    --aggregate_out "experiments/zs_sketchy_mini_${weights}_sempcyc25/$(basename "$ablation")"
done
python -m sbir_tf.experiments.report --out experiments/REPORT.md
