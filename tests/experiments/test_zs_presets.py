"""WAD-CMSN presets: the Table 4 rows of Xu et al. and their loss settings, the paper preset's optimiser and figure."""
import pytest

from sbir_tf.configs import zs as zs_presets
from sbir_tf.losses import wadcmsn as L

#: Table 4 of Xu et al. in the paper's order: --ablation name, printed label, adversarial loss, terms of Eq. 10 kept.
PAPER_TABLE4 = [
    ("adv_no_wasserstein", "Only adversarial loss", "gan", {"adv"}),
    ("adv_no_wasserstein+identity", "Adversarial loss + identity matching loss", "gan", {"adv", "iml"}),
    ("wasserstein", "Adversarial loss+ Wasserstein distance(Baseline)", "wasserstein", {"adv"}),
    ("wasserstein+cycle", "Baseline+cycle consistency loss", "wasserstein", {"adv", "cyc"}),
    ("wasserstein+cls", "Baseline+classification loss", "wasserstein", {"adv", "cls"}),
    ("wasserstein+identity", "Baseline +identity matching loss", "wasserstein", {"adv", "iml"}),
    ("full", "Our full model", "wasserstein", {"adv", "cyc", "cls", "iml"}),
]


def test_table4_rows_are_exactly_the_papers_in_order():
    assert list(zs_presets.TABLE4_ROWS.items()) == [(name, label) for name, label, _, _ in PAPER_TABLE4]
    for name in zs_presets.EXTRA_ABLATIONS:
        assert name not in zs_presets.TABLE4_ROWS and zs_presets.table4_label(name) is None
    assert "wasserstein+cycle+cls" in zs_presets.EXTRA_ABLATIONS
    assert zs_presets.table4_label("raw_features") is None
    assert zs_presets.table4_label("baseline") == "Adversarial loss+ Wasserstein distance(Baseline)"
    # every offered name is a Table 4 row, the Table 1 baseline or an extra, in that order
    assert list(zs_presets.ABLATIONS) == (list(zs_presets.TABLE4_ROWS) + ["raw_features"]
                                          + list(zs_presets.EXTRA_ABLATIONS))


@pytest.mark.parametrize("name,label,adversarial,kept", PAPER_TABLE4)
def test_table4_row_loss_settings(name, label, adversarial, kept):
    preset = zs_presets.get_config("paper")
    cfg = zs_presets.apply_ablation(zs_presets.get_config("paper"), name)
    assert cfg.ablation == name and cfg.loss.adversarial == adversarial
    # JS-GAN rows need no Lipschitz constraint; Wasserstein rows keep the preset's weight clipping
    assert cfg.loss.lipschitz == ("none" if adversarial == "gan" else preset.loss.lipschitz)
    zeroed = {term for term, w in cfg.loss.weights.items() if w == 0.0}
    assert zeroed == {"adv", "cyc", "cls", "iml"} - kept
    for term in kept:
        assert cfg.loss.weights[term] == preset.loss.weights[term] != 0.0


def test_raw_features_and_extra_rows():
    preset = zs_presets.get_config("paper")
    raw = zs_presets.apply_ablation(zs_presets.get_config("paper"), "softmax")
    assert raw.ablation == "raw_features" and dict(raw.loss.weights) == dict(preset.loss.weights)
    extra = zs_presets.apply_ablation(zs_presets.get_config("paper"), "wasserstein+cycle+cls")
    assert extra.loss.adversarial == "wasserstein" and extra.loss.weights["iml"] == 0.0
    assert {t for t, w in extra.loss.weights.items() if w != 0.0} == {"adv", "cyc", "cls"}
    with pytest.raises(ValueError, match="unknown ablation 'wasserstein\\+cls\\+identity'"):
        zs_presets.canonical_ablation("wasserstein+cls+identity")


def test_paper_preset_optimiser_losses_and_figure():
    cfg = zs_presets.get_config("paper")
    # "RMSprop in Pytorch" (Sec. 3.2) with "initial training rate 1E - 4" (Sec. 4.2): torch.optim.RMSprop constants
    assert (cfg.train.base_lr, cfg.train.rmsprop_rho, cfg.train.rmsprop_epsilon) == (1e-4, 0.99, 1e-8)
    assert cfg.train.rmsprop_epsilon_placement == "outside_sqrt"
    assert (L.RMSPROP_RHO, L.RMSPROP_EPSILON, L.RMSPROP_EPSILON_PLACEMENT) == (0.99, 1e-8, "outside_sqrt")
    assert cfg.loss.reduction == "mean" and cfg.loss.iml_reduction == "sum"
    assert cfg.eval.map_average == "query"
    # Figure 4: "Top 10 retrieved images"
    assert cfg.figures.top_k == 10 and zs_presets.get_config("cpu").figures.top_k == 10
