"""The main-text engines the extract stage can run: trafilatura (the default) and Resiliparse's HTML-to-text, the
extractor DCLM used.

Each engine is imported once per process (a cached function, not an import per page), and lazily: a pipeline that
never names Resiliparse never needs it installed. bench/bench_extract_engines.py measures both on the 181
ground-truth article pages (one process on a 2-core machine): trafilatura mean token F1 0.961 at 44 pages/s,
Resiliparse 0.934 at 648 pages/s (it keeps more boilerplate: precision 0.896 against 0.957). trafilatura stays the
default for its F1; Resiliparse is for when extraction's CPU time decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from curate.spec import ConfigError

ENGINES = ("trafilatura", "resiliparse")

# One or more blank lines (with any whitespace on them) between two lines of text.
_BLANK_LINES = re.compile(r"\n\s*\n")


def resiliparse_options(include_comments: bool) -> dict[str, Any]:
    """Resiliparse's options: DCLM's choices (main content only; no alt texts, link targets, form fields or
    noscript content), plus the two that make its text mean what trafilatura's means."""
    return dict(
        preserve_formatting=True,  # a line per block: the line and paragraph filters downstream need lines
        main_content=True,
        # list items keep a marker, as DCLM keeps them and as trafilatura writes "- ": a list stays a list
        list_bullets=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=include_comments,  # the stage's own setting, under either engine (Resiliparse's default is on)
        post_meta=False,  # bylines and dates: trafilatura leaves them out of the text too
    )


@lru_cache(maxsize=1)
def trafilatura_extract() -> Callable[..., str | None]:
    import trafilatura

    return trafilatura.extract


@lru_cache(maxsize=1)
def resiliparse_extract() -> Callable[..., str]:
    """Resiliparse's extractor, or a ConfigError saying how to install it (raised when the stage is built, so a
    pipeline that names the engine without the package fails before it reads a record)."""
    from curate.extras import MissingExtra, require

    try:
        return require("resiliparse.extract.html2text", "extract.engine: resiliparse").extract_plain_text
    except MissingExtra as err:
        raise ConfigError(str(err)) from None


def resiliparse_text(html: str, options: dict[str, Any]) -> str:
    """Resiliparse's main text with its blank lines between blocks removed: trafilatura's layout, one line per
    block. Gopher's repetition filter counts paragraphs split at blank lines, so the same thresholds would judge
    the two engines' texts by different units otherwise. Indentation (<pre>, nested lists) is kept."""
    return _BLANK_LINES.sub("\n", resiliparse_extract()(html, **options)).strip()
