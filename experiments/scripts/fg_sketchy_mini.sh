#!/usr/bin/env bash
# The recorded fine-grained runs: Pang et al. 2017 with and without the decoder (Table 3, VGG16 rows) on
# shared/data/sketchy_mini, 112 px, cpu preset (lr 1e-4 -> 1e-5 at 2/3), 250 steps of 12 triplets.
# VGG16 weights: $WEIGHTS, default `imagenet-offline` (ImageNet conv weights, no download; the records of
# experiments/fg_sketchy_mini_hed_112px were made with WEIGHTS=hed).
# Per-sample distance of L_D (Eq. 4, loss.decoder_distance): $DECODER_DISTANCE, default `pixel_mse` (the cpu preset's
# default; the records of experiments/fg_sketchy_mini_hed_112px were made with the printed `norm`).
# Usage: [WEIGHTS=imagenet-offline|imagenet|hed] [DECODER_DISTANCE=pixel_mse|norm] \
#   bash experiments/scripts/fg_sketchy_mini.sh [RUNS_DIR] [VARIANT...]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/sketchy_mini
weights=${WEIGHTS:-imagenet-offline}
distance=${DECODER_DISTANCE:-pixel_mse}
runs=${1:-runs/fg_sketchy_mini_${weights}_$distance}
shift || true
variants=("${@:-vgg16 vgg16-D}")
# --resume whenever the folder holds a run (sbir_tf.run.resume: a finished run is read back, a killed one continues)
holds_run() { python -c 'import sys; from sbir_tf.run.resume import holds_run; sys.exit(not holds_run(sys.argv[1]))' "$1"; }
for variant in ${variants[@]}; do
  out="$runs/$variant"
  resume=(); if holds_run "$out"; then resume=(--resume); fi
  python -m sbir_tf.experiments.sketchy_fg --data_dir "$data" --config cpu --weights "$weights" --image_size 112 \
    --steps 250 --batch_size 12 --variant "$variant" --seed 0 --set loss.decoder_distance="$distance" data.flip=true \
    --output_dir "$out" "${resume[@]}"
done
