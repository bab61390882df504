"""experiments/scripts/fg_campaign.sh: the commands each part issues, read from the committed held-out records.

The script runs in a copy of ``experiments/scripts`` whose training, recording and plotting scripts are stubs that
log their arguments and options; ``fg_select.py`` is the real one, and the held-out record folders the selections
read are linked from the checkout. A wrong winner, a lost override or a grid written to the wrong folder fails here,
before hours of CPU time go to it."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.experiments.test_fg_select import write_head_setting

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "experiments" / "scripts"
HELD_OUT = ("fg_sketchy_mini_imagenet-offline_pixel_mse_val60_112px",
            "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_224px",
            "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_head_112px",
            "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_flip_112px")
STUBS = ("fg_sketchy_mini_frozen.sh", "fg_qmul_v1_frozen.sh", "record_fg_seeds.sh")
OPTIONS = ("FROZEN_BLOCKS", "STEPS", "SEEDS", "PRECISION", "IMAGE_SIZE", "EXTRA_SETS", "SHARING", "SCHEDULE",
           "CACHE_VIEWS", "TF_ENABLE_ONEDNN_OPTS")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="fg_campaign.sh needs bash")


@pytest.fixture
def campaign(tmp_path):
    """A tree with the campaign script, the real selection script, stubs and the committed held-out records."""
    scripts = tmp_path / "experiments" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy(SCRIPTS / "fg_campaign.sh", scripts)
    shutil.copy(SCRIPTS / "fg_select.py", scripts)
    log = tmp_path / "calls.jsonl"
    options = " ".join(f'\\"{name}\\": \\"${{{name}:-}}\\",' for name in OPTIONS)
    for name in STUBS:
        (scripts / name).write_text(
            "#!/usr/bin/env bash\n"
            f'printf "%s\\n" "{{{options} \\"script\\": \\"{name}\\", \\"args\\": \\"$*\\"}}" >> "{log}"\n')
    (scripts / "plot_fg_validation.py").write_text(
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps({{'script': 'plot_fg_validation.py', 'args': ' '.join(sys.argv[1:])}}) + '\\n')\n")
    (scripts / "plot_fg_seeds.py").write_text(
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps({{'script': 'plot_fg_seeds.py', 'argv': sys.argv[1:]}}) + '\\n')\n")
    for folder in HELD_OUT:
        if not (REPO / "experiments" / folder).is_dir():
            pytest.skip(f"the committed record experiments/{folder} is absent")
        os.symlink(REPO / "experiments" / folder, tmp_path / "experiments" / folder)

    def run(*parts, env=None):
        result = subprocess.run(["bash", str(scripts / "fg_campaign.sh"), *parts], capture_output=True, text=True,
                                env={**os.environ, **(env or {})}, timeout=120)
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return result, calls

    run.root = tmp_path
    return run


def test_part7_trains_both_other_sharings_with_the_decoder_over_three_seeds_then_records_each(campaign):
    result, calls = campaign("7")
    assert result.returncode == 0, result.stderr
    assert [c["script"] for c in calls] == ["fg_sketchy_mini_frozen.sh", "record_fg_seeds.sh"] * 2
    for (train, record), sharing in zip((calls[:2], calls[2:]), ("hybrid", "heterogeneous")):
        # part 1's frozen-trunk setting (k5, float32, the script's defaults) beside its `siamese` grid
        assert (train["SHARING"], train["SEEDS"], train["FROZEN_BLOCKS"], train["PRECISION"]) == (sharing, "0 1 2",
                                                                                                  "", "")
        assert train["args"] == f"runs/fg_campaign/k5_pixel_mse_{sharing} vgg16"
        assert record["args"] == (f"runs/fg_campaign/k5_pixel_mse_{sharing} "
                                  f"experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_{sharing}_112px")


def test_part8_trains_the_printed_schedule(campaign):
    result, calls = campaign("8", env={"SEEDS": "2"})
    assert result.returncode == 0, result.stderr
    train, record = calls
    assert (train["SCHEDULE"], train["SEEDS"]) == ("printed", "2")
    assert train["args"] == "runs/fg_campaign/k5_pixel_mse_printed vgg16"
    assert record["args"].split()[1] == "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_printed_112px"


def test_part24_runs_table4_then_the_schedules_seed_by_seed_on_the_trunk_cache_then_records_each(campaign):
    result, calls = campaign("24", env={"SEEDS": "0 1"})
    assert result.returncode == 0, result.stderr
    arms = ("siamese", "hybrid", "heterogeneous", "printed", "joint")
    trains, records = calls[:10], calls[10:]
    assert [c["script"] for c in trains] == ["fg_sketchy_mini_frozen.sh"] * 10
    assert [c["script"] for c in records] == ["record_fg_seeds.sh"] * 5
    # Table 4's three arms seed by seed, then the two schedules seed by seed
    order = [(arm, seed) for seed in (0, 1) for arm in arms[:3]] + [(arm, seed) for seed in (0, 1) for arm in arms[3:]]
    for train, (arm, seed) in zip(trains, order):
        assert (train["SEEDS"], train["CACHE_VIEWS"], train["FROZEN_BLOCKS"]) == (str(seed), "8", "")
        assert train["TF_ENABLE_ONEDNN_OPTS"] == "1"
        assert (train["SHARING"], train["SCHEDULE"]) == ((arm, "") if arm in arms[:3] else ("", arm))
        assert train["args"] == f"runs/fg_campaign/k5_views8_{arm} vgg16"
    assert [r["args"] for r in records] == [
        f"runs/fg_campaign/k5_views8_{arm} experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_views8_{arm}_112px"
        for arm in arms]


def test_part17_runs_the_recorded_winners_over_three_seeds(campaign):
    result, calls = campaign("17")
    assert result.returncode == 0, result.stderr
    assert "part 16 winner: noflip (on part 14's cls10)" in result.stderr
    train, record, plot = calls
    assert train["script"] == "fg_sketchy_mini_frozen.sh"
    assert train["args"] == "runs/fg_campaign/k3_pixel_mse_bfloat16_cls10_noflip vgg16 vgg16-D"
    assert (train["FROZEN_BLOCKS"], train["STEPS"], train["SEEDS"], train["PRECISION"]) == ("3", "1000", "0 1 2",
                                                                                             "bfloat16")
    assert train["EXTRA_SETS"].split() == ["model.classifier_scale=10", "data.flip=false"]
    grid = "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_cls10_noflip_112px"
    assert record["args"] == f"runs/fg_campaign/k3_pixel_mse_bfloat16_cls10_noflip {grid}"
    assert plot == {"script": "plot_fg_validation.py", "args": grid}


def test_part15_names_its_grid_after_part14s_winner(campaign):
    result, calls = campaign("15", env={"SEEDS": "1 2"})
    assert result.returncode == 0, result.stderr
    train, record, _ = calls
    assert train["SEEDS"] == "1 2"
    assert train["EXTRA_SETS"].split() == ["model.classifier_scale=10"]
    assert record["args"].split()[1] == "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_cls10_112px"


def test_part18_trains_one_held_out_run_on_top_of_both_winners(campaign):
    result, calls = campaign("18")
    # the record folder of part 18 does not exist in this tree, so its selection step stops the part
    assert result.returncode != 0
    train = calls[0]
    assert train["args"] == "runs/fg_campaign/val60_negatives/hn10 vgg16-D"
    assert train["SEEDS"] == "0"
    sets = train["EXTRA_SETS"].split()
    assert "data.val_instances=60" in sets and "train.eval_every=250" in sets
    assert sets[-3:] == ["model.classifier_scale=10", "data.flip=false", "data.hard_negative_prob=1.0"]


def assert_grid_or_stands(result, calls, grid, sets, stands):
    """A grid part's outcome: nothing run (``grid`` None, ``stands`` in the log) or the 3-seed grid named ``grid``
    with the overrides ``sets``, then its record and plot in the folder named after it."""
    assert result.returncode == 0, result.stderr
    if grid is None:
        assert calls == []
        assert stands in result.stderr
        return
    train, record, plot = calls
    assert train["args"] == f"runs/fg_campaign/k3_pixel_mse_bfloat16_{grid} vgg16 vgg16-D"
    assert train["SEEDS"] == "0 1 2"
    assert train["EXTRA_SETS"].split() == sets
    folder = f"experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k3_bfloat16_{grid}_112px"
    assert record["args"].split()[1] == folder and plot["args"] == folder


@pytest.mark.parametrize("hits10, grid", [(52, "cls10_noflip_hn10"), (51, None), (40, None)])
def test_part19_runs_a_grid_only_when_part18_beats_part16(campaign, hits10, grid):
    # part 16's `noflip` record holds 51 top-10 hits and 13 acc@1 hits at its last step; a tie on both goes to it
    write_head_setting(campaign.root / "experiments" / "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_negatives_112px",
                       "hn10", hits1=13, hits10=hits10)
    result, calls = campaign("19")
    assert_grid_or_stands(result, calls, grid,
                          ["model.classifier_scale=10", "data.flip=false", "data.hard_negative_prob=1.0"],
                          "part 19: part 16's winner stands")


NEGATIVES = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_negatives_112px"
TRIPLET_CROPS = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_triplet_crops_112px"


def link_record(campaign, folder):
    """Link the committed record ``experiments/<folder>`` into the campaign tree (skip where it is absent)."""
    if not (REPO / "experiments" / folder).is_dir():
        pytest.skip(f"the committed record experiments/{folder} is absent")
    os.symlink(REPO / "experiments" / folder, campaign.root / "experiments" / folder)


def link_negatives(campaign):
    """Part 18's committed record, which parts 20 and 21 read to learn that p = 0.5 stayed."""
    link_record(campaign, NEGATIVES)


