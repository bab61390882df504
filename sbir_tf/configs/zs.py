"""WAD-CMSN configs as code: ``get_config(preset, dataset) -> Config`` (locked) for ``paper``, ``cpu`` and ``smoke``.

* ``paper``: the paper's settings (VGG16 ImageNet features at 224 px, 64-d semantic space, RMSprop 1e-4 with
  PyTorch's RMSprop rule and constants, all lambda's 1, top-10 retrieval figure) and this project's choices where it
  gives none (batch 128, WGAN weight clipping c = 0.01, one critic step per generator step).
* ``cpu``: same model and losses, ImageNet VGG16 conv weights read offline (``imagenet-offline``), fewer steps;
  features at 224 px on real data and at 64 px on the synthetic set (``features.synthetic_image_size``) so the
  no-data run takes about 2 minutes.
* ``smoke``: tiny everything (32 px synthetic ``imagenet-offline`` features, a few steps) for tests.

Ablations (:data:`ABLATIONS`: the seven rows of Table 4 in :data:`TABLE4_ROWS`, the raw-feature baseline of Table 1,
and :data:`EXTRA_ABLATIONS`, which are not rows of the paper) are applied by :func:`apply_ablation` on top of a
preset; ``--set key=value`` overrides are applied last.
"""
from __future__ import annotations

from sbir_tf.config import Config
from sbir_tf.losses import wadcmsn as L
from sbir_tf.models import wadcmsn as M
from sbir_tf.semantics import hierarchy as hier
from sbir_tf.semantics import side_info
from sbir_tf.semantics import wordnet as wnlib

PRESETS = ("paper", "cpu", "smoke")
DATASETS = ("sketchy", "tuberlin")
DEFAULT_SPLITS = {"sketchy": "sempcyc25", "tuberlin": "sempcyc30"}
SPLITS = {"sketchy": ("sempcyc25", "sake25", "eccv21"), "tuberlin": ("sake30", "sempcyc30")}
#: ``--semantics`` per preset and dataset. ``paper``: Table 3's best rows (Sec. 4.4: "on Sketchy (Extended), the
#: combination of Word2vec and Jiang-Conrath's hierarchical similarity achieves the mAP at 0.415, while on TU-Berlin
#: (Extended) dataset, the combination of Word2vec and path similarity leads to the mAP value of 0.351"); without
#: 300-d word2vec vectors offline (semantics.text_vectors / gensim's local copy) a run substitutes the offline GloVe
#: and records it (semantics.text_fallback). ``cpu`` / ``smoke``: the offline GloVe with the same hierarchy measure.
DEFAULT_SEMANTICS = {
    "paper": {"sketchy": "w2v+jcn", "tuberlin": "w2v+path"},
    "cpu": {"sketchy": "glove+jcn", "tuberlin": "glove+path"},
    "smoke": {"sketchy": "glove+jcn", "tuberlin": "glove+path"},
}

#: Table 4 of Xu et al. ("Ablation study in terms of the mAP values"): ``--ablation`` name -> the paper's row label,
#: in the paper's row order. "Adversarial loss" without "Wasserstein distance" is the JS-GAN loss (Sec. 4.5: "only
#: considering adversarial loss without Wasserstein distance").
TABLE4_ROWS = {
    "adv_no_wasserstein": "Only adversarial loss",
    "adv_no_wasserstein+identity": "Adversarial loss + identity matching loss",
    "wasserstein": "Adversarial loss+ Wasserstein distance(Baseline)",
    "wasserstein+cycle": "Baseline+cycle consistency loss",
    "wasserstein+cls": "Baseline+classification loss",
    "wasserstein+identity": "Baseline +identity matching loss",
    "full": "Our full model",
}
#: Table 1 "Softmax (Baseline)": nearest neighbour on the raw 512-d VGG16 features, no training.
RAW_FEATURES = "raw_features"
#: Settings offered beside the paper's rows; never a row of Table 4.
EXTRA_ABLATIONS = {
    "wasserstein+cycle+cls": "Baseline + cycle consistency + classification loss (not in the paper)",
}
#: Every ``--ablation`` name -> which adversarial loss and which terms of Eq. 10 are on (None: no training), in the
#: order Table 4 rows, the Table 1 raw-feature baseline, the extras.
ABLATIONS = {
    "adv_no_wasserstein": {"adversarial": "gan", "terms": ("adv",)},
    "adv_no_wasserstein+identity": {"adversarial": "gan", "terms": ("adv", "iml")},
    "wasserstein": {"adversarial": "wasserstein", "terms": ("adv",)},
    "wasserstein+cycle": {"adversarial": "wasserstein", "terms": ("adv", "cyc")},
    "wasserstein+cls": {"adversarial": "wasserstein", "terms": ("adv", "cls")},
    "wasserstein+identity": {"adversarial": "wasserstein", "terms": ("adv", "iml")},
    "full": {"adversarial": "wasserstein", "terms": ("adv", "cyc", "cls", "iml")},
    RAW_FEATURES: None,
    "wasserstein+cycle+cls": {"adversarial": "wasserstein", "terms": ("adv", "cyc", "cls")},
}
ABLATION_ALIASES = {"softmax": RAW_FEATURES, "baseline": "wasserstein", "wad-cmsn": "full"}
#: Figure 4 of Xu et al.: "Top 10 retrieved images attained by WAD-CMSN".
FIGURE4_TOP_K = 10
#: ``semantics.spec`` parts: text models and WordNet hierarchy measures (Table 3 of Xu et al.)
TEXT_SEMANTICS = ("glove", "word2vec")
HIERARCHY_SEMANTICS = ("path", "jcn")
#: ``--semantics`` values shown in the help: Table 3 of WAD-CMSN (one text model and/or one hierarchy measure)
SEMANTICS_EXAMPLES = ("w2v", "glove", "path", "jcn", "w2v+path", "w2v+jcn", "glove+path", "glove+jcn")


