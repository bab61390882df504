"""WordNet access for the class hierarchy (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1).

Two installed sources, tried in order by :func:`get_wordnet`:

1. nltk's own ``wordnet`` corpus (``python -m nltk.downloader wordnet``) when it loads.
2. A WordNet 3.0 database folder in the Princeton ``dict`` layout (``data.noun``, ``index.noun``, ...), by default
   Debian's ``wordnet-base`` package in ``/usr/share/wordnet`` (override with ``$SBIR_TF_WORDNET_DIR``). That folder
   lacks the ``lexnames`` file nltk's reader needs, so a cache folder is made once that holds a copy of the database
   files (nltk >= 3.9 refuses symlinks or hard links leading outside a reader's root) and the ``lexnames`` table
   shipped in ``sbir_tf/semantics/resources`` (the 45 lexicographer files of lexnames(5WN)); both folders are added
   to ``nltk.data.path``, where nltk allows corpus files to live. The reader is built directly
   (``WordNetCorpusReader(root, omw_reader=None)``) and its WordNet-version mapping, which would otherwise open
   nltk's own wordnet package, is disabled: the offline database *is* WordNet 3.0, the version nltk maps to.

Without either, the zero-shot jobs use the WordNet facts shipped with the package
(:mod:`sbir_tf.semantics.taxonomy`); ``$SBIR_TF_HIDE_WORDNET=1`` makes :func:`get_wordnet` ignore any installed
WordNet, to exercise that path on a machine that has one.

Information content (for Jiang-Conrath similarity), :data:`IC_SOURCES`: ``"semcor_cntlist"`` (default) builds it
from the SemCor sense-tag counts every WordNet 3.0 database carries (``cntlist.rev``, also inside nltk's corpus), see
:func:`semcor_information_content`; ``"nltk_brown"`` / ``"nltk_semcor"`` read nltk's ``wordnet_ic`` files
(``python -m nltk.downloader wordnet_ic``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import warnings
from collections import defaultdict
from pathlib import Path

from sbir_tf.paths import default_cache_dir

RESOURCES = Path(__file__).resolve().parent / "resources"
LEXNAMES_FILE = RESOURCES / "lexnames"
DEFAULT_WORDNET_DIRS = ("/usr/share/wordnet", "/usr/local/WordNet-3.0/dict", "/usr/share/wordnet/dict")
_DATABASE_FILES = ("data.noun", "index.noun", "data.verb", "index.verb", "data.adj", "index.adj",
                   "data.adv", "index.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "cntlist.rev",
                   "index.sense")

#: Add-one smoothing of synset counts when building information content (as nltk's ``ic(..., smoothing=1.0)``).
IC_SMOOTHING = 1.0
#: nltk returns this for the Jiang-Conrath similarity of a synset with itself (``1 / 0`` distance).
NLTK_JCN_INF = 1e300


class WordNetUnavailable(RuntimeError):
    """Neither nltk's wordnet corpus nor a WordNet 3.0 database folder could be loaded."""


def _offline_reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class OfflineWordNetReader(WordNetCorpusReader):
        """nltk reader over a plain WordNet 3.0 folder; no mapping to nltk's own wordnet package."""

        def map_wn(self, version="wordnet"):  # noqa: D401 - nltk signature
            return None

    return OfflineWordNetReader


def wordnet_database_dir() -> Path | None:
    """The WordNet 3.0 database folder used when nltk's corpus is absent (``$SBIR_TF_WORDNET_DIR`` first)."""
    env = os.environ.get("SBIR_TF_WORDNET_DIR")
    for cand in ([env] if env else []) + list(DEFAULT_WORDNET_DIRS):
        if cand and (Path(cand) / "data.noun").is_file() and (Path(cand) / "index.noun").is_file():
            return Path(cand)
    return None


def _prepared_root(db_dir: Path) -> Path:
    """A cache folder holding copies of ``db_dir``'s files plus the shipped ``lexnames`` (made once)."""
    if (db_dir / "lexnames").is_file():
        return db_dir
    tag = hashlib.sha1(str(db_dir.resolve()).encode()).hexdigest()[:10]
    root = default_cache_dir() / f"wordnet-{tag}"
    root.mkdir(parents=True, exist_ok=True)
    for name in _DATABASE_FILES:
        src, dst = db_dir / name, root / name
        if src.is_file() and (not dst.is_file() or dst.stat().st_size != src.stat().st_size):
            # nltk (>= 3.9) refuses symlinks leaving the reader's root and multiply-linked files: a real copy (~30 MB)
            tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    lex = root / "lexnames"
    if not lex.exists() or lex.read_bytes() != LEXNAMES_FILE.read_bytes():
        tmp = lex.with_name(f"lexnames.{os.getpid()}.tmp")
        shutil.copyfile(LEXNAMES_FILE, tmp)
        os.replace(tmp, lex)
    return root


