"""Domain tagging from YAML rules: first match wins, unmatched → default, bad rules name the key."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from curate import config
from curate.cli import main
from curate.stages.domains import DEFAULT_RULES, DomainRules


def test_rules_match_host_tld_path_source():
    rules = DomainRules(
        [
            {"domain": "wiki", "host": "wikipedia.org"},
            {"domain": "forum", "path": ["/forum", "/thread"]},
            {"domain": "reference", "tld": ["edu", "gov"]},
            {"domain": "code", "source": "*github*"},
            {"domain": "news", "host": ["example.com"], "path": "/news/"},  # both must hold
        ]
    )
    assert rules.tag("https://en.wikipedia.org/wiki/Bread", None) == "wiki"
    assert rules.tag("https://www.wikipedia.org/", None) == "wiki"
    assert rules.tag("https://notwikipedia.org/", None) == "other"
    assert rules.tag("http://boards.example.net/forum/123", None) == "forum"
    assert rules.tag("https://www.mit.edu/about", None) == "reference"
    assert rules.tag(None, "crawl/github-2024.warc.gz") == "code"
    assert rules.tag("https://example.com/news/today", None) == "news"
    assert rules.tag("https://example.com/sports/today", None) == "other"
    assert rules.tag("not a url", None) == "other"


def test_defaults_cover_the_usual_domains():
    rules = DomainRules(DEFAULT_RULES)
    assert rules.tag("https://www.nytimes.com/2019/11/19/opinion/x.html", None) == "news"
    assert rules.tag("https://github.com/org/repo", None) == "code"
    assert rules.tag("https://archive.org/details/x", None) == "reference"
    assert rules.tag("https://an.wikipedia.org/wiki/Escopete", None) == "wiki"
    assert rules.tag("https://blog.example/post", None) == "other"


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ("[{domain: Wiki, host: a.org}]", "rules[0].domain"),
        ("[{domain: wiki, hots: a.org}]", "rules[0].hots"),
        ("[{domain: wiki}]", "rules[0]: needs at least one"),
        ("[{host: a.org}]", "rules[0].domain: missing"),
        ("[{domain: wiki, host: []}]", "rules[0].host"),
    ],
)
def test_bad_rules_are_config_errors(rules, key, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(f"reader: warc\nstages:\n  - extract\n  - domains:\n      rules: {rules}\n")
    with pytest.raises(config.ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        config.load(path)


@pytest.mark.slow
def test_every_kept_document_is_tagged_on_real_crawl(data, tmp_path):
    spec = tmp_path / "tag.yaml"
    spec.write_text("reader: warc\nstages:\n  - extract\n  - domains: {}\n")
    out = tmp_path / "run"
    files = [str(data / "warc" / n) for n in ("wget-sample-0000.warc.gz", "wget-sample-0001.warc.gz")]
    assert main(["run", str(spec), "--input", *files, "--output", str(out), "--no-progress"]) == 0
    rows = pq.read_table(out / "documents", columns=["url", "domain"]).to_pylist()
    assert rows and all(r["domain"] for r in rows)
    by_host = {r["url"].split("/")[2]: r["domain"] for r in rows}
    assert by_host.get("creativecommons.org") == "reference"
    stats = json.loads((out / "stats.json").read_text())
    assert sum(stats["domains"].values()) == stats["kept"] == len(rows)
    assert "domains.png" in (out / "report.html").read_text()