def test_part20_trains_two_held_out_runs_on_top_of_the_winners_of_parts_14_16_18(campaign):
    link_negatives(campaign)
    result, calls = campaign("20")
    # the record folder of part 20 does not exist in this tree, so its selection step stops the part
    assert result.returncode != 0
    lt10, croppairs = calls[:2]
    assert lt10["args"] == "runs/fg_campaign/val60_triplet_crops/lt10 vgg16-D"
    assert croppairs["args"] == "runs/fg_campaign/val60_triplet_crops/croppairs vgg16-D"
    for train, change in ((lt10, "loss.lambda_t=10"), (croppairs, "data.crop_pairs=true")):
        assert (train["FROZEN_BLOCKS"], train["STEPS"], train["SEEDS"], train["PRECISION"]) == ("3", "1000", "0",
                                                                                                 "bfloat16")
        sets = train["EXTRA_SETS"].split()
        assert "data.val_instances=60" in sets and "train.eval_every=250" in sets
        assert sets[-3:] == ["model.classifier_scale=10", "data.flip=false", change]
    assert calls[2]["args"] == f"runs/fg_campaign/val60_triplet_crops experiments/{TRIPLET_CROPS}"
    # the plot draws part 16's recorded `noflip` (the unchanged setting) beside the two new runs
    assert calls[3] == {"script": "plot_fg_validation.py", "args": f"--metric acc@10 experiments/{TRIPLET_CROPS} "
                        "--beside experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_flip_112px/noflip"}