def _allow_in_nltk(*dirs: Path) -> None:
    """nltk (>= 3.9) opens corpus files only under its data path (symlinks resolved): register our folders there."""
    import nltk.data

    for d in dirs:
        d = str(Path(d).resolve())
        if d not in nltk.data.path:
            nltk.data.path.append(d)


def _nltk_wordnet():
    try:
        from nltk.corpus import wordnet as wn

        wn.ensure_loaded()
        return wn
    except LookupError:
        return None


def _download_nltk_wordnet():
    """Last resort where the network allows: nltk's own downloader (``wordnet``); ``None`` when that fails.

    Skipped when ``$SBIR_TF_NO_DOWNLOAD`` is set (offline machines, CI).
    """
    if os.environ.get("SBIR_TF_NO_DOWNLOAD"):
        return None
    import nltk

    try:
        if not nltk.download("wordnet", quiet=True, raise_on_error=True):
            return None
    except Exception:  # no network, proxy refusal, ...: report WordNet as unavailable instead
        return None
    return _nltk_wordnet()


#: environment variable: when set to anything but ``""``/``"0"``, installed WordNet is ignored (fresh-machine path)
HIDE_WORDNET_ENV = "SBIR_TF_HIDE_WORDNET"
#: how to install WordNet, quoted by every error that needs it
INSTALL_HINT = ("install WordNet 3.0: `apt-get install wordnet-base` (Debian/Ubuntu), or "
                "`python -m nltk.downloader wordnet wordnet_ic`")


def wordnet_hidden() -> bool:
    """True when ``$SBIR_TF_HIDE_WORDNET`` asks the package to ignore any installed WordNet."""
    return os.environ.get(HIDE_WORDNET_ENV, "").strip() not in ("", "0")


def get_wordnet(download: bool = True):
    """A working nltk WordNet reader (cached): nltk's own corpus if installed, else the offline WordNet 3.0 folder
    (Debian's ``wordnet-base``), else (``download=True``) nltk's download of its corpus where the network allows.

    Raises :class:`WordNetUnavailable` when none loads or ``$SBIR_TF_HIDE_WORDNET`` is set.
    """
    if wordnet_hidden():
        raise WordNetUnavailable(f"installed WordNet is hidden by ${HIDE_WORDNET_ENV}=1")
    reader, _, error = _search_wordnet(False)
    if error and download:
        reader, _, error = _search_wordnet(True)
    if error:
        raise WordNetUnavailable(error)
    return reader


def wordnet_reader_source() -> str:
    """Where the reader of :func:`get_wordnet` comes from (raises like :func:`get_wordnet`)."""
    get_wordnet(download=False)  # returns only when the (cached) search without download found a reader
    return _search_wordnet(False)[1]


def _nltk_corpus_description(wn) -> str:
    root = getattr(wn, "root", None)
    return f"nltk wordnet corpus ({root})" if root is not None else "nltk wordnet corpus"


