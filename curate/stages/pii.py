"""PII scrub: emails, IP addresses, phone numbers, payment cards and IBANs become typed placeholders.

Each match is replaced by `<EMAIL>`, `<IP_ADDRESS>`, `<PHONE>`, `<CARD>` or `<IBAN>`; the stage counts them per
type (`pii_email`, `pii_ip`, ... in stats.json) and never rejects a document.

Regexes only find candidates; whatever can be checked is checked in Python, because web text is full of numbers
that look like PII: cards must pass Luhn and have a card network's prefix and length (so EAN-13 barcodes with a
lucky check digit stay), IBANs must pass mod-97 and have their country's length, IPs must parse with `ipaddress`
(octets <= 255, no leading zeros, exactly four parts for IPv4, so `1.2.3.4.5` is not an IP; neither are quads after
"version", "v" or "section", nor 0.x.x.x). Phones need the structure of a phone number (a `+` country code, a US
3-3-4 layout, a national trunk `0` with groups, a bracketed area code) or a word such as "call", "tel" or "fax"
right before them, so that plain digit runs, dates, ISBNs, prices and SSNs are left alone; a number that goes on
with more digit groups on either side is not a phone either (it is a rejected card, an IBAN, a table row).
Types are matched in a fixed order (email, IBAN, card, IP, phone) and a later type never takes a span that overlaps
an earlier one, so one number is counted once.

`keep_private_ips` keeps what `ipaddress` calls private (which includes the documentation ranges 192.0.2.0/24 and
2001:db8::/32), loopback and link-local addresses, IPv4-mapped ones judged by their IPv4 address.

Out of scope, deliberately: names, postal addresses, birth dates, national IDs (SSNs): they need a model or a
country-specific rulebook and are left in the text. Known limits: a bare 10-digit US number with no separators and
no "call"/"tel" word before it is not taken as a phone (it is indistinguishable from an ID); national formats
without a trunk `0` (Spain, Italy's mobiles) are only found with a country code or a phone word before them.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

ALL_TYPES: frozenset[str] = frozenset({"email", "iban", "card", "ip", "phone"})
ORDER: tuple[str, ...] = ("email", "iban", "card", "ip", "phone")  # earlier types win overlapping spans
PLACEHOLDERS: dict[str, str] = {
    "email": "<EMAIL>",
    "ip": "<IP_ADDRESS>",
    "phone": "<PHONE>",
    "card": "<CARD>",
    "iban": "<IBAN>",
}

Span = tuple[int, int, str]

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)

# IBAN: country, check digits, then the BBAN, either compact or in groups of four separated by single spaces.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24,
    "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip

# Cards: one run of 13-19 digits, or the printed layouts (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4) with one
# separator used throughout. Neighbouring digits, dots or dashes mean the number is part of something longer.
_CARD = re.compile(
    r"(?<![\w.,+-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?![\w]|[.,-]\d)"
)

_BARCODE_BEFORE = re.compile(r"(?i)\b(?:EAN|GTIN|UPC|SKU|barcode|ISBN|ISSN)(?:-1[03])?\b\W*$")

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?:%[0-9A-Za-z_.-]+)?(?![\w:])"
)
# Dotted quads that are numbered things, not hosts: "version 1.2.3.4", "v1.2.3.4", "section 8.2.4.44".
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\b(?:version|ver|release|build|firmware|v|sections?|sec|chapter|clause|rule|"
    r"step)\.?|__version__|§)[\s:=\"'#-]*$"
)

_EXT = r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"
_PHONES: tuple[re.Pattern[str], ...] = (
    # International: +CC followed by digit groups ("+44 (0)20 7946 0958", "+1-212-456-7890", "+12312322334").
    re.compile(r"(?<![\w+])\+[1-9][ .()-]{0,2}(?:\d[ .()-]{0,2}){5,12}\d\d" + _EXT + r"(?!\w|[.,-]\d)"),
    # US/NANP 3-3-4 with separators, optional country code: "(814) 360 8593", "555.123.4567".
    re.compile(
        r"(?<![\w.+-])(?:1[ .-])?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}" + _EXT + r"(?!\w|[.-]\d)"
    ),
    # National with trunk 0: "020 7946 0958", "07700 900123", "01 23 45 67 89", "030/1234567", "(07) 5331 0577".
    re.compile(
        r"(?<![\w.,/+-])(?:\(0\d{1,4}\)\s?|0\d{1,5}[ ./-])\d{2,8}(?:[ .-]\d{2,8}){0,4}" + _EXT + r"(?!\w|[.,/-]\d)"
    ),
    # Bracketed 2-3 digit area code: "(11) 91234-5678", "(96) 627-277".
    re.compile(r"(?<![\w.])\(\d{2,3}\)\s?\d{3,5}[ -]\d{3,4}(?!\w|[.-]\d)"),
    # Anything number-like right after a phone word: "call me on 21 212 133 2727", "Tel: 2312322334".
    re.compile(
        r"(?i:\b(?:tel(?:ephone)?|phone|ph|mobile|cell(?:phone)?|fax|whatsapp|hotline|call(?:\s+(?:me|us))?"
        r"(?:\s+(?:at|on))?|text\s+(?:me|us)(?:\s+(?:at|on))?|reach\s+(?:me|us)\s+at)\b\.?(?:\s*(?:no|nr|number)"
        r"\b\.?)?[\s:#-]{0,3})(\+?\(?\d(?:[ .()-]{0,2}\d){6,14}" + _EXT + r")(?!\w|[.,/-]\d)"
    ),
)
_PHONE_MIN_DIGITS = (8, 10, 9, 8, 7)  # per pattern above
_NUMBER_BEFORE = re.compile(r"\d[ .-]$")
_NUMBER_AFTER = re.compile(r"[ .-]\d")
_DATE_OR_ID = re.compile(r"\d{4}[.-]\d{1,2}[.-]\d{1,2}|\d{1,2}[.-]\d{1,2}[.-]\d{2,4}|\d{3}-\d{2}-\d{4}")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616: country length (where known) and mod-97 of the rearranged number equal to 1."""
    if not (15 <= len(iban) <= 34 and iban.isascii() and iban.isalnum()):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def _emails(text: str) -> Iterable[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.span()


def _ibans(text: str) -> Iterable[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        # The regex may run into a following word in capitals; try each end on a group boundary, longest first.
        ends = [m.start() + i + 1 for i, ch in enumerate(m.group()) if ch != " "]
        for end in reversed(ends):
            if end < len(text) and text[end].isalnum():
                continue
            if iban_ok(text[m.start() : end].replace(" ", "")):
                yield m.start(), end
                break


def card_brand_ok(digits: str) -> bool:
    """Whether a number has the prefix and length of a card network (Visa, Mastercard, Amex, Diners, Discover, JCB,
    UnionPay, Maestro): Luhn alone passes one random number in ten, and barcodes (EAN-13) carry check digits too."""
    n, p2, p3, p4, p6 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p4 == 6011 or p2 in (62, 65) or 644 <= p3 <= 649 or 3528 <= p4 <= 3589 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19
    return p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) and 13 <= n <= 19  # Maestro


def _cards(text: str) -> Iterable[tuple[int, int]]:
    for m in _CARD.finditer(text):
        start, end = m.span()
        if _BARCODE_BEFORE.search(text, max(0, start - 16), start):
            continue
        while True:
            digits = re.sub(r"\D", "", text[start:end])
            if 13 <= len(digits) <= 19 and card_brand_ok(digits) and luhn_ok(digits):
                yield start, end
                break
            cut = max(text.rfind(" ", start, end), text.rfind("-", start, end))  # drop a trailing 3-digit group
            if cut <= start or end - cut != 4:
                break
            end = cut


def _ip_ok(candidate: str, keep_private: bool) -> bool:
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (keep_private and (ip.is_private or ip.is_loopback or ip.is_link_local))


def _ips(text: str, keep_private: bool) -> Iterable[tuple[int, int]]:
    for m in _IPV6.finditer(text):
        start, end = m.span()
        if text[end - 1] == ":" and text[end - 2 : end] != "::":
            end -= 1  # a colon ending a sentence, "... at 2001:db8::1:"
        candidate = text[start:end]
        # "a::b" in code is a valid address; ask for some substance: 3+ colons, a 3+ digit group, or ::1.
        substantial = candidate.count(":") >= 3 or candidate == "::1" or any(len(g) >= 3 for g in candidate.split(":"))
        if substantial and candidate != "::" and _ip_ok(candidate, keep_private):
            yield start, end
    # After IPv6, so that "::ffff:1.2.3.4" is one address (find() drops the overlapping IPv4 part).
    for m in _IPV4.finditer(text):
        if m.group().startswith("0."):
            continue  # 0.0.0.0/8 names no host; "0.5.1.2" is a version
        if not _VERSION_BEFORE.search(text, max(0, m.start() - 24), m.start()) and _ip_ok(m.group(), keep_private):
            yield m.span()


def _phones(text: str) -> Iterable[tuple[int, int]]:
    for pattern, min_digits in zip(_PHONES, _PHONE_MIN_DIGITS):
        for m in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            number = m.group(group)
            core = re.split(r"\s?(?:x|ext\.?)\s?\d", number)[0]
            digits = sum(ch.isdigit() for ch in core)
            start, end = m.span(group)
            # A number that continues on either side ("4532 0431 9554 5907") is a card, an IBAN or a table row.
            if _NUMBER_BEFORE.search(text, max(0, start - 2), start) or _NUMBER_AFTER.match(text, end):
                continue
            if min_digits <= digits <= 15 and not _DATE_OR_ID.fullmatch(core.strip()):
                yield start, end


def find(text: str, types: Iterable[str] = ALL_TYPES, keep_private_ips: bool = False) -> list[Span]:
    """Non-overlapping PII spans `(start, end, type)` in text order; earlier types in ORDER win overlaps."""
    wanted = set(types)
    found: list[Span] = []
    taken: list[tuple[int, int]] = []  # sorted, non-overlapping: a bisect finds the neighbours of a new span
    for kind in ORDER:
        if kind not in wanted:
            continue
        if kind == "email":
            spans = _emails(text)
        elif kind == "iban":
            spans = _ibans(text)
        elif kind == "card":
            spans = _cards(text)
        elif kind == "ip":
            spans = _ips(text, keep_private_ips)
        else:
            spans = _phones(text)
        for start, end in spans:
            i = bisect.bisect_left(taken, (start, end))
            if (i == 0 or taken[i - 1][1] <= start) and (i == len(taken) or end <= taken[i][0]):
                taken.insert(i, (start, end))
                found.append((start, end, kind))
    return sorted(found)


def scrub(text: str, types: Iterable[str] = ALL_TYPES, keep_private_ips: bool = False) -> tuple[str, dict[str, int]]:
    """The text with each PII span replaced by its placeholder, and the number of replacements per type."""
    spans = find(text, types, keep_private_ips)
    counts: dict[str, int] = {}
    parts: list[str] = []
    last = 0
    for start, end, kind in spans:
        parts += [text[last:start], PLACEHOLDERS[kind]]
        counts[kind] = counts.get(kind, 0) + 1
        last = end
    parts.append(text[last:])
    return "".join(parts), counts


class PIIScrub(PipelineStep):
    """Replaces PII in `doc.text` with typed placeholders; `types` picks a subset of email, ip, phone, card, iban.

    Every document is forwarded (scrubbing never rejects); `rejects` is accepted only so that every stage has the
    same constructor. `keep_private_ips` leaves private, loopback and link-local addresses, which identify no one.
    """

    name = "🕵 PII scrub"
    type = "✂️ - FORMAT"

    def __init__(self, rejects=None, types: list[str] | None = None, keep_private_ips: bool = False):
        super().__init__()
        unknown = sorted(set(types or ()) - ALL_TYPES)
        if unknown:
            raise ValueError(f"pii: unknown type(s) {', '.join(unknown)}; choose from {', '.join(sorted(ALL_TYPES))}")
        self.types = frozenset(types) if types is not None else ALL_TYPES
        self.keep_private_ips = keep_private_ips

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.stat_update(StatHints.total)
                doc.text, counts = scrub(doc.text, self.types, self.keep_private_ips)
                for kind, count in counts.items():
                    self.stat_update(f"pii_{kind}", value=count)
                self.stat_update(StatHints.forwarded)
            yield doc


def check_params(params: dict, where: str) -> None:
    """Config-time check of `types`, so a typo fails before the run starts."""
    unknown = sorted(set(params.get("types") or ()) - ALL_TYPES)
    if unknown:
        allowed = ", ".join(sorted(ALL_TYPES))
        raise ValueError(f"{where}.types: unknown type(s) {', '.join(unknown)}; allowed: {allowed}")
