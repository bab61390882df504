#!/usr/bin/env bash
# Fine-grained runs on QMUL-V1 (shared/data/qmul_v1; the photo side is each photo's edge map) with every VGG16 conv
# block frozen at its ImageNet weights (model.frozen_blocks=5, a CPU setting; the paper trains every layer):
# `vgg16` (with decoder) against `vgg16-D`, 112 px, cpu preset, $STEPS steps of 12 triplets, 3 seeds, per category.
# One folder per run: RUNS_DIR/<category>/<variant>/seed<k>/; finished runs are skipped, interrupted ones resume.
# Usage: [STEPS=500] [SEEDS="0 1 2"] [CATEGORIES="shoes chairs"] [DECODER_DISTANCE=pixel_mse|norm] \
#   bash experiments/scripts/fg_qmul_v1_frozen.sh [RUNS_DIR] [VARIANT...]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/qmul_v1
steps=${STEPS:-500}
seeds=${SEEDS:-0 1 2}
categories=${CATEGORIES:-shoes chairs}
distance=${DECODER_DISTANCE:-pixel_mse}
runs=${1:-runs/fg_qmul_v1_imagenet-offline_${distance}_k5}
shift || true
variants=("${@:-vgg16 vgg16-D}")
for category in $categories; do
  for seed in $seeds; do
    for variant in ${variants[@]}; do
      out="$runs/$category/$variant/seed$seed"
      [ -f "$out/metrics.json" ] && continue
      resume=(); [ -d "$out/checkpoints" ] && [ -n "$(ls -A "$out/checkpoints" 2>/dev/null)" ] && resume=(--resume)
      python -m sbir_tf.experiments.qmul_fg --data_dir "$data" --category "$category" --config cpu \
        --weights imagenet-offline --image_size 112 --steps "$steps" --batch_size 12 --variant "$variant" \
        --seed "$seed" --frozen_blocks 5 --set loss.decoder_distance="$distance" data.flip=true \
        --output_dir "$out" "${resume[@]}"
    done
  done
done
