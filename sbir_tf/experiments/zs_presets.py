"""WAD-CMSN configs as code: ``get_config(name, dataset) -> Config`` for ``paper``, ``cpu`` and ``smoke``.

* ``paper``: the paper's settings (VGG16 ImageNet features at 224 px, 64-d semantic space, RMSprop 1e-4, batch 128,
  WGAN weight clipping c = 0.01, one critic step per generator step, all lambda's 1).
* ``cpu``: same model and losses, HED VGG16 weights (bundled, offline), fewer steps; features at 224 px on real data
  and at 64 px on the synthetic set (``features.synthetic_image_size``) so the no-data run takes about 2 minutes.
* ``smoke``: tiny everything (32 px synthetic features, a few steps) for tests.

Ablations (:data:`ABLATIONS`, Table 4 of the paper, plus the raw-feature baseline of Table 1) are applied by
:func:`apply_ablation` on top of a preset; ``--set key=value`` overrides are applied last.
"""
from __future__ import annotations

from sbir_tf.config import Config
from sbir_tf.losses import wadcmsn as L
from sbir_tf.models import wadcmsn as M

PRESETS = ("paper", "cpu", "smoke")
DATASETS = ("sketchy", "tuberlin")
DEFAULT_SPLITS = {"sketchy": "sempcyc25", "tuberlin": "sempcyc30"}
SPLITS = {"sketchy": ("sempcyc25", "sake25", "eccv21"), "tuberlin": ("sake30", "sempcyc30")}
DEFAULT_SEMANTICS = "glove+path"

#: Table 4 rows: which adversarial loss and which terms of Eq. 10 are on. ``raw_features`` = Table 1 "Softmax"
#: baseline (nearest neighbour on raw 512-d VGG16 features; no training).
ABLATIONS = {
    "adv_no_wasserstein": {"adversarial": "gan", "terms": ("adv",)},
    "adv_no_wasserstein+identity": {"adversarial": "gan", "terms": ("adv", "iml")},
    "wasserstein": {"adversarial": "wasserstein", "terms": ("adv",)},
    "wasserstein+cycle": {"adversarial": "wasserstein", "terms": ("adv", "cyc")},
    "wasserstein+cycle+cls": {"adversarial": "wasserstein", "terms": ("adv", "cyc", "cls")},
    "full": {"adversarial": "wasserstein", "terms": ("adv", "cyc", "cls", "iml")},
    "raw_features": None,
}
ABLATION_ALIASES = {"softmax": "raw_features", "baseline": "wasserstein", "wad-cmsn": "full"}


def base_config(dataset: str = "sketchy") -> Config:
    """The paper's WAD-CMSN settings (``paper`` preset)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return Config(
        name="paper",
        dataset=dataset,
        ablation="full",
        # no data.dir: the offline synthetic Sketchy-layout set with the seeded "synthetic" class split;
        # prepared_dir: TFDS data_dir of prepared records (sbir_tf.data.prepare), read instead of data.dir
        data=dict(dir=None, prepared_dir=None, reader="auto", split=DEFAULT_SPLITS[dataset]),
        features=dict(weights="imagenet", image_size=224, synthetic_image_size=224, load_size=None, batch_size=32,
                      cache_dir=None, refresh=False,
                      # per-feature scaling before the generators; the paper is silent (README, fidelity section)
                      normalize="l2"),
        # normalize: how the 64-d class vectors s are scaled before the generators are matched to them; the
        # auto-encoder's codes are small (norm ~0.07, classes ~0.03 apart), the paper is silent (README, fidelity)
        semantics=dict(spec=DEFAULT_SEMANTICS, dim=M.SEMANTIC_DIM, seed=0, normalize="center_l2"),
        model=dict(visual_dim=M.VISUAL_DIM, semantic_dim=M.SEMANTIC_DIM, generator_hidden=list(M.GENERATOR_HIDDEN),
                   critic_hidden=list(M.CRITIC_HIDDEN), generator_dropout=M.GENERATOR_DROPOUT,
                   leaky_slope=M.LEAKY_SLOPE),
        loss=dict(adversarial="wasserstein", lipschitz="clip", clip_value=L.CLIP_VALUE,
                  gp_weight=L.GRADIENT_PENALTY_WEIGHT, semantic_cycle=True,
                  # cycle l1 per element ("mean", as nn.L1Loss in the SEM-PCYC code WAD-CMSN builds on); "sum" is
                  # the per-sample norm as printed, which makes L_cyc ~512x larger than the other terms
                  reduction="mean",
                  weights=dict(L.DEFAULT_WEIGHTS)),
        train=dict(steps=20000, batch_size=L.BATCH_SIZE, lr=L.LEARNING_RATE, n_critic=L.N_CRITIC, seed=0,
                   log_every=100, eval_every=1000, checkpoint_every=1000, keep_checkpoints=3),
        # test_classes: "unseen" = all unseen classes (the papers' text: 25 unseen Sketchy classes are tested) or
        # "test" = the split's test classes only (unseen minus the validation classes, as the seeded SEM-PCYC code
        # separates them; equal to "unseen" for lists without validation classes). README, fidelity section.
        eval=dict(metric="euclidean", precision_ks=[100, 200], map_ks=[None, 200], test_classes="unseen"),
        figures=dict(enabled=True, num_queries=6, top_k=8, display_size=64, tsne_max_points=800),
    )


def get_config(name: str = "paper", dataset: str = "sketchy", smoke: bool = False) -> Config:
    """Preset ``name`` (paper | cpu | smoke) for ``dataset`` (sketchy | tuberlin); ``smoke=True`` means "smoke"."""
    name = "smoke" if smoke else name
    if name not in PRESETS:
        raise ValueError(f"unknown config {name!r}; choose one of {PRESETS}")
    cfg = base_config(dataset)
    cfg.name = name
    if name in ("cpu", "smoke"):
        cfg.features.weights = "hed"
        cfg.features.synthetic_image_size = 64
        # a 1,000-step CPU run needs a 10x larger RMSprop step than the paper's 1e-4 to move the classifier at all
        cfg.train.update(steps=1000, batch_size=64, lr=1e-3, log_every=50, eval_every=250, checkpoint_every=250)
        cfg.figures.tsne_max_points = 500
    if name == "smoke":
        cfg.features.update(image_size=32, synthetic_image_size=32, batch_size=64)
        cfg.train.update(steps=6, batch_size=16, log_every=2, eval_every=3, checkpoint_every=3)
        cfg.figures.update(num_queries=3, top_k=4, display_size=32, tsne_max_points=120)
    return cfg


def canonical_ablation(name: str) -> str:
    name = ABLATION_ALIASES.get(name, name)
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose one of {sorted(ABLATIONS)} "
                         f"(aliases: {ABLATION_ALIASES})")
    return name


def apply_ablation(cfg: Config, name: str) -> Config:
    """Set the adversarial loss and zero the Eq. 10 weights of the terms an ablation leaves out (Table 4).

    The JS-GAN rows (``adv_no_wasserstein*``) need no Lipschitz constraint, so clipping is turned off for them.
    """
    name = canonical_ablation(name)
    cfg.ablation = name
    spec = ABLATIONS[name]
    if spec is None:
        return cfg
    cfg.loss.adversarial = spec["adversarial"]
    if spec["adversarial"] == "gan":
        cfg.loss.lipschitz = "none"
    for term in list(cfg.loss.weights):
        if term not in spec["terms"]:
            cfg.loss.weights[term] = 0.0
    return cfg
