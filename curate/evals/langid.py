"""Tatoeba ISO 639-3 codes → lid.176 labels (ISO 639-1 where one exists, else the 3-letter code)."""

from __future__ import annotations


def tatoeba_label(iso639_3: str) -> str:
    import pycountry

    language = pycountry.languages.get(alpha_3=iso639_3)
    return getattr(language, "alpha_2", None) or iso639_3


def model_labels() -> set[str]:
    from curate.stages.language import load_model

    labels, _ = load_model().predict("", k=-1, threshold=-1.0)  # every label (this build has no get_labels)
    return {label.removeprefix("__label__") for label in labels}
