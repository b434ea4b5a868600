"""Domain tagging: every document gets a `domain` (wiki, news, forum, reference, code, ...) for mixing.

Rules come from YAML and are tried in order; the first that matches wins, and a document no rule matches gets
`default` (`other`). A rule matches when every condition it states holds:
  host:   host names; `wikipedia.org` also matches `en.wikipedia.org` (a leading `www.` is ignored)
  tld:    last label of the host, e.g. `edu`, `gov`
  path:   substrings of the URL path, e.g. `/forum`, `/wiki/`
  source: glob patterns on the input file's name, e.g. `*stackexchange*`
Several values in one condition are alternatives.
"""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import urlsplit

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

CONDITIONS = ("host", "tld", "path", "source")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_RULES: list[dict] = [
    {"domain": "wiki", "host": ["wikipedia.org", "wikimedia.org", "wiktionary.org", "wikibooks.org", "fandom.com"]},
    {"domain": "wiki", "path": ["/wiki/"]},
    {
        "domain": "code",
        "host": [
            "github.com",
            "gitlab.com",
            "bitbucket.org",
            "stackoverflow.com",
            "readthedocs.io",
            "pypi.org",
            "npmjs.com",
            "docs.python.org",
            "developer.mozilla.org",
        ],
    },
    {"domain": "forum", "host": ["reddit.com", "stackexchange.com", "quora.com", "discourse.org"]},
    {
        "domain": "forum",
        "path": [
            "/forum",
            "/forums/",
            "/thread",
            "/viewtopic",
            "/showthread",
            "/discussion",
            "/iathreads/",
            "/community/",
        ],
    },
    {
        "domain": "news",
        "host": [
            "nytimes.com",
            "wsj.com",
            "theguardian.com",
            "bbc.co.uk",
            "bbc.com",
            "reuters.com",
            "apnews.com",
            "cnn.com",
            "washingtonpost.com",
            "bloomberg.com",
            "npr.org",
            "techcrunch.com",
            "theverge.com",
            "wired.com",
            "latimes.com",
            "independent.co.uk",
        ],
    },
    {"domain": "news", "path": ["/news/", "/article/", "/articles/", "/story/", "/politics/", "/opinion/"]},
    {"domain": "reference", "tld": ["edu", "gov", "int"]},
    {
        "domain": "reference",
        "host": [
            "archive.org",
            "britannica.com",
            "arxiv.org",
            "nih.gov",
            "who.int",
            "creativecommons.org",
            "allenai.org",
        ],
    },
]


def check_rules(rules: list, default: str, where: str) -> None:
    """Raise ValueError naming the rule and key that cannot work."""
    if not _NAME.match(default or ""):
        raise ValueError(f"{where}.default: {default!r} is not a domain name (lowercase letters, digits, _)")
    if not isinstance(rules, list):
        raise ValueError(f"{where}.rules: expected a list of rules")
    for i, rule in enumerate(rules):
        at = f"{where}.rules[{i}]"
        if not isinstance(rule, dict):
            raise ValueError(f"{at}: expected a mapping like {{domain: wiki, host: [wikipedia.org]}}")
        for key, value in rule.items():
            if key == "domain":
                if not isinstance(value, str) or not _NAME.match(value):
                    raise ValueError(f"{at}.domain: {value!r} is not a domain name (lowercase letters, digits, _)")
            elif key in CONDITIONS:
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                    raise ValueError(f"{at}.{key}: expected a string or a list of strings")
            else:
                raise ValueError(f"{at}.{key}: unknown key; allowed: domain, {', '.join(CONDITIONS)}")
        if "domain" not in rule:
            raise ValueError(f"{at}.domain: missing")
        if not any(k in rule for k in CONDITIONS):
            raise ValueError(f"{at}: needs at least one of {', '.join(CONDITIONS)}")


def _values(rule: dict, key: str) -> list[str] | None:
    value = rule.get(key)
    return None if value is None else [value] if isinstance(value, str) else list(value)


class DomainRules:
    def __init__(self, rules: list[dict], default: str = "other"):
        self.default = default
        self.rules = [
            {
                "domain": r["domain"],
                "host": [h.lower().removeprefix("www.") for h in _values(r, "host") or []] or None,
                "tld": [t.lower().lstrip(".") for t in _values(r, "tld") or []] or None,
                "path": [p.lower() for p in _values(r, "path") or []] or None,
                "source": _values(r, "source"),
            }
            for r in rules
        ]

    def tag(self, url: str | None, source: str | None) -> str:
        host = path = ""
        if url:
            try:
                parts = urlsplit(url)
                host, path = (parts.hostname or "").lower().removeprefix("www."), parts.path.lower()
            except ValueError:
                pass
        name = (source or "").rsplit("/", 1)[-1]
        for rule in self.rules:
            if rule["host"] and not any(host == h or host.endswith("." + h) for h in rule["host"]):
                continue
            if rule["tld"] and host.rsplit(".", 1)[-1] not in rule["tld"]:
                continue
            if rule["path"] and not any(p in path for p in rule["path"]):
                continue
            if rule["source"] and not any(fnmatch.fnmatch(name, s) for s in rule["source"]):
                continue
            return rule["domain"]
        return self.default


class DomainTagger(PipelineStep):
    """Writes `domain` on every document; never rejects."""

    name = "🏷 Domains"
    type = "✂️ - FORMAT"

    def __init__(self, rejects=None, rules: list[dict] | None = None, default: str = "other"):
        super().__init__()
        rules = DEFAULT_RULES if rules is None else rules
        check_rules(rules, default, "domains")
        self.rules = DomainRules(rules, default)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                domain = self.rules.tag(doc.metadata.get("url"), doc.metadata.get("source"))
                doc.metadata["domain"] = domain
                self.stat_update(StatHints.total, StatHints.forwarded, f"domain_{domain}")
            yield doc


def check_params(params: dict, where: str) -> None:
    """Config-time validation (the YAML's types alone cannot say a rule is well formed)."""
    rules = params.get("rules")
    check_rules(DEFAULT_RULES if rules is None else rules, params.get("default", "other"), where)
