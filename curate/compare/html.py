"""The building blocks of the compare report's HTML: its style, the mean ± CI cell, tables, sections, and the
phrases several sections share."""

from __future__ import annotations

from html import escape as e

TEST_NAMES = {"welch": "Welch's t-tests across seeds", "paired": "paired t-tests across seeds (runs paired by seed)"}
MARK = {"better": ("▲", "better"), "worse": ("▼", "worse")}

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}td{white-space:nowrap}td.text{text-align:left;white-space:normal}"
    "img{max-width:100%}"
    ".better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}.pooled{color:#666}"
    "tr.sig td{background:#eef8f0}.legend{font-size:.9em;color:#444}.warn{background:#fff4e5;padding:.5em}"
    "section{margin-top:2em}"
)


def cell(s: dict | None, mark: str | None = None, cls: str = "") -> str:
    """mean ± 95% CI half-width (the mean alone with one seed, when there is no interval), with a ▲/▼ mark."""
    if s is None:
        return "<td>—</td>"
    half = s.get("ci95_half")
    text = f"{s['mean']:.4f} ± {half:.4f}" if half is not None else f"{s['mean']:.4f}"
    sign, kind = MARK.get(mark or "", ("", ""))
    classes = " ".join(c for c in (kind, cls) if c)
    return f'<td class="{classes}">{e(text)} {sign}</td>' if classes else f"<td>{e(text)}</td>"


def table(header: list[str], rows: list[str]) -> str:
    return "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" + "".join(rows) + "</table>"


def num(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def section(key: str, title: str, *body: str) -> str:
    return f'<section id="{key}"><h2>{e(title)}</h2>\n' + "\n".join(b for b in body if b) + "\n</section>"


def seeds_text(result: dict) -> str:
    seq = result.get("sequential")
    if not seq:
        return f"{len(result['seeds'])} seeds per candidate ({e(str(result['seeds']))})"
    return f"{min(seq['runs'].values())}–{max(seq['runs'].values())} seeds per candidate (added on demand)"