@functools.lru_cache(maxsize=2)
def _search_wordnet(download: bool):
    """``(reader, description, None)`` or ``(None, None, error message)``: the search of :func:`get_wordnet`
    (a failure is remembered too, so an offline machine does not retry a download on every call)."""
    if os.environ.get("SBIR_TF_WORDNET_DIR") is None:
        wn = _nltk_wordnet()
        if wn is not None:
            return wn, _nltk_corpus_description(wn), None
    db_dir = wordnet_database_dir()
    if db_dir is None and download and os.environ.get("SBIR_TF_WORDNET_DIR") is None:
        wn = _download_nltk_wordnet()
        if wn is not None:
            return wn, _nltk_corpus_description(wn), None
    if db_dir is None:
        return None, None, ("WordNet not found: install nltk's corpus (python -m nltk.downloader wordnet) or a "
                            "WordNet 3.0 database folder (Debian/Ubuntu: apt-get install wordnet-base), or set "
                            "$SBIR_TF_WORDNET_DIR.")
    root = _prepared_root(db_dir)
    _allow_in_nltk(root, db_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        reader = _offline_reader_class()(str(root), omw_reader=None)
    return reader, f"WordNet 3.0 database folder {db_dir}", None


get_wordnet.cache_clear = _search_wordnet.cache_clear  # tests reset the search


def parse_wnid(wnid: str) -> tuple[str, int]:
    """ImageNet-style WordNet id (``n02691156``: part of speech ``n``/``v``, then an 8-digit offset) ->
    ``(pos, offset)``; ``ValueError`` for anything else."""
    wnid = wnid.strip()
    if len(wnid) != 9 or wnid[0] not in "nv" or not wnid[1:].isdigit():
        raise ValueError(f"not a WordNet id (expected e.g. 'n02691156'): {wnid!r}")
    return wnid[0], int(wnid[1:])


def synset_from_wnid(wnid: str):
    """ImageNet WordNet id (``n02691156``) -> WordNet 3.0 synset (``airplane.n.01``)."""
    return get_wordnet().synset_from_pos_and_offset(*parse_wnid(wnid))


def wnid_of(synset) -> str:
    """Synset -> ImageNet-style WordNet id (``n`` + 8-digit offset)."""
    return f"{synset.pos()}{synset.offset():08d}"


# ---------------------------------------------------------------------------------------------------------------------
# Information content
# ---------------------------------------------------------------------------------------------------------------------

def _ancestors(synset) -> set:
    """The synset and every (instance) hypernym ancestor, each once."""
    seen, todo = {synset}, [synset]
    while todo:
        nxt = []
        for s in todo:
            for h in s.hypernyms() + s.instance_hypernyms():
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
        todo = nxt
    return seen


def _read_cntlist(cntlist_path) -> str:
    """Text of ``cntlist.rev``: the given file, else the one of the reader of :func:`get_wordnet`."""
    if cntlist_path is not None:
        return Path(cntlist_path).read_text(encoding="utf8")
    try:
        with get_wordnet().open("cntlist.rev") as fh:
            data = fh.read()
    except (OSError, LookupError) as exc:
        raise WordNetUnavailable(f"the installed WordNet has no cntlist.rev (SemCor counts): {exc}; pass "
                                 f"cntlist_path") from exc
    return data.decode("utf8") if isinstance(data, bytes) else data


def semcor_information_content(cntlist_path: str | os.PathLike | None = None, *, use_cache: bool = True) -> dict:
    """Information-content counts from the SemCor sense-tag counts of a WordNet 3.0 database (``cntlist.rev``).

    ``cntlist.rev`` lines are ``sense_key sense_number tag_count``. The result has nltk's IC format
    ``{"n": {offset: count, ..., 0: total}, "v": {...}}``, built the way nltk's ``WordNetCorpusReader.ic`` builds it
    (Resnik 1995 counting), except that counts are attached to the *tagged sense* rather than shared among all senses
    of a word: every noun/verb synset starts at ``IC_SMOOTHING`` (add-one smoothing); each tagged sense's count is
    added to its synset and exactly once to each of its (instance) hypernym ancestors, and to the root total at key
    ``0`` (nltk's ``ic`` walks hypernyms level by level and can add a count twice to an ancestor shared by two parents
    of a multiply-inherited synset; here no ancestor's count exceeds the root total).
    ``nltk.corpus.reader.wordnet.information_content(s, ic) = -log(ic[pos][offset] / ic[pos][0])`` then applies.
    ``cntlist_path=None`` reads the ``cntlist.rev`` of the installed WordNet (Debian's folder or nltk's corpus).
    Cached as JSON in the cache dir (keyed by the counts file's content).
    """
    wn = get_wordnet()
    text = _read_cntlist(cntlist_path)
    digest = hashlib.sha1(text.encode("utf8")).hexdigest()[:12]
    cache = default_cache_dir() / f"ic-semcor-cntlist-v3-{digest}.json"
    if use_cache and cache.is_file():
        raw = json.loads(cache.read_text())
        return {pos: defaultdict(float, {int(k): v for k, v in d.items()}) for pos, d in raw.items()}

    # sense key -> synset, from the lemmas of every noun and verb synset
    key_to_synset = {}
    ic = {}
    for pos in ("n", "v"):
        ic[pos] = defaultdict(float)
        ic[pos][0] = IC_SMOOTHING
        for ss in wn.all_synsets(pos):
            ic[pos][ss.offset()] = IC_SMOOTHING
            for lemma in ss.lemmas():
                key_to_synset[lemma.key()] = ss
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        key, _, count = parts
        ss = key_to_synset.get(key.lower())
        if ss is None:  # adjectives/adverbs, or keys absent from this database
            continue
        weight = float(count)
        pos = ss.pos()
        for ancestor in _ancestors(ss):
            ic[pos][ancestor.offset()] += weight
        ic[pos][0] += weight
    if use_cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({pos: {str(k): v for k, v in d.items()} for pos, d in ic.items()}))
        os.replace(tmp, cache)
    return ic


