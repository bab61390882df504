#!/usr/bin/env bash
# Training step time of the fine-grained model with VGG16 conv blocks 1..k frozen (model.frozen_blocks, k = 0, 3, 4):
# sketchy_mini, 112 px, 12 triplets (36 images) per step, cpu preset, 12 steps; three rounds in different orders so
# that each k sees similar machine load. Then: python experiments/scripts/frozen_blocks_timing.py [RUNS_DIR]
# Usage: bash experiments/scripts/frozen_blocks_timing.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/sketchy_mini
runs=${1:-runs/fg_frozen_blocks_timing_112px}
for round in "0 3 4:" "4 3 0:_r2" "3 0 4:_r3"; do
  order=${round%%:*}; suffix=${round##*:}
  for k in $order; do
    out="$runs/k$k$suffix"
    [ -f "$out/metrics.json" ] && continue  # a timing run is redone from scratch, never resumed
    rm -rf "$out"
    python -m sbir_tf.experiments.sketchy_fg --data_dir "$data" --config cpu --image_size 112 --batch_size 12 \
      --steps 12 --set train.log_every=2 data.flip=true --frozen_blocks "$k" --output_dir "$out"
  done
done
