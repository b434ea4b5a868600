# curate — the two set-up commands are `make demo` and `make test`; each builds .venv by itself.
PYTHON      ?= python3
VENV        ?= .venv
CURATE_DATA ?= ../shared/data
export CURATE_DATA

BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
PIPELINE ?= pipelines/fineweb.yaml
INPUT    ?=
CRAWL    ?=
FILES    ?=
EXECUTOR ?=
OUTPUT   ?= runs/pipeline
WORKERS  ?= 2

.PHONY: help install demo test test-fast lint pipeline report bench bench-train compare clean

help:
	@echo "make demo      run pipelines/fineweb.yaml on the shared crawl files, write runs/demo/report.html"
	@echo "make test      lint (ruff), format check, types (mypy), then the whole test suite"
	@echo "make test-fast the same checks, then only the tests not marked slow (under a minute)"
	@echo "make pipeline  PIPELINE=pipelines/fineweb.yaml INPUT='crawl/*.warc.gz' OUTPUT=runs/x [WORKERS=2]"
	@echo "               or CRAWL=CC-MAIN-2024-22 FILES=10 instead of INPUT: a Common Crawl dump, streamed"
	@echo "make compare   raw vs fineweb vs mix, ranked by held-out bits per byte of a tiny proxy model"
	@echo "make bench     every benchmark against its named baseline, quick sizes: bench/RESULTS.md, bench/results.json"
	@echo "make bench-train  proxy-model training tokens/s vs a nanoGPT-shaped baseline (and MFU on a GPU)"

# The venv is rebuilt when the dependency pins change. constraints.txt pins every package for CI and the demo;
# pyproject.toml keeps ranges for users installing curate into their own environment.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench,train]'
	@touch $@

install: $(STAMP)

TOKENIZER ?= $(CURATE_DATA)/tokenizer/gpt-neox-bpe-50k.json

demo: $(STAMP)
	$(BIN)/curate run pipelines/fineweb.yaml \
		--input '$(CURATE_DATA)/warc/*' '$(CURATE_DATA)/extraction/articles-311.warc.gz' \
		--output runs/demo --workers $(WORKERS) --overwrite
	$(BIN)/curate ingest '$(CURATE_DATA)/text/state_union.zip' '$(CURATE_DATA)/text/inaugural.zip' \
		--output runs/prose --overwrite
	$(BIN)/curate ingest stdlib --output runs/code --overwrite
	$(BIN)/curate tokenize runs/prose --tokenizer '$(TOKENIZER)' --output runs/prose/tokens --overwrite
	$(BIN)/curate tokenize runs/code --tokenizer '$(TOKENIZER)' --output runs/code/tokens --overwrite
	$(BIN)/curate mix pipelines/demo-mix.yaml --output runs/mix --overwrite
	$(BIN)/python examples/demo_compare.py --workers $(WORKERS) --output runs/compare
	@echo "report: runs/demo/report.html   tokens: runs/demo/tokens   mix: runs/mix   compare: runs/compare/report.html   ablation: runs/ablate/report.html"

# raw extracted text vs pipelines/fineweb.yaml vs a web/prose/code mix, target-weighted verdicts of a tiny proxy model,
# and an ablation of two of the recipe's quality filters (15 small trainings on CPU)
compare: $(STAMP)
	$(BIN)/python examples/demo_compare.py --workers $(WORKERS) --output runs/compare

pipeline: $(STAMP)
	@test -n "$(INPUT)$(CRAWL)" || (echo "usage: make pipeline PIPELINE=pipelines/fineweb.yaml INPUT='crawl/*.warc.gz' OUTPUT=runs/x" \
		"| CRAWL=CC-MAIN-2024-22 FILES=10 [EXECUTOR=local|ray|slurm]" && exit 2)
	$(BIN)/curate run $(PIPELINE) $(if $(CRAWL),--crawl $(CRAWL) $(if $(FILES),--files $(FILES)),--input $(INPUT)) \
		--output $(OUTPUT) --workers $(WORKERS) $(if $(EXECUTOR),--executor $(EXECUTOR))

lint: $(STAMP)
	$(BIN)/ruff check curate curate_train tests bench examples
	$(BIN)/ruff format --check curate curate_train tests bench examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow"

# Every benchmark at a quick size (each script's defaults are the full sizes, bench/README.md), then one table:
# bench/results/NAME.json per benchmark -> bench/results.json and bench/RESULTS.md (bench/summarize.py).
BENCHES := pipeline minhash dedup tokenize reader charset extract_budget extract_engines compare_null \
	scale buckets dedup_bounded train
bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py --passes 1 --workers 2
	$(BIN)/python bench/bench_minhash.py --docs 1000
	$(BIN)/python bench/bench_dedup.py --docs 10000 --cluster-docs 300000
	$(BIN)/python bench/bench_tokenize.py --docs 2000
	$(BIN)/python bench/bench_reader.py --copies 2 --rounds 3
	$(BIN)/python bench/bench_charset.py
	$(BIN)/python bench/bench_extract_budget.py --repeats 1
	$(BIN)/python bench/bench_extract_engines.py --repeats 1
	$(BIN)/python bench/bench_compare_null.py --comparisons 3
	$(BIN)/python bench/bench_scale.py --copies 1 --small 1 --large 2
	$(BIN)/python bench/bench_buckets.py --docs 1000000 3000000
	$(BIN)/python bench/bench_dedup_bounded.py --docs 1000000 2000000 --max-memory 64MiB
	$(BIN)/python bench/bench_train.py --steps 1
	$(BIN)/python bench/summarize.py $(BENCHES)

bench-train: $(STAMP)
	$(BIN)/python bench/bench_train.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