@pytest.mark.parametrize("lt10, croppairs, grid", [
    ((13, 52), (13, 40), "cls10_noflip_lt10"),
    ((9, 52), (14, 52), "cls10_noflip_croppairs"),  # tied top-10 hits: more acc@1 hits win
    ((13, 51), (10, 45), None),  # tied with part 16's `noflip` (51 and 13 hits): the unchanged setting stays
    ((20, 50), (20, 30), None),
])
def test_part21_runs_a_grid_only_when_a_part20_setting_beats_the_recorded_one(campaign, lt10, croppairs, grid):
    link_negatives(campaign)
    for name, (hits1, hits10) in (("lt10", lt10), ("croppairs", croppairs)):
        write_head_setting(campaign.root / "experiments" / TRIPLET_CROPS, name, hits1=hits1, hits10=hits10)
    result, calls = campaign("21")
    change = {"lt10": "loss.lambda_t=10", "croppairs": "data.crop_pairs=true"}
    sets = grid and ["model.classifier_scale=10", "data.flip=false", change[grid.rsplit("_", 1)[1]]]
    assert_grid_or_stands(result, calls, grid, sets, "part 21: part 18's winner stands")


LEARNING_RATE = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_lr_112px"
WINNERS_TO_20 = ["model.classifier_scale=10", "data.flip=false", "data.crop_pairs=true"]
LR3 = ["train.base_lr=3e-4", "train.final_lr=3e-5"]


def link_triplet_crops(campaign):
    """Parts 18 and 20's committed records, which parts 22 and 23 read to learn that `croppairs` won part 20."""
    link_negatives(campaign)
    link_record(campaign, TRIPLET_CROPS)


def test_part22_trains_one_held_out_run_on_top_of_the_winners_of_parts_14_to_20(campaign):
    link_triplet_crops(campaign)
    result, calls = campaign("22")
    sets = assert_held_out_on_croppairs(result, calls, "val60_lr/lr3", LEARNING_RATE)
    assert sets[-5:] == WINNERS_TO_20 + LR3