def base_config(dataset: str = "sketchy") -> Config:
    """The paper's WAD-CMSN settings (``paper`` preset)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return Config(
        preset="paper",
        ablation="full",
        # no data.root: the offline synthetic Sketchy-layout set with the seeded "synthetic" class split;
        # prepared_dir: TFDS data_dir of prepared records (sbir_tf.data.prepare), read instead of data.root;
        # reader: "auto" = sketchy_extended for Sketchy (its photo folder must exist), tuberlin_extended for TU-Berlin
        data=dict(dataset=dataset, root=None, prepared_dir=None, reader="auto", split=DEFAULT_SPLITS[dataset]),
        features=dict(weights="imagenet", image_size=224, synthetic_image_size=224, load_size=None, batch_size=32,
                      cache_dir=None, refresh=False,
                      # per-feature scaling before the generators; the paper is silent (README, fidelity section)
                      normalize="l2"),
        # normalize: how the 64-d class vectors s are scaled before the generators are matched to them; the
        # auto-encoder's codes are small (norm ~0.07, classes ~0.03 apart), the paper is silent (README, fidelity)
        # synsets: class -> WordNet synset, "name" (reviewed tables of the class names) or "photo_wnid" (the photos'
        # ImageNet ids); text_vectors: a word2vec/GloVe vectors file; text_fallback: word2vec without vectors at hand
        # -> "glove" (substitute, recorded) | "download" | "error"; ic_source / jcn_form: Jiang-Conrath's
        # information content and its similarity form (sbir_tf.semantics)
        semantics=dict(spec=DEFAULT_SEMANTICS["paper"][dataset], dim=M.SEMANTIC_DIM, seed=0, normalize="center_l2",
                       synsets=hier.DEFAULT_SYNSET_MAPPING, text_vectors=None,
                       text_fallback=side_info.DEFAULT_TEXT_FALLBACK, ic_source=wnlib.DEFAULT_IC_SOURCE,
                       jcn_form=hier.DEFAULT_JCN_FORM),
        model=dict(visual_dim=M.VISUAL_DIM, semantic_dim=M.SEMANTIC_DIM, generator_hidden=list(M.GENERATOR_HIDDEN),
                   critic_hidden=list(M.CRITIC_HIDDEN), generator_dropout=M.GENERATOR_DROPOUT,
                   leaky_slope=M.LEAKY_SLOPE),
        loss=dict(adversarial="wasserstein", lipschitz="clip", clip_value=L.CLIP_VALUE,
                  gp_weight=L.GRADIENT_PENALTY_WEIGHT, semantic_cycle=L.SEMANTIC_CYCLE,
                  # cycle l1 per element ("mean", as nn.L1Loss in the SEM-PCYC code WAD-CMSN builds on); "sum" is
                  # the per-sample norm as printed, which makes L_cyc ~512x larger than the other terms
                  reduction=L.CYCLE_REDUCTION,
                  # Eq. 8: squared l2 norm per sample, as printed ("mean" divides by the dimension)
                  iml_reduction=L.IML_REDUCTION,
                  weights=dict(L.DEFAULT_WEIGHTS)),
        # RMSprop "in Pytorch" (Sec. 3.2): torch.optim.RMSprop's alpha, eps and update rule (sbir_tf.losses.wadcmsn)
        train=dict(steps=20000, batch_size=L.BATCH_SIZE, base_lr=L.LEARNING_RATE, rmsprop_rho=L.RMSPROP_RHO,
                   rmsprop_epsilon=L.RMSPROP_EPSILON, rmsprop_epsilon_placement=L.RMSPROP_EPSILON_PLACEMENT,
                   n_critic=L.N_CRITIC, seed=0, log_every=100, eval_every=1000, checkpoint_every=1000,
                   keep_checkpoints=3,
                   # precision: float32 | bfloat16 | float16 (mixed, with loss scaling); jit_compile: XLA for the
                   # compiled steps; deterministic: op determinism and fixed thread counts (sbir_tf.train)
                   precision="float32", jit_compile=False, deterministic=False),
        # test_classes: "unseen" = all unseen classes (the papers' text: 25 unseen Sketchy classes are tested) or
        # "test" = the split's test classes only (unseen minus the validation classes, as the seeded SEM-PCYC code
        # separates them; equal to "unseen" for lists without validation classes). README, fidelity section.
        # map_average: "query" = mean AP over queries (ZSIH / SEM-PCYC protocol code), "class" = mean over classes of
        # the mean AP of each class's queries (the paper's "AP_i is the AP of class i"). README, fidelity section.
        eval=dict(metric="euclidean", precision_ks=[100, 200], map_ks=[None, 200], test_classes="unseen",
                  map_average="query"),
        figures=dict(enabled=True, num_queries=6, top_k=FIGURE4_TOP_K, display_size=64, tsne_max_points=800),
    )


def get_config(preset: str = "paper", dataset: str = "sketchy") -> Config:
    """Preset ``preset`` (paper | cpu | smoke) for ``dataset`` (sketchy | tuberlin), locked."""
    if preset not in PRESETS:
        raise ValueError(f"unknown config {preset!r}; choose one of {PRESETS}")
    name = preset
    cfg = base_config(dataset)
    cfg.preset = preset
    cfg.semantics.spec = DEFAULT_SEMANTICS[name][dataset]
    if name in ("cpu", "smoke"):
        cfg.features.weights = "imagenet-offline"
        cfg.features.synthetic_image_size = 64
        # a 1,000-step CPU run needs a 10x larger RMSprop step than the paper's 1e-4 to move the classifier at all
        cfg.train.update(steps=1000, batch_size=64, base_lr=1e-3, log_every=50, eval_every=250, checkpoint_every=250)
        cfg.figures.tsne_max_points = 500
    if name == "smoke":
        cfg.features.update(image_size=32, synthetic_image_size=32, batch_size=64)
        cfg.train.update(steps=6, batch_size=16, log_every=2, eval_every=3, checkpoint_every=3)
        cfg.figures.update(num_queries=3, top_k=4, display_size=32, tsne_max_points=120)
    return cfg


def canonical_ablation(name: str) -> str:
    """The ``--ablation`` name behind ``name`` (aliases resolved); ``ValueError`` listing the choices otherwise."""
    name = ABLATION_ALIASES.get(name, name)
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose one of {list(ABLATIONS)} "
                         f"(aliases: {ABLATION_ALIASES})")
    return name


def table4_label(name: str) -> str | None:
    """The paper's Table 4 row label of ablation ``name`` (aliases resolved), or None when it is not a Table 4 row."""
    return TABLE4_ROWS.get(canonical_ablation(name))


