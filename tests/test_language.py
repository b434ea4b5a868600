"""Language ID on Tatoeba sentences: accuracy, and the stage agrees with the raw fastText model."""

from __future__ import annotations

from datatrove.data import Document

from curate.evals.langid import model_labels, tatoeba_label
from curate.stages.language import LanguageID, load_model, model_path, predict


def sentences(data) -> list[tuple[str, str]]:
    rows = []
    with open(data / "langid" / "tatoeba_long.txt", encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                rows.append((parts[2], parts[3]))
    return rows


def test_model_ships_in_the_wheel():
    assert model_path().endswith("lid.176.ftz")
    assert len(model_labels()) == 176


def test_accuracy_and_identical_to_the_model(data):
    import fasttext

    raw = fasttext.load_model(model_path())  # the model called directly, not through curate
    rows = sentences(data)
    assert len(rows) == 462
    labels = model_labels()
    mapped = [(tatoeba_label(code), text) for code, text in rows if tatoeba_label(code) in labels]
    assert len(mapped) == 427
    stage = LanguageID(languages=None, min_score=0.0)
    correct = 0
    for label, text in mapped:
        doc = Document(text=text, id="x", metadata={})
        assert stage.filter(doc) is True
        direct_labels, direct_scores = raw.predict(text.replace("\n", " "), k=1)
        assert doc.metadata["language"] == direct_labels[0].removeprefix("__label__")
        assert abs(doc.metadata["language_score"] - min(float(direct_scores[0]), 1.0)) < 1e-6
        assert 0.0 <= doc.metadata["language_score"] <= 1.0
        correct += doc.metadata["language"] == label
    accuracy = correct / len(mapped)
    print(f"\nlid.176 accuracy on {len(mapped)} mapped Tatoeba sentences: {accuracy:.4f}")
    assert accuracy >= 0.92


def test_filter_keeps_listed_languages_and_records_reason():
    stage = LanguageID(languages=["en"], min_score=0.65)
    english = Document(text="The weather was lovely, so we walked along the river all afternoon.", id="1", metadata={})
    german = Document(
        text="Das Wetter war schön, also gingen wir den ganzen Nachmittag am Fluss spazieren.", id="2", metadata={}
    )
    assert stage.filter(english) is True
    assert stage.filter(german) == (False, "wrong_language")
    assert german.metadata["language"] == "de"
    assert stage.filter(Document(text="12345 67890", id="3", metadata={})) == (False, "low_language_score")


def test_scores_are_clamped():
    load_model()
    assert all(score <= 1.0 for _, score in predict("Hello, how are you doing today, my friend?", k=5))
