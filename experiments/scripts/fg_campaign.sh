#!/usr/bin/env bash
# The whole fine-grained campaign, in the order it was run, each part recorded as soon as it finishes
# (experiments/<record folder>/...; see the README's "Recorded results"). Every part resumes: re-run this script to
# continue after an interruption; finished runs are skipped. About 15-45 minutes per 1,000-step run on 2 idle cores
# (bfloat16, 112 px: 12-28 on an Intel Xeon with AMX, 33-44 on an AMD EPYC without it).
#   1. sketchy_mini, conv trunk frozen (k5), L_D pixel_mse, `vgg16` and `vgg16-D`, seeds 0 1 2
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_112px/<variant>/seed<k>/
#   2. conv blocks 4-5 trained (k3), `vgg16-D`, seed 0: can training the trunk reach the 0.05 acc@1 goal?
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_112px/vgg16-D/seed0/
#   3. the `joint` schedule (every loss and part from step 0; the paper's rejected alternative), `vgg16`, k5, seed 0
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_joint_112px/vgg16/seed0/
#   4. the printed L_D scale `norm`, `vgg16`, k5, seeds 0 1 2
#        -> experiments/fg_sketchy_mini_imagenet-offline_norm_k5_112px/vgg16/seed<k>/
#   5. QMUL-V1 shoes and chairs, k5, `vgg16` and `vgg16-D`, seeds 0 1 2 (500 steps)
#        -> experiments/fg_qmul_v1_imagenet-offline_pixel_mse_k5_112px/<category>/<variant>/seed<k>/
#   6. conv blocks 4-5 trained (k3), `vgg16` and `vgg16-D`, seeds 0 1 2: the decoder comparison where the trunk learns
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_112px/<variant>/seed<k>/
#   7. weight sharing (Table 4): `hybrid` and `heterogeneous`, `vgg16`, k5, seeds 0 1 2 (beside part 1's `siamese`)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_<sharing>_112px/vgg16/seed<k>/
#   8. the `printed` schedule, `vgg16`, k5, seeds 0 1 2 (beside part 1's `text` and part 3's `joint`)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_printed_112px/vgg16/seed<k>/
#   9. choosing the trunk setting on held-out training instances, not on the test split: `vgg16-D`, seed 0, 60
#      training instances (every class gives one in turn) held out as a validation set read in full (their sketches
#      against their photos + every never-sketched photo) every 250 steps: k3 for 1,000 steps, k0 (every
#      layer trained, as in the paper) for 1,000 steps, k3 for 2,000 steps. The rule, fixed before the results: the
#      highest validation acc@1 at the last step wins (equal counts of queries go to the cheaper setting); the winner
#      then runs with both variants over 3 seeds on the full training set
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_112px/<k>_<steps>/vgg16-D/seed0/
#  10. bfloat16 against float32: parts 2 and 6's seed-0 runs (k3, 1,000 steps, both variants) again with
#      --precision bfloat16 (2.5-4x faster on this CPU's AMX-BF16), to see whether the cheaper precision changes the
#      result before it is used for part 11
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_112px/<variant>/seed0/
#  11. the winner of part 9 (fg_select.py applies the rule to part 9's records), `vgg16` and `vgg16-D`, seeds 0 1 2
#      on the full training set, in $PRECISION (default bfloat16, after part 10)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k<k>_<steps>steps[_<precision>]_112px/...
#  12. the image size, chosen as part 9 chose the trunk setting (same 60 held-out instances, same rule): the paper's
#      224 px, k3, 1,000 steps (a 224 px step costs about 4x a 112 px one), bfloat16, `vgg16-D`, seed 0. Written
#      before its result: it replaces part 9's winner only with more validation hits at its last step (fg_select.py
#      over both record folders; equal counts go to the smaller image)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_224px/k3_1000_bfloat16/vgg16-D/seed0/
#  13. the winner of parts 9 and 12 with both variants over 3 seeds, bfloat16 (when it is part 9's 112 px winner,
#      part 11 already holds that grid and nothing runs)
#  14. the head, chosen on the same 60 held-out instances with a steadier rule (fg_select.py --rule acc10, fixed in
#      this script before its runs: most validation queries with the true photo in the top 10 at the last step):
#      `vgg16-D`, seed 0, k3, 1,000 steps, bfloat16, 112 px, as printed (`base`, part 10's setting), with the
#      classifier's Adam lr times 10 (`cls10`: model.classifier_scale=10) or with pool5 global-average-pooled before
#      fc6 (`gap`: model.pooling=gap, 512 inputs to fc6 instead of 4,608)
#  15. the winner of part 14 with both variants over 3 seeds on the full training set, bfloat16 (when it is `base`,
#      part 10's seed-0 runs stand and seeds 1 and 2 join them)
#  16. the horizontal flips, chosen as in part 14 on top of its winner (same held-out instances, same rule, fixed in
#      this script before its runs): each image on its own draw (part 14's winner as recorded), none (`noflip`:
#      data.flip=false, the paper's augmentation is crops only) or the positive photo with its sketch (`pairflip`:
#      data.flip_pairs=true; a Sketchy sketch is drawn over its photo and faces the same way)
#  17. the winner of part 16 with both variants over 3 seeds (when it is part 14's winner, part 15 holds its grid)
#  18. the negatives, chosen as in part 14 on top of the winners of parts 14 and 16 (same held-out instances, same
#      rule, fixed in this script before its run): a same-class negative with p = 0.5 (the default, part 16's winner
#      as recorded) or always (`hn10`: data.hard_negative_prob=1.0; a class with one training photo still draws
#      its negative from another class)
#  19. the winner of part 18 with both variants over 3 seeds (when it is part 16's winner, part 17 holds its grid)
#  20. the triplet term and the crops, chosen as in part 14 on top of the winners of parts 14, 16 and 18 (same
#      held-out instances, same rule, fixed in this script before its runs): as recorded (the unchanged setting,
#      named first for ties), L_T weighted 10 (`lt10`: loss.lambda_t=10; L_C is about 80 times L_T at step 1,000) or
#      the positive photo cropped at its sketch's window (`croppairs`: data.crop_pairs=true; the test pairs a sketch
#      and its photo at the same centre crop)
#  21. the winner of part 20 with both variants over 3 seeds (when it is the unchanged setting, its grid is held by
#      part 17 or 19)
#  22. the learning rate, chosen as in part 14 on top of the winners of parts 14, 16, 18 and 20 (same held-out
#      instances, same rule, fixed in this script before its run): the `cpu` preset's (Adam 1e-4, 1e-5 from 2/3 of
#      the steps; the unchanged setting, named first for ties) or both rates times 3 (`lr3`: train.base_lr=3e-4
#      train.final_lr=3e-5; the rates then sum to 0.21 over 1,000 steps, as the paper's 1e-5 and 1e-6 do over its
#      30,000, where the preset's sum to 0.07)
#  23. the winner of part 22 with both variants over 3 seeds (when it is the unchanged setting, an earlier part
#      holds its grid)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k<k>_<steps>steps_bfloat16_<size>px/...
#  24. parts 1, 7, 3 and 8 on the frozen-trunk cache (data.trunk_cache_views=8: the trunk's output computed once for
#      8 random crop/flip views of each training image, sbir_tf.train.trunk_cache), which makes a k5 run a few
#      minutes: `vgg16`, k5, flips, seeds 0 1 2, with `siamese` sharing and the `text` schedule (part 1's setting,
#      so its live grid checks what the finite pool of views changes), `hybrid` and `heterogeneous` sharing
#      (Table 4), then the `printed` and `joint` schedules; each of the two seed by seed, so a partial part stays
#      balanced; with TF's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1 unless set: TF leaves them off on CPUs without
#      AVX-512, where they run the decoder's forward and backward passes 1.6x faster; environment.json records
#      which ran)
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_views8_<arm>_112px/vgg16/seed<k>/
#  25. the batch, chosen as in part 14 on top of the winners of parts 14, 16, 18, 20 and 22 (same held-out instances,
#      same rule, fixed in this script before its run): 12 triplets per step (every run so far; the unchanged
#      setting, named first for ties) or the paper's 32 (`b32`: train.batch_size=32, Sec. 4, Pang et al.; same 1,000
#      steps and rates, so 2.7 times the triplets and about 2.7 times the time of a step)
#  26. the winner of part 25 with both variants over 3 seeds (when it is the unchanged setting, an earlier part
#      holds its grid)
#  27. part 25's comparison for a CPU without bfloat16 support (AVX2 only, where a bfloat16 step is about 10 times
#      slower than a float32 one): first its unchanged side, part 20's winner as recorded (`cls10`, crops only, p =
#      0.5, `croppairs`; `vgg16-D`, seed 0, k3, 1,000 steps, the held-out instances), again in float32 on the k3
#      trunk cache (data.trunk_cache_views=8) with TF's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1 unless set: 1.5x
#      faster there for this cached step). Its validation curve is drawn beside part 20's bfloat16 live record, so the cheaper
#      chain is seen against the one it stands in for before anything is chosen in it (its setting folder: `b12`,
#      12 triplets per step)
#  28. the paper's batch (`b32`) in the same chain, chosen over part 27 by part 25's rule (fixed in this script
#      before either run); no 3-seed grid follows from it here: a winner's grid is part 26's
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_views8_float32_112px/<setting>/...
#  29. part 27 read live: part 20's winner as recorded (`b12`), float32, oneDNN on unless set, every crop drawn afresh
#      from the JPEGs as in part 20 (no trunk cache); its curve beside part 20's bfloat16 live record tells whether
#      float32 stands in for bfloat16 here (part 10 found it no worse at k3) and so whether part 27's shortfall came
#      from its 8 fixed crops
#  30. the paper's batch (`b32`) in part 29's chain, chosen over part 29 by part 25's rule (fixed in this script
#      before either run); about 2.7 times part 29's time; no 3-seed grid follows from it here
#        -> experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_float32_112px/<setting>/...
#  figures. the claims seed by seed (plot_fg_seeds.py: one dot per seed, a bar at the mean), from the records of
#      every part that has them: the decoder (Table 3: `vgg16` against `vgg16-D` in every grid with both), the weight
#      sharing (Table 4: parts 1, 7 and 24) and the schedule (parts 1, 3, 8 and 24)
#        -> experiments/fg_sketchy_mini_{decoder,weight_sharing,schedule}_seeds.png
# Parts 2 and 3 ran seed 0 only (SEEDS="0 1 2" widens them); part 6 reuses part 2's run of seed 0.
# Usage: [RUNS=runs/fg_campaign] bash experiments/scripts/fg_campaign.sh [PART...]   (default: all parts)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-runs/fg_campaign}
parts=("${@:-1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 figures}")
scripts=experiments/scripts
record() { bash "$scripts/record_fg_seeds.sh" "$1" "$2"; }
# a grid: both variants over the seeds (its options come from the environment: FROZEN_BLOCKS, STEPS, SEEDS, ...),
# then its record and validation plot: grid RUNS_DIR RECORDS_DIR
grid() {
  bash "$scripts/fg_sketchy_mini_frozen.sh" "$1" vgg16 vgg16-D
  record "$1" "$2"
  python "$scripts/plot_fg_validation.py" "$2"
}
# the figure of one claim seed by seed: seeds_figure OUT TITLE LABEL=RECORDS_DIR ...; folders without a recorded seed
# are left out, and nothing is drawn when fewer than two remain
seeds_figure() {
  local out=$1 title=$2 setting; shift 2
  local kept=()
  for setting in "$@"; do
    compgen -G "${setting##*=}/seed*/metrics.json" > /dev/null && kept+=("$setting")
  done
  if [ ${#kept[@]} -ge 2 ]; then
    python "$scripts/plot_fg_seeds.py" --out "$out" --title "$title" "${kept[@]}"
  fi
}
# parts 9 and 12: 60 training instances held out, their sketches read in full against their photos and every
# never-sketched photo every 250 steps
held_out="data.val_instances=60 eval.val_queries=100000 eval.val_distractors=100000 train.eval_every=250"
val112=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_112px
val224=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_224px
# parts 14-23 choose the head and then one layer of settings at a time on the held-out instances, each on top of
# the winners before it; every layer's record folder holds one folder per setting tried (the unchanged setting is
# the winner before it, recorded in the previous layer's folder)
val_head=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_head_112px
head_order=base,cls10,gap
val_flip=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_flip_112px
val_neg=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_negatives_112px
val_tc=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_triplet_crops_112px
val_lr=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_lr_112px
val_batch=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_112px
val_batch_cache=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_views8_float32_112px
val_batch_float32=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_float32_112px
# the layers after part 14 in order: the part that chose each, its runs and record folders, its settings (tie order
# after the unchanged one)
layers=(flip neg tc lr batch)
declare -A layer_part=([flip]=16 [neg]=18 [tc]=20 [lr]=22 [batch]=25)
declare -A layer_runs=([flip]=val60_flip [neg]=val60_negatives [tc]=val60_triplet_crops [lr]=val60_lr
                       [batch]=val60_batch)
declare -A layer_val=([flip]=$val_flip [neg]=$val_neg [tc]=$val_tc [lr]=$val_lr [batch]=$val_batch)
declare -A layer_settings=([flip]="noflip pairflip" [neg]=hn10 [tc]="lt10 croppairs" [lr]=lr3 [batch]=b32)
# each setting's config overrides
sets_of() {
  case $1 in
    base) echo "" ;;  # part 14: as printed
    cls10) echo "model.classifier_scale=10" ;;
    gap) echo "model.pooling=gap" ;;
    noflip) echo "data.flip=false" ;;  # part 16
    pairflip) echo "data.flip_pairs=true" ;;
    hn10) echo "data.hard_negative_prob=1.0" ;;  # part 18 (p = 0.5 is the unchanged setting)
    lt10) echo "loss.lambda_t=10" ;;  # part 20
    croppairs) echo "data.crop_pairs=true" ;;
    lr3) echo "train.base_lr=3e-4 train.final_lr=3e-5" ;;  # part 22
    b32) echo "train.batch_size=32" ;;  # part 25 (after --batch_size 12: --set is applied last)
    *) echo "unknown setting $1" >&2; return 2 ;;
  esac
}
head_winner() {
  python "$scripts/fg_select.py" --rule acc10 --order "$head_order" "$val_head" | tail -n 1 | cut -d' ' -f2
}
# The winners so far, as recorded: `win` (the last winner's setting), `win_record` (its record folder), `win_sets`
# (the overrides of every winner) and `win_name` (their settings joined by "_", a layer whose unchanged setting won
# adds nothing: `cls10_noflip_croppairs`). winners_before LAYER folds part 14's winner and every layer before LAYER.
winners_before() {
  local layer
  win=$(head_winner); win_record=$val_head/$win; win_sets=$(sets_of "$win"); win_name=$win
  for layer in "${layers[@]}"; do
    if [ "$layer" = "$1" ]; then return 0; fi
    advance "$layer"
  done
}
# LAYER's selection over its record and the current winner's (the last line names the winner)
layer_select() {
  python "$scripts/fg_select.py" --rule acc10 --order "$win,${layer_settings[$1]// /,}" "$win_record" "${layer_val[$1]}"
}
# folds LAYER's winner into the winners so far
advance() {
  local winner
  winner=$(layer_select "$1" | tail -n 1 | cut -d' ' -f2)
  if [ "$winner" != "$win" ]; then
    win_record=${layer_val[$1]}/$winner; win_sets="$win_sets $(sets_of "$winner")"; win_name=${win_name}_$winner
    win=$winner
  fi
}
# parts 18, 20, 22, 25: each setting of LAYER on top of the winners before it, on the held-out instances (`vgg16-D`,
# seed 0); the record, its validation plot beside the unchanged setting, and the selection
held_out_layer() {
  local setting
  winners_before "$1"
  for setting in ${layer_settings[$1]}; do
    FROZEN_BLOCKS=3 STEPS=1000 SEEDS=0 PRECISION=bfloat16 EXTRA_SETS="$held_out $win_sets $(sets_of "$setting")" \
      bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/${layer_runs[$1]}/$setting" vgg16-D
  done
  record "$runs/${layer_runs[$1]}" "${layer_val[$1]}"
  python "$scripts/plot_fg_validation.py" --metric acc@10 "${layer_val[$1]}" --beside "$win_record"
  layer_select "$1"
}
# parts 17, 19, 21, 23, 26: LAYER's winner with both variants over 3 seeds on the full training set (when it is the
# unchanged setting, an earlier part holds its grid)
layer_grid() {
  local part=${layer_part[$1]} before previous=14 layer
  for layer in "${layers[@]}"; do  # the part that chose the winner LAYER builds on
    [ "$layer" = "$1" ] && break
    previous=${layer_part[$layer]}
  done
  winners_before "$1"; before=$win
  advance "$1"
  echo "[fg_campaign] part $part winner: $win (on part $previous's $before)" >&2
  if [ "$win" = "$before" ]; then
    echo "[fg_campaign] part $((part + 1)): part $previous's winner stands; an earlier part holds its grid" >&2
  else
    FROZEN_BLOCKS=3 STEPS=1000 SEEDS=${SEEDS:-0 1 2} PRECISION=bfloat16 EXTRA_SETS="$win_sets" \
      grid "$runs/k3_pixel_mse_bfloat16_$win_name" \
      "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_${win_name}_112px"
  fi
}
for part in ${parts[@]}; do
  case $part in
    1) grid "$runs/k5_pixel_mse" experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_112px ;;
    2) FROZEN_BLOCKS=3 SEEDS=${SEEDS:-0} bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/k3_pixel_mse" vgg16-D
       record "$runs/k3_pixel_mse" experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_112px ;;
    3) SCHEDULE=joint SEEDS=${SEEDS:-0} bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/k5_pixel_mse_joint" vgg16
       record "$runs/k5_pixel_mse_joint" experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_joint_112px ;;
    4) DECODER_DISTANCE=norm SEEDS=${SEEDS:-0 1 2} bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/k5_norm" vgg16
       record "$runs/k5_norm" experiments/fg_sketchy_mini_imagenet-offline_norm_k5_112px ;;
    5) CATEGORIES="shoes chairs" SEEDS=${SEEDS:-0 1 2} bash "$scripts/fg_qmul_v1_frozen.sh" "$runs/qmul_k5_pixel_mse" \
         vgg16 vgg16-D
       record "$runs/qmul_k5_pixel_mse" experiments/fg_qmul_v1_imagenet-offline_pixel_mse_k5_112px ;;
    6) FROZEN_BLOCKS=3 SEEDS=${SEEDS:-0 1 2} grid "$runs/k3_pixel_mse" \
         experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_112px ;;
    7) for sharing in hybrid heterogeneous; do
         SHARING=$sharing SEEDS=${SEEDS:-0 1 2} bash "$scripts/fg_sketchy_mini_frozen.sh" \
           "$runs/k5_pixel_mse_$sharing" vgg16
         record "$runs/k5_pixel_mse_$sharing" \
           "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_${sharing}_112px"
       done ;;
    8) SCHEDULE=printed SEEDS=${SEEDS:-0 1 2} bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/k5_pixel_mse_printed" \
         vgg16
       record "$runs/k5_pixel_mse_printed" experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_printed_112px ;;
    9) for setting in "3 1000" "0 1000" "3 2000"; do
         read -r frozen steps <<< "$setting"
         FROZEN_BLOCKS=$frozen STEPS=$steps SEEDS=0 EXTRA_SETS=$held_out bash "$scripts/fg_sketchy_mini_frozen.sh" \
           "$runs/val60/k${frozen}_$steps" vgg16-D
       done
       record "$runs/val60" "$val112"
       python "$scripts/plot_fg_validation.py" "$val112" ;;
    10) FROZEN_BLOCKS=3 SEEDS=${SEEDS:-0} PRECISION=bfloat16 bash "$scripts/fg_sketchy_mini_frozen.sh" \
          "$runs/k3_pixel_mse_bfloat16" vgg16-D vgg16
        record "$runs/k3_pixel_mse_bfloat16" experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_112px ;;
    11) winner=$(python "$scripts/fg_select.py" "$val112" | tail -n 1)
        read -r _ frozen steps _ <<< "$winner"
        precision=${PRECISION:-bfloat16}
        echo "[fg_campaign] part 9 winner: k$frozen, $steps steps; precision $precision" >&2
        name=k${frozen}_${steps}steps; [ "$precision" != float32 ] && name="${name}_$precision"
        FROZEN_BLOCKS=$frozen STEPS=$steps SEEDS=${SEEDS:-0 1 2} PRECISION=$precision \
          grid "$runs/${name}_pixel_mse" "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_${name}_112px" ;;
    12) IMAGE_SIZE=224 FROZEN_BLOCKS=3 STEPS=1000 SEEDS=0 PRECISION=bfloat16 EXTRA_SETS=$held_out \
          bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/val60_224px/k3_1000_bfloat16" vgg16-D
        record "$runs/val60_224px" "$val224"
        python "$scripts/plot_fg_validation.py" "$val224"
        python "$scripts/fg_select.py" "$val112" "$val224" ;;
    13) winner=$(python "$scripts/fg_select.py" "$val112" "$val224" | tail -n 1)
        read -r _ frozen steps size _ <<< "$winner"
        if [ "$size" = 112 ]; then
          echo "[fg_campaign] part 13: part 9's 112 px setting is still the winner; part 11 holds its grid" >&2
        else
          name=k${frozen}_${steps}steps_bfloat16
          IMAGE_SIZE=$size FROZEN_BLOCKS=$frozen STEPS=$steps SEEDS=${SEEDS:-0 1 2} PRECISION=bfloat16 \
            grid "$runs/${name}_${size}px_pixel_mse" "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_${name}_${size}px"
        fi ;;
    14) for setting in ${head_order//,/ }; do
          FROZEN_BLOCKS=3 STEPS=1000 SEEDS=0 PRECISION=bfloat16 EXTRA_SETS="$held_out $(sets_of "$setting")" \
            bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/val60_head/$setting" vgg16-D
        done
        record "$runs/val60_head" "$val_head"
        python "$scripts/plot_fg_validation.py" "$val_head"
        python "$scripts/plot_fg_validation.py" --metric acc@10 "$val_head"
        python "$scripts/fg_select.py" --rule acc10 --order "$head_order" "$val_head" ;;
    15) setting=$(head_winner)
        sets=$(sets_of "$setting")
        echo "[fg_campaign] part 14 winner: $setting ($sets)" >&2
        name=k3_pixel_mse_bfloat16; [ "$setting" != base ] && name="${name}_$setting"
        FROZEN_BLOCKS=3 STEPS=1000 SEEDS=${SEEDS:-0 1 2} PRECISION=bfloat16 EXTRA_SETS="$sets" \
          grid "$runs/$name" "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_${name#k3_pixel_mse_}_112px" ;;
    16) winners_before flip
        for setting in ${layer_settings[flip]}; do
          FROZEN_BLOCKS=3 STEPS=1000 SEEDS=0 PRECISION=bfloat16 EXTRA_SETS="$held_out $win_sets $(sets_of "$setting")" \
            bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/val60_flip/$setting" vgg16-D
        done
        record "$runs/val60_flip" "$val_flip"
        python "$scripts/plot_fg_validation.py" --metric acc@10 "$val_flip"
        layer_select flip ;;
    17) layer_grid flip ;;
    18) held_out_layer neg ;;
    19) layer_grid neg ;;
    20) held_out_layer tc ;;
    21) layer_grid tc ;;
    22) held_out_layer lr ;;
    23) layer_grid lr ;;
    25) held_out_layer batch ;;
    26) layer_grid batch ;;
    27|28|29|30) winners_before batch  # part 20's winner as recorded, with the preset's rates (part 22)
        setting=b12 sets=$win_sets  # b12: 12 triplets per step, part 20's (and the preset's) batch
        case $part in 28|30) setting=b32 sets="$sets $(sets_of b32)" ;; esac
        case $part in
          27|28) views=8 chain=val60_batch_views8_float32 folder=$val_batch_cache ;;  # 8 crop windows, k3 cache
          29|30) views=0 chain=val60_batch_float32 folder=$val_batch_float32 ;;  # crops drawn live, as in part 20
        esac
        FROZEN_BLOCKS=3 STEPS=1000 SEEDS=0 PRECISION=float32 CACHE_VIEWS=$views \
          TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1} EXTRA_SETS="$held_out $sets" \
          bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/$chain/$setting" vgg16-D
        record "$runs/$chain" "$folder"
        python "$scripts/plot_fg_validation.py" --metric acc@10 "$folder" --beside "$win_record"
        if [ "$setting" = b32 ]; then
          python "$scripts/fg_select.py" --rule acc10 --order b12,b32 "$folder"
        fi ;;
    24) arms=(siamese hybrid heterogeneous printed joint)
        for phase in "siamese hybrid heterogeneous" "printed joint"; do  # Table 4 first, then the schedules
          for seed in ${SEEDS:-0 1 2}; do
            for arm in $phase; do
              case $arm in printed|joint) knob=SCHEDULE=$arm ;; *) knob=SHARING=$arm ;; esac
              env "$knob" CACHE_VIEWS=8 SEEDS=$seed TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1} bash "$scripts/fg_sketchy_mini_frozen.sh" "$runs/k5_views8_$arm" \
                vgg16
            done
          done
        done
        for arm in "${arms[@]}"; do
          record "$runs/k5_views8_$arm" "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_views8_${arm}_112px"
        done ;;
    figures)
      fg=experiments/fg_sketchy_mini_imagenet-offline
      decoder=()
      for grid in pixel_mse_k5 pixel_mse_k3_2000steps_bfloat16 pixel_mse_k3_bfloat16_cls10_noflip \
                  pixel_mse_k3_bfloat16_cls10_noflip_croppairs; do
        for variant in vgg16 vgg16-D; do decoder+=("${grid#pixel_mse_}, $variant=${fg}_${grid}_112px/$variant"); done
      done
      seeds_figure experiments/fg_sketchy_mini_decoder_seeds.png \
        "The decoder (Table 3): vgg16 against vgg16-D, sketchy_mini, 112 px, test acc@K per seed" "${decoder[@]}"
      seeds_figure experiments/fg_sketchy_mini_weight_sharing_seeds.png \
        "Weight sharing (Table 4): vgg16, frozen trunk (k5), sketchy_mini, 112 px, test acc@K per seed" \
        "siamese, live=${fg}_pixel_mse_k5_112px/vgg16" "hybrid, live=${fg}_pixel_mse_k5_hybrid_112px/vgg16" \
        "heterogeneous, live=${fg}_pixel_mse_k5_heterogeneous_112px/vgg16" \
        "siamese, cache=${fg}_pixel_mse_k5_views8_siamese_112px/vgg16" \
        "hybrid, cache=${fg}_pixel_mse_k5_views8_hybrid_112px/vgg16" \
        "heterogeneous, cache=${fg}_pixel_mse_k5_views8_heterogeneous_112px/vgg16"
      seeds_figure experiments/fg_sketchy_mini_schedule_seeds.png \
        "The schedule: vgg16, frozen trunk (k5), sketchy_mini, 112 px, test acc@K per seed" \
        "text, live=${fg}_pixel_mse_k5_112px/vgg16" "printed, live=${fg}_pixel_mse_k5_printed_112px/vgg16" \
        "joint, live=${fg}_pixel_mse_k5_joint_112px/vgg16" "text, cache=${fg}_pixel_mse_k5_views8_siamese_112px/vgg16" \
        "printed, cache=${fg}_pixel_mse_k5_views8_printed_112px/vgg16" \
        "joint, cache=${fg}_pixel_mse_k5_views8_joint_112px/vgg16" ;;
    *) echo "unknown part $part (1-30, figures)" >&2; exit 2 ;;
  esac
done
