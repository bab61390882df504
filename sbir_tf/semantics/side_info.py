"""Class semantic vectors for zero-shot SBIR (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1 and Table 3).

Side information per class = text embedding (word2vec or GloVe, :mod:`~sbir_tf.semantics.word_vectors`) and/or
hierarchy embedding (WordNet path or Jiang-Conrath similarity to the seen classes' hypernym nodes,
:mod:`~sbir_tf.semantics.hierarchy`). Each part is l2-normalised per class (so a 300-d text vector and a ~300-node
hierarchy vector weigh the same), the parts are concatenated, and the feature-selection auto-encoder
(:mod:`~sbir_tf.semantics.autoencoder`) compresses them to the ``dim``-d (64) semantic vectors. Table 3's
combinations are the ``text``/``hierarchy`` choices: ``("word2vec", None)``, ``(None, "path")``, ``(None, "jcn")``,
``("word2vec", "path")``, ``("word2vec", "jcn")``, and likewise with GloVe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from sbir_tf.data.records import canonical_class_name
from sbir_tf.semantics import autoencoder as ae
from sbir_tf.semantics import hierarchy as hier
from sbir_tf.semantics import word_vectors as wv
from sbir_tf.semantics import wordnet as wnlib

TEXT_CHOICES = ("glove", "word2vec")
HIERARCHY_CHOICES = hier.MEASURES


@dataclass
class SideInformation:
    classes: list[str]
    semantic: np.ndarray                   # [n, dim] float32 final vectors
    text: np.ndarray | None = None         # [n, d_text] raw word vectors
    hierarchy: np.ndarray | None = None    # [n, n_nodes] similarities in [0, 1]
    nodes: list[str] = field(default_factory=list)   # synset names of the hierarchy nodes
    seen: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def l2_normalize_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its l2 norm (rows of zeros stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


SEMANTIC_NORMALIZATIONS = ("none", "l2", "center_l2")


def normalize_semantics(matrix: np.ndarray, seen_rows: Sequence[int], mode: str) -> np.ndarray:
    """Scale the class semantic vectors s that the WAD-CMSN generators are matched against (Eq. 8 targets).

    ``"none"``: the auto-encoder's codes as they are. ``"l2"``: each class vector divided by its l2 norm.
    ``"center_l2"`` (the zero-shot jobs' default): the mean of the *seen* classes' vectors subtracted first, then l2
    normalisation, so classes differ in direction rather than by a few hundredths on a common offset. Unseen classes
    are shifted by the same seen-class mean (no unseen information is used to fit it).
    """
    if mode not in SEMANTIC_NORMALIZATIONS:
        raise ValueError(f"semantics.normalize must be one of {SEMANTIC_NORMALIZATIONS}, got {mode!r}")
    matrix = np.asarray(matrix, np.float32)
    if mode == "center_l2":
        matrix = matrix - matrix[list(seen_rows)].mean(axis=0, keepdims=True)
    return l2_normalize_rows(matrix) if mode in ("l2", "center_l2") else matrix


def _check_choice(value, choices, what):
    if value is not None and value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {choices} or None")


def side_information(class_names: Sequence[str], *, wnids: Mapping[str, str | Sequence[str]] | None = None,
                     dataset: str = "sketchy", text: str | None = "glove", text_path=None, text_vectors=None,
                     hierarchy: str | None = "path", seen: Sequence[str] | None = None, dim: int = ae.SEMANTIC_DIM,
                     seed: int = 0, ae_steps: int = ae.AE_STEPS, beta: float = ae.L21_BETA,
                     ic: dict | None = None) -> SideInformation:
    """All parts of the class side information (see module doc); :func:`class_semantics` returns just the vectors.

    class_names: the classes to embed (seen and unseen). wnids: ``{class: "n02691156"}`` (or a list of ids per class).
    text: ``"glove"`` | ``"word2vec"`` | None; text_path: vectors file (None: offline GloVe 50-d / gensim download of
    word2vec); text_vectors: an already loaded :class:`~sbir_tf.semantics.word_vectors.WordVectors` (overrides).
    hierarchy: ``"path"`` | ``"jcn"`` | None. seen: classes whose hypernym paths form the hierarchy (default: all).
    """
    class_names = list(class_names)
    _check_choice(text, TEXT_CHOICES, "text embedding")
    _check_choice(hierarchy, HIERARCHY_CHOICES, "hierarchy measure")
    if text is None and hierarchy is None and text_vectors is None:
        raise ValueError("at least one kind of side information is needed: text and/or hierarchy")
    if not class_names:
        raise ValueError("no class names given")
    if len({canonical_class_name(c) for c in class_names}) != len(class_names):
        raise ValueError("class names are not unique (after canonicalisation)")
    canon_index = {canonical_class_name(c): i for i, c in enumerate(class_names)}
    if seen is None:
        seen_idx = list(range(len(class_names)))
    else:
        unknown = [s for s in seen if canonical_class_name(s) not in canon_index]
        if unknown:
            raise ValueError(f"seen classes not among class_names: {', '.join(unknown)}")
        seen_idx = sorted({canon_index[canonical_class_name(s)] for s in seen})
        if not seen_idx:
            raise ValueError("empty seen class list")
    info: dict = {"dataset": dataset, "n_classes": len(class_names), "n_seen": len(seen_idx), "text": text,
                  "hierarchy": hierarchy, "dim": dim, "seed": seed, "ae_steps": ae_steps, "beta": beta}
    parts = []

    text_emb = None
    if text is not None or text_vectors is not None:
        vectors = text_vectors if text_vectors is not None else wv.load_text_vectors(text, text_path)
        text_emb, how = wv.class_text_embeddings(vectors, class_names)
        info.update(text_source=getattr(vectors, "name", str(text)), text_dim=int(text_emb.shape[1]),
                    text_lookup=how)
        parts.append(l2_normalize_rows(text_emb))

    hier_emb, node_names = None, []
    if hierarchy is not None:
        synsets, source = hier.class_synsets(class_names, wnids=wnids, dataset=dataset)
        nodes = hier.hierarchy_nodes([synsets[i] for i in seen_idx])
        if hierarchy == "jcn":
            if ic is None:
                ic = wnlib.get_information_content()
                info["ic_source"] = wnlib.information_content_source()
            else:
                info["ic_source"] = "given"
        hier_emb = hier.hierarchy_embeddings(synsets, nodes, hierarchy, ic=ic)
        node_names = [n.name() for n in nodes]
        info.update(hierarchy_nodes=len(nodes), hierarchy_dim=len(nodes),
                    synsets={c: s.name() for c, s in zip(class_names, synsets)}, synset_source=source)
        parts.append(l2_normalize_rows(hier_emb))

    x = np.concatenate(parts, axis=1)
    result = ae.fit_autoencoder(x, dim, beta=beta, steps=ae_steps, seed=seed)
    info.update(input_dim=int(x.shape[1]), final_loss=result.history["final_loss"],
                final_reconstruction=result.history["final_reconstruction"],
                selected_features=int(len(result.selected_features())))
    return SideInformation(classes=class_names, semantic=result.codes, text=text_emb, hierarchy=hier_emb,
                           nodes=node_names, seen=[class_names[i] for i in seen_idx], info=info)


def class_semantics(class_names: Sequence[str], *, wnids=None, dataset: str = "sketchy", text: str | None = "glove",
                    text_path=None, hierarchy: str | None = "path", seen: Sequence[str] | None = None,
                    dim: int = ae.SEMANTIC_DIM, seed: int = 0, ae_steps: int = ae.AE_STEPS, **kwargs
                    ) -> tuple[np.ndarray, dict]:
    """``(matrix [n, dim] float32, info)``: the semantic vectors of ``class_names`` in their order (contract API).

    Keyword arguments as :func:`side_information` (``text_vectors``, ``beta``, ``ic`` also accepted).
    """
    side = side_information(class_names, wnids=wnids, dataset=dataset, text=text, text_path=text_path,
                            hierarchy=hierarchy, seen=seen, dim=dim, seed=seed, ae_steps=ae_steps, **kwargs)
    return side.semantic, side.info