def apply_ablation(cfg: Config, name: str) -> Config:
    """Set the adversarial loss and zero the Eq. 10 weights of the terms an ablation leaves out (Table 4 rows,
    :data:`TABLE4_ROWS`; extras, :data:`EXTRA_ABLATIONS`; ``raw_features`` changes nothing but the name).

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


def parse_semantics(spec: str) -> tuple[str | None, str | None]:
    """Table 3 side-information choice -> SEM's ``(text, hierarchy)``: ``"glove+path"`` -> ``("glove", "path")``,
    ``"w2v+jcn"`` -> ``("word2vec", "jcn")``, ``"path"`` -> ``(None, "path")``.

    SEM's ``class_semantics`` combines at most one text model with at most one hierarchy measure; a spec naming
    two of either (e.g. ``w2v+path+jcn``) is rejected here with that reason.
    """
    tokens = [t.strip().lower() for t in str(spec).split("+") if t.strip()]
    tokens = ["word2vec" if t == "w2v" else t for t in tokens]
    text = [t for t in tokens if t in TEXT_SEMANTICS]
    hier = [t for t in tokens if t in HIERARCHY_SEMANTICS]
    unknown = [t for t in tokens if t not in TEXT_SEMANTICS + HIERARCHY_SEMANTICS]
    if unknown or not tokens:
        raise ValueError(f"unknown semantics {spec!r}: combine one text model {TEXT_SEMANTICS} (w2v = word2vec) "
                         f"and/or one hierarchy measure {HIERARCHY_SEMANTICS} with '+', e.g. glove+path")
    if len(text) > 1 or len(hier) > 1:
        raise ValueError(f"semantics {spec!r} names {len(text)} text models and {len(hier)} hierarchy measures; "
                         f"the side-information module (sbir_tf.semantics.side_info) combines at most one of each")
    return (text[0] if text else None), (hier[0] if hier else None)