def assert_held_out_run(calls, run, folder, **options):
    """The first three calls of a held-out part: one `vgg16-D` run (seed 0, k3, 1,000 steps, the held-out instances,
    and the environment ``options``) in ``runs/fg_campaign/<run>``, its record in ``experiments/<folder>`` and its
    plot beside part 20's recorded `croppairs` (the unchanged setting); returns the run's overrides."""
    train, record, plot = calls[:3]
    assert train["args"] == f"runs/fg_campaign/{run} vgg16-D"
    expected = {"FROZEN_BLOCKS": "3", "STEPS": "1000", "SEEDS": "0", **options}
    assert {name: train[name] for name in expected} == expected
    sets = train["EXTRA_SETS"].split()
    assert "data.val_instances=60" in sets and "train.eval_every=250" in sets
    assert record["args"] == f"runs/fg_campaign/{run.split('/')[0]} experiments/{folder}"
    assert plot == {"script": "plot_fg_validation.py", "args": f"--metric acc@10 experiments/{folder} "
                    f"--beside experiments/{TRIPLET_CROPS}/croppairs"}
    return sets


def assert_held_out_on_croppairs(result, calls, run, folder):
    """A held-out part built on part 20's `croppairs`, in bfloat16 (:func:`assert_held_out_run`), whose selection
    stops it; returns the run's overrides."""
    # the part's record folder does not exist in this tree, so its selection step stops the part
    assert result.returncode != 0
    assert len(calls) == 3
    return assert_held_out_run(calls, run, folder, PRECISION="bfloat16")


@pytest.mark.parametrize("hits1, hits10, grid", [
    (10, 61, "cls10_noflip_croppairs_lr3"),
    (16, 60, "cls10_noflip_croppairs_lr3"),  # tied top-10 hits: more acc@1 hits win
    (15, 60, None),  # tied with part 20's `croppairs` (60 and 15 hits): the unchanged setting stays
    (30, 59, None),
])
def test_part23_runs_a_grid_only_when_lr3_beats_part20s_winner(campaign, hits1, hits10, grid):
    link_triplet_crops(campaign)
    write_head_setting(campaign.root / "experiments" / LEARNING_RATE, "lr3", hits1=hits1, hits10=hits10)
    result, calls = campaign("23")
    assert_grid_or_stands(result, calls, grid, grid and WINNERS_TO_20 + LR3, "part 23: part 20's winner stands")
    assert "part 22 winner: " + ("lr3" if grid else "croppairs") + " (on part 20's croppairs)" in result.stderr


BATCH = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_112px"


def link_learning_rate(campaign):
    """Parts 18, 20 and 22's committed records, which parts 25 and 26 read to learn that `croppairs` won part 20
    and the preset's rates stayed in part 22."""
    link_triplet_crops(campaign)
    link_record(campaign, LEARNING_RATE)


def test_part25_trains_the_papers_batch_on_the_held_out_instances_on_top_of_the_winners_to_part22(campaign):
    link_learning_rate(campaign)
    result, calls = campaign("25")
    sets = assert_held_out_on_croppairs(result, calls, "val60_batch/b32", BATCH)
    # part 22's lr3 lost, so no rate override: the winners to part 20, then the batch
    assert sets[-4:] == WINNERS_TO_20 + ["train.batch_size=32"]
    assert not any(s.startswith("train.base_lr") for s in sets)


@pytest.mark.parametrize("hits1, hits10, grid", [
    (10, 61, "cls10_noflip_croppairs_b32"),
    (16, 60, "cls10_noflip_croppairs_b32"),  # tied top-10 hits: more acc@1 hits win
    (15, 60, None),  # tied with part 20's `croppairs` (60 and 15 hits): 12 triplets per step stay
    (30, 59, None),
])
def test_part26_runs_a_grid_only_when_b32_beats_the_winner_it_builds_on(campaign, hits1, hits10, grid):
    link_learning_rate(campaign)
    write_head_setting(campaign.root / "experiments" / BATCH, "b32", hits1=hits1, hits10=hits10)
    result, calls = campaign("26")
    assert_grid_or_stands(result, calls, grid, grid and WINNERS_TO_20 + ["train.batch_size=32"],
                          "part 26: part 22's winner stands")
    assert "part 25 winner: " + ("b32" if grid else "croppairs") + " (on part 22's croppairs)" in result.stderr


BATCH_CACHE = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_views8_float32_112px"
BATCH_FLOAT32 = "fg_sketchy_mini_imagenet-offline_pixel_mse_val60_batch_float32_112px"
# the two float32 chains of part 25's comparison: (first part, runs folder, record folder, trunk cache views)
FLOAT32_CHAINS = [(27, "val60_batch_views8_float32", BATCH_CACHE, "8"),  # parts 27-28: on the k3 trunk cache
                  (29, "val60_batch_float32", BATCH_FLOAT32, "0")]  # parts 29-30: crops drawn live


