#!/usr/bin/env bash
# The fine-grained campaign on shared/data/sketchy_mini with every VGG16 conv block frozen at its ImageNet weights
# (model.frozen_blocks=5: a CPU setting, not the paper's, which trains every layer): only fc6, fc7, the 256-d
# embedding, the classifier and the decoder learn. $IMAGE_SIZE px (default 112; the paper's is 224), cpu preset
# (Adam, lr 1e-4 -> 1e-5 at 2/3), $STEPS steps of 12 triplets, 3 seeds, `vgg16` (with decoder) against `vgg16-D`
# (without), the per-sample distance of L_D given by $DECODER_DISTANCE (Eq. 4, loss.decoder_distance), the training
# schedule by $SCHEDULE (text, as the paper's text describes it; printed; joint, the alternative the paper rejects:
# every loss and part from step 0), the weight sharing by $SHARING (siamese; hybrid, heterogeneous: Table 4; with
# the conv trunk frozen both trunks hold the same ImageNet weights, so what is shared or not is fc6/fc7 and the
# embedding layer).
# $FLIP sets data.flip (default true, the setting every part before 16 ran with; the package default is false since
# part 16, see the README's fidelity notes), so a clean checkout reproduces every record.
# $EXTRA_SETS adds config overrides (space-separated KEY=VALUE, passed to --set after FLIP), e.g. a held-out
# validation set.
# $PRECISION sets train.precision (float32, the default; bfloat16 runs 2.5-4x faster on CPUs with AMX-BF16, see the
# README's Performance section, and is a recorded part of the setting).
# $CACHE_VIEWS sets data.trunk_cache_views (default 0: images read live): V > 0 computes the frozen blocks' output
# (blocks 1..$FROZEN_BLOCKS) once for V random crop/flip views of each training image and trains on those
# (sbir_tf.train.trunk_cache; the extraction is shared by every variant, sharing and seed, under $SBIR_TF_CACHE).
# One folder per run: RUNS_DIR/<variant>/seed<k>/. Finished runs are skipped, interrupted ones resume; the order
# interleaves variants and seeds so a partial campaign stays balanced.
# Usage: [STEPS=1000] [SEEDS="0 1 2"] [IMAGE_SIZE=112] [DECODER_DISTANCE=pixel_mse|norm] [FROZEN_BLOCKS=5] \
#   [SCHEDULE=text] [SHARING=siamese] [EXTRA_SETS="KEY=VALUE ..."] [PRECISION=float32] [CACHE_VIEWS=0] \
#   bash experiments/scripts/fg_sketchy_mini_frozen.sh [RUNS_DIR] [VARIANT...]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/sketchy_mini
steps=${STEPS:-1000}
size=${IMAGE_SIZE:-112}
seeds=${SEEDS:-0 1 2}
distance=${DECODER_DISTANCE:-pixel_mse}
frozen=${FROZEN_BLOCKS:-5}
schedule=${SCHEDULE:-text}
sharing=${SHARING:-siamese}
precision=${PRECISION:-float32}
flip=${FLIP:-true}
views=${CACHE_VIEWS:-0}
read -ra extra_sets <<< "${EXTRA_SETS:-}"
suffix=""; [ "$schedule" != text ] && suffix="_$schedule"
[ "$sharing" != siamese ] && suffix="${suffix}_$sharing"
[ "$views" != 0 ] && suffix="${suffix}_views$views"
runs=${1:-runs/fg_sketchy_mini_imagenet-offline_${distance}_k${frozen}${suffix}}
shift || true
variants=("${@:-vgg16 vgg16-D}")
for seed in $seeds; do
  for variant in ${variants[@]}; do
    out="$runs/$variant/seed$seed"
    [ -f "$out/metrics.json" ] && continue
    resume=(); [ -d "$out/checkpoints" ] && [ -n "$(ls -A "$out/checkpoints" 2>/dev/null)" ] && resume=(--resume)
    python -m sbir_tf.experiments.sketchy_fg --data_dir "$data" --config cpu --weights imagenet-offline \
      --image_size "$size" --steps "$steps" --batch_size 12 --variant "$variant" --seed "$seed" \
      --frozen_blocks "$frozen" --schedule "$schedule" \
      --sharing "$sharing" --precision "$precision" --set loss.decoder_distance="$distance" data.flip="$flip" \
      data.trunk_cache_views="$views" \
      "${extra_sets[@]}" \
      --output_dir "$out" "${resume[@]}"
  done
done
