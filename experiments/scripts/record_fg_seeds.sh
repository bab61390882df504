#!/usr/bin/env bash
# Copy the finished runs of a multi-seed fine-grained campaign into committed records, without their checkpoints and
# TensorBoard events: RUNS_DIR/<...>/seed<k>/ -> RECORDS_DIR/<...>/seed<k>/ (config, environment, metrics,
# history, figures, and validation.json: the val/* scalars of the TensorBoard events, which runs made before
# history.jsonl carried them hold only there), then re-render experiments/REPORT.md. Runs without metrics.json (still running) are left out.
#   bash experiments/scripts/record_fg_seeds.sh runs/fg_sketchy_mini_imagenet-offline_pixel_mse_k5 \
#     experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_112px      (fg_sketchy_mini_frozen.sh)
#   bash experiments/scripts/record_fg_seeds.sh runs/fg_qmul_v1_imagenet-offline_pixel_mse_k5 \
#     experiments/fg_qmul_v1_imagenet-offline_pixel_mse_k5_112px          (fg_qmul_v1_frozen.sh)
set -euo pipefail
runs=${1:?usage: record_fg_seeds.sh RUNS_DIR RECORDS_DIR}
records=${2:?usage: record_fg_seeds.sh RUNS_DIR RECORDS_DIR}
repo="$(cd "$(dirname "$0")/../.." && pwd)"
find "$runs" -type f -name metrics.json -path "*/seed*/metrics.json" | sort | while read -r metrics; do
  run=$(dirname "$metrics")
  dest="$records/${run#"$runs"/}"
  mkdir -p "$dest"
  for file in config.json environment.json metrics.json history.jsonl history.json; do
    if [ -f "$run/$file" ]; then cp "$run/$file" "$dest"/; fi
  done
  if [ -d "$run/figures" ]; then rm -rf "$dest/figures"; cp -r "$run/figures" "$dest"/; fi
  if [ -d "$run/tensorboard" ]; then
    python - "$run/tensorboard" "$dest/validation.json" <<'PY'
import glob, json, sys
import tensorflow as tf
rows = {}
for path in sorted(glob.glob(f"{sys.argv[1]}/**/*tfevents*", recursive=True)):
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            if value.tag.startswith("val/"):
                rows.setdefault(int(event.step), {})[value.tag] = round(float(tf.make_ndarray(value.tensor)), 6)
with open(sys.argv[2], "w") as f:
    json.dump([{"step": step, **rows[step]} for step in sorted(rows)], f, indent=1)
PY
  fi
  echo "recorded $dest"
done
cd "$repo"
python -m sbir_tf.experiments.report --out experiments/REPORT.md