def assert_float32_held_out(calls, run_folder, record_folder, setting, views):
    """A part of a float32 chain (27-30): :func:`assert_held_out_run` in float32, on ``views`` cached views (0:
    live), with oneDNN on unless set, in ``runs/fg_campaign/<run_folder>/<setting>``; returns the run's overrides."""
    return assert_held_out_run(calls, f"{run_folder}/{setting}", record_folder, PRECISION="float32",
                               CACHE_VIEWS=views, TF_ENABLE_ONEDNN_OPTS="1")


@pytest.mark.parametrize("part, run_folder, record_folder, views", FLOAT32_CHAINS)
def test_parts27_29_rerun_part20s_winner_in_float32_and_choose_nothing(campaign, part, run_folder, record_folder,
                                                                     views):
    link_learning_rate(campaign)
    result, calls = campaign(str(part))
    assert result.returncode == 0, result.stderr
    assert len(calls) == 3  # no selection and no grid: the chain's unchanged side
    sets = assert_float32_held_out(calls, run_folder, record_folder, "b12", views)
    assert sets[-3:] == WINNERS_TO_20
    assert not any(s.startswith(("train.batch_size", "train.base_lr")) for s in sets)
    # a caller's kernel choice is kept
    result, calls = campaign(str(part), env={"TF_ENABLE_ONEDNN_OPTS": "0"})
    assert calls[0]["TF_ENABLE_ONEDNN_OPTS"] == "0"


@pytest.mark.parametrize("part, run_folder, record_folder, views", FLOAT32_CHAINS)
@pytest.mark.parametrize("b12, b32, winner", [
    ((15, 60), (10, 61), "b32"),
    ((15, 60), (16, 60), "b32"),  # tied top-10 hits: more acc@1 hits win
    ((15, 60), (15, 60), "b12"),  # tied on both: 12 triplets per step stay
    ((30, 59), (40, 50), "b12"),
])
def test_parts28_30_train_b32_in_the_same_chain_and_choose_by_part25s_rule(campaign, part, run_folder, record_folder,
                                                                          views, b12, b32, winner):
    link_learning_rate(campaign)
    folder = campaign.root / "experiments" / record_folder
    write_head_setting(folder, "b12", hits1=b12[0], hits10=b12[1])
    write_head_setting(folder, "b32", hits1=b32[0], hits10=b32[1])
    result, calls = campaign(str(part + 1))
    assert result.returncode == 0, result.stderr
    assert len(calls) == 3  # no grid here: a winner's 3-seed grid is part 26's
    sets = assert_float32_held_out(calls, run_folder, record_folder, "b32", views)
    assert sets[-4:] == WINNERS_TO_20 + ["train.batch_size=32"]
    assert result.stdout.splitlines()[-1] == f"winner: {winner}"


def test_figures_draw_each_claim_from_the_folders_with_seeds(campaign):
    fg = "experiments/fg_sketchy_mini_imagenet-offline_pixel_mse"
    for folder in (f"{fg}_k5_112px/vgg16", f"{fg}_k5_112px/vgg16-D", f"{fg}_k5_views8_hybrid_112px/vgg16"):
        (campaign.root / folder / "seed0").mkdir(parents=True)
        (campaign.root / folder / "seed0" / "metrics.json").write_text("{}")
    (campaign.root / f"{fg}_k5_joint_112px/vgg16/seed0").mkdir(parents=True)  # a run not yet recorded
    result, calls = campaign("figures")
    assert result.returncode == 0, result.stderr
    decoder, sharing = calls  # the schedule figure has one setting with seeds (`text`, live), so it is not drawn
    assert decoder["argv"][:2] == ["--out", "experiments/fg_sketchy_mini_decoder_seeds.png"]
    assert decoder["argv"][4:] == [f"k5, vgg16={fg}_k5_112px/vgg16", f"k5, vgg16-D={fg}_k5_112px/vgg16-D"]
    assert sharing["argv"][:2] == ["--out", "experiments/fg_sketchy_mini_weight_sharing_seeds.png"]
    assert sharing["argv"][4:] == [f"siamese, live={fg}_k5_112px/vgg16",
                                   f"hybrid, cache={fg}_k5_views8_hybrid_112px/vgg16"]


def test_an_unknown_part_is_an_error(campaign):
    result, calls = campaign("31")
    assert result.returncode == 2
    assert "unknown part 31 (1-30, figures)" in result.stderr
    assert calls == []
