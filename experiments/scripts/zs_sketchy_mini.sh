#!/usr/bin/env bash
# The recorded zero-shot campaign on shared/data/sketchy_mini (split sempcyc25: 100 seen / 25 unseen classes), VGG16
# conv5 features at 224 px extracted once and cached, cpu preset (PyTorch-rule RMSprop 1e-3, batch 64) for $STEPS
# steps (default 2000: the validation mAP levels off between 750 and 1,000 steps of a 1,000-step probe), 3 seeds:
#   Table 4: the seven loss ablations (semantics glove+jcn, the cpu default) and the raw-feature baseline;
#   Table 3: the full model with each side information available offline (glove, path, jcn, glove+path; glove+jcn
#            is the Table 4 `full` run);
#   the embedded synthetic set: full model and raw baseline.
# VGG16 weights: $WEIGHTS, default `imagenet-offline` (ImageNet conv weights, no download; the records of
# experiments/zs_sketchy_mini_hed_sempcyc25 were made with WEIGHTS=hed, the old Eq. 8 and Keras's RMSprop).
# sketchy_mini has no Sketchy Extended photo folder: the gallery is the plain Sketchy photos (--dataset_reader sketchy),
# as in the recorded runs. Finished runs are read back, killed runs resume: re-run the script to continue.
# Usage: [WEIGHTS=...] [STEPS=2000] [SEEDS="0 1 2"] bash experiments/scripts/zs_sketchy_mini.sh [RUNS_DIR]
#        (then: bash experiments/scripts/record_runs.sh; python -m sbir_tf.experiments.report)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${SBIR_TF_SHARED_DATA:-../shared/data}/sketchy_mini
weights=${WEIGHTS:-imagenet-offline}
steps=${STEPS:-2000}
seeds=${SEEDS:-0 1 2}
runs=${1:-runs/zs_sketchy_mini_$weights}

# --resume whenever the folder holds a run (sbir_tf.run.resume: a finished run is read back, a killed one continues)
holds_run() { python -c 'import sys; from sbir_tf.run.resume import holds_run; sys.exit(not holds_run(sys.argv[1]))' "$1"; }
run() {  # run OUT ARGS...: one job (finished: read back; killed: resumed)
  local out=$1; shift
  local resume=()
  if holds_run "$out"; then resume=(--resume); fi
  python -m sbir_tf.experiments.sketchy_zs --weights "$weights" --config cpu --steps "$steps" \
    --output_dir "$out" "${resume[@]}" "$@"
}

for seed in $seeds; do
  for ablation in full raw_features adv_no_wasserstein adv_no_wasserstein+identity wasserstein \
                  wasserstein+cycle wasserstein+cls wasserstein+identity; do
    run "$runs/$ablation/seed$seed" --data_dir "$data" --dataset_reader sketchy --split sempcyc25 \
      --ablation "$ablation" --seed "$seed"
  done
  for semantics in glove path jcn glove+path; do
    run "$runs/full_$semantics/seed$seed" --data_dir "$data" --dataset_reader sketchy --split sempcyc25 --ablation full \
      --semantics "$semantics" --seed "$seed"
  done
  for ablation in full raw_features; do
    run "${runs}_synthetic/$ablation/seed$seed" --ablation "$ablation" --seed "$seed"
  done
done