#: information-content sources for Jiang-Conrath (see the module doc); the first is the default
IC_SOURCES = ("semcor_cntlist", "nltk_brown", "nltk_semcor")
DEFAULT_IC_SOURCE = IC_SOURCES[0]
_NLTK_IC_FILES = {"nltk_brown": "ic-brown.dat", "nltk_semcor": "ic-semcor.dat"}
IC_DESCRIPTIONS = {
    "semcor_cntlist": "SemCor sense-tag counts (cntlist.rev of WordNet 3.0), add-one smoothed, propagated once to "
                      "every (instance) hypernym ancestor",
    "nltk_brown": "nltk wordnet_ic/ic-brown.dat",
    "nltk_semcor": "nltk wordnet_ic/ic-semcor.dat",
}


def check_ic_source(source: str) -> str:
    if source not in IC_SOURCES:
        raise ValueError(f"unknown information-content source {source!r}; choose one of {IC_SOURCES}")
    return source


@functools.lru_cache(maxsize=3)
def _information_content(source: str) -> dict:
    if source == "semcor_cntlist":
        return semcor_information_content()
    from nltk.corpus import wordnet_ic

    try:
        return wordnet_ic.ic(_NLTK_IC_FILES[source])
    except LookupError as exc:
        raise WordNetUnavailable(f"information content {source!r} needs nltk's wordnet_ic corpus "
                                 f"(python -m nltk.downloader wordnet_ic)") from exc


def get_information_content(source: str = DEFAULT_IC_SOURCE) -> dict:
    """IC dictionary (nltk's format) of one of :data:`IC_SOURCES` from the installed WordNet (cached)."""
    check_ic_source(source)
    get_wordnet(download=False)  # honours $SBIR_TF_HIDE_WORDNET
    return _information_content(source)


def information_content_source(source: str = DEFAULT_IC_SOURCE) -> str:
    """Description of the IC data :func:`get_information_content` (same ``source``) uses."""
    return IC_DESCRIPTIONS[check_ic_source(source)]


def information_content(synset, ic) -> float:
    """``IC(s) = -log p(s)`` with ``p(s) = count(s) / count(root)`` (Resnik 1995; nltk convention)."""
    from nltk.corpus.reader.wordnet import information_content as _ic

    return _ic(synset, ic)


def jcn_distance(a, b, ic) -> float:
    """Jiang-Conrath distance ``IC(a) + IC(b) - 2 IC(lcs(a, b))`` (Jiang & Conrath 1997), lcs = most informative
    common subsumer; 0 for identical synsets."""
    if a == b:
        return 0.0
    from nltk.corpus.reader.wordnet import _lcs_ic

    ic1, ic2, lcs = _lcs_ic(a, b, ic)
    return max(ic1 + ic2 - 2.0 * lcs, 0.0)


def jcn_similarity(a, b, ic) -> float:
    """Jiang-Conrath similarity ``1 / jcn_distance`` as nltk reports it (``NLTK_JCN_INF`` for identical synsets)."""
    d = jcn_distance(a, b, ic)
    return NLTK_JCN_INF if d == 0 else 1.0 / d


def jcn_unit_similarity(a, b, ic) -> float:
    """Jiang-Conrath similarity mapped to ``[0, 1]`` by the fixed transform ``1 / (1 + jcn_distance)``.

    nltk's raw JCN similarity is ``1 / distance``, which is ``1e300`` for identical synsets and unbounded near them;
    as an embedding coordinate it would swamp everything else. ``1 / (1 + d)`` keeps the ordering, gives exactly 1
    for a synset with itself and tends to 0 for unrelated synsets.
    """
    return 1.0 / (1.0 + jcn_distance(a, b, ic))


def path_similarity(a, b) -> float:
    """WordNet path similarity ``1 / (1 + shortest hypernym-path length)`` (nltk ``Synset.path_similarity``), in
    ``(0, 1]``; 0 when no path exists."""
    sim = a.path_similarity(b)
    return 0.0 if sim is None else float(sim)


__all__ = [
    "WordNetUnavailable", "get_wordnet", "wordnet_hidden", "wordnet_reader_source", "wordnet_database_dir",
    "parse_wnid", "synset_from_wnid", "wnid_of", "semcor_information_content", "get_information_content",
    "information_content_source", "check_ic_source", "information_content", "jcn_distance", "jcn_similarity",
    "jcn_unit_similarity", "path_similarity", "IC_SMOOTHING", "IC_SOURCES", "DEFAULT_IC_SOURCE", "NLTK_JCN_INF",
    "LEXNAMES_FILE", "HIDE_WORDNET_ENV", "INSTALL_HINT",
]
