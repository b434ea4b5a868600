"""The URL filter: datatrove's bundled blocklists (offline) plus the user's own, with the matched rule recorded."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from curate import config
from curate.pipeline import RunOptions, run
from curate.stages.filters import BlocklistURLFilter, blocklist_dir


def _doc(url: str) -> Document:
    return Document(text="", id=url, metadata={"url": url})


def _listed_domains(limit: int) -> list[str]:
    with open(os.path.join(blocklist_dir(), "domains"), encoding="utf-8") as f:
        return [line.strip() for _, line in zip(range(limit), f) if line[0] != "#"]


def test_hashed_domain_table_matches_the_list():
    stage = BlocklistURLFilter(extra_domains=["mine.example"])
    stage.download_data()  # unpacks the blocklists shipped inside datatrove's wheel; no network
    domains = stage.block_listed_domains
    assert len(domains) > 4_000_000
    listed = _listed_domains(20_000)
    assert all(d in domains for d in listed)
    assert not any(f"zz{d}.invalid" in domains for d in listed[:5000])
    assert "mine.example" in domains and None not in domains


def test_bundled_lists_block_with_reason_and_match():
    stage = BlocklistURLFilter()
    stage.download_data()
    listed = _listed_domains(50_000)
    blocked = next(d for d in listed[1000:] if stage.tldextractor(d).top_domain_under_public_suffix == d)
    doc = _doc(f"https://www.{blocked}/some/page")
    assert stage.filter(doc) == (False, "domain")
    assert doc.metadata["reject_detail"] == blocked
    domains = stage.block_listed_domains
    host = next(d for d in listed[1000:] if stage.tldextractor(d).top_domain_under_public_suffix not in domains)
    doc = _doc(f"http://{host}/")
    assert stage.filter(doc) == (False, "subdomain") and doc.metadata["reject_detail"] == host
    word = sorted(stage.banned_words)[0]
    doc = _doc(f"https://example.org/{word}/index.html")
    assert stage.filter(doc) == (False, "hard_blacklisted")
    assert word in doc.metadata["reject_detail"]
    assert stage.filter(_doc("https://en.wikipedia.org/wiki/Bread")) is True


@pytest.mark.slow
def test_extra_domains_from_yaml_on_real_crawl(data, tmp_path):
    spec = config.parse(
        {"reader": "warc", "stages": [{"url_filter": {"extra_domains": ["creativecommons.org"]}}]}, "url.yaml"
    )
    out = tmp_path / "run"
    stats = run(spec, RunOptions(inputs=[str(data / "warc" / "wget-sample-0001.warc.gz")], output=out, progress=False))
    assert stats["conserved"]
    rows = pq.read_table(out / "rejected", columns=["url", "stage", "reason", "detail"]).to_pylist()
    blocked = [r for r in rows if r["stage"] == "url_filter"]
    assert blocked and all(r["reason"] == "domain" and r["detail"] == "creativecommons.org" for r in blocked)
    assert all("creativecommons.org" in r["url"] for r in blocked)
    kept = pq.read_table(out / "documents", columns=["url"]).column("url").to_pylist()
    assert kept and not any("creativecommons.org/" in u.split("//", 1)[1].split("/", 1)[0] + "/" for u in kept)
    assert json.loads((out / "stats.json").read_text())["stages"][1]["dropped"]["domain"] == len(blocked)
