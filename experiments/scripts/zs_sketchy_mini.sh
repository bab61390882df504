#!/usr/bin/env bash
# The recorded zero-shot runs: WAD-CMSN Table 4 ablations + raw-feature baseline on shared/data/sketchy_mini,
# VGG16 features at 224 px, split sempcyc25, cpu preset, 3 seeds. Features are extracted once and cached.
# VGG16 weights: $WEIGHTS, default `imagenet-offline` (ImageNet conv weights, no download; the records of
# experiments/zs_sketchy_mini_hed_sempcyc25 were made with WEIGHTS=hed).
# Usage: [WEIGHTS=imagenet-offline|imagenet|hed] bash experiments/scripts/zs_sketchy_mini.sh [RUNS_DIR]
#        (then: python -m sbir_tf.experiments.report)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/sketchy_mini
weights=${WEIGHTS:-imagenet-offline}
runs=${1:-runs/zs_sketchy_mini_$weights}
for seed in 0 1 2; do
  for ablation in full raw_features wasserstein wasserstein+cycle wasserstein+cycle+cls \
                  adv_no_wasserstein adv_no_wasserstein+identity; do
    out="$runs/$ablation/seed$seed"
    [ -f "$out/metrics.json" ] && continue
    python -m sbir_tf.experiments.sketchy_zs --data_dir "$data" --split sempcyc25 --weights "$weights" --config cpu \
      --ablation "$ablation" --seed "$seed" --output_dir "$out"
  done
done
