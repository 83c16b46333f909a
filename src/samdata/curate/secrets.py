"""Secrets and personal data in example text: find, type, and redact them.

Each detector has cheap keywords: its RE2 pattern (linear time, no backtracking blow-ups) only runs
on text that holds one of them. Findings carry kind, span and a hash of the matched text; the
owner's allow-list (hashes in `[curate] allow`) silences a reviewed false positive. Redaction
replaces each finding with a typed placeholder such as `<API_KEY>`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import re2
import xxhash

VERSION = 2


def _luhn(digits: str) -> bool:
    nums = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(nums) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(nums)):
        if i % 2:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return total % 10 == 0 and len(set(nums)) > 1


def _entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


_NOT_SECRETS = {
    "password", "passwd", "changeme", "required", "optional", "string", "example", "placeholder",
    "undefined", "hidden", "secret", "token", "redacted", "username", "123456", "your_password",
    "yourpassword", "mypassword", "password123", "<password>", "xxxxxx", "******",
}  # fmt: skip


def _assigned_secret(value: str) -> bool:
    """A value after `password=`/`token:` that looks like a real secret, not code or a placeholder."""
    v = value.strip("'\"`.")
    if len(v) < 8 or v.lower() in _NOT_SECRETS or set(v) <= {"*", "x", "X", "."}:
        return False
    if v.startswith(("$", "%", "os.", "process.", "env", "self.", "this.", "config", "settings", "args")):
        return False
    if v.isidentifier() and not any(c.isdigit() for c in v):
        return False  # a variable name such as `user_password` or `getToken`
    classes = sum((any(c.islower() for c in v), any(c.isupper() for c in v), any(c.isdigit() for c in v),
                   any(not c.isalnum() for c in v)))  # fmt: skip
    return classes >= 2 and _entropy(v) >= 2.5


def _public_ip(value: str) -> bool:
    """A globally routed address: private, loopback, link-local, shared, reserved and the
    documentation ranges (RFC 5737, RFC 3849) are never someone's address."""
    if "." in value:
        parts = [int(p) for p in value.split(".")]
        if all(p < 10 for p in parts) or len(set(parts)) == 1:
            return False  # 1.2.3.4 is far more often a version than an address
    try:
        ip = ipaddress.ip_address(value.strip(":"))
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _phone_digits(value: str) -> bool:
    """Between 8 and 15 digits, the range E.164 allows with a country code (national forms: 10-11)."""
    return 8 <= sum(c.isdigit() for c in value) <= 15


# Phone and card numbers hold at least eight digits with at most separators between them.
_DIGIT_RUN = re.compile(r"\d[\d \-.()]{6,}\d")


@dataclass(frozen=True)
class Detector:
    kind: str
    placeholder: str
    keywords: tuple[str, ...]  # lower-case; the pattern runs only if one occurs
    pattern: str
    group: int = 0  # the part of the match that is secret
    check: Callable[[str], bool] | None = None
    rescan: bool = False  # after a rejected value, look for a match starting inside it
    # A cheap shape the text must hold before the pattern runs (a Python `re` class scan is faster
    # than one RE2 call, whose wrapper re-encodes the text): digits in a run, dotted numbers, ...
    prefilter: re.Pattern[str] | None = None


DETECTORS: tuple[Detector, ...] = (
    Detector("private_key", "<PRIVATE_KEY>", ("-----begin",),
             r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]+?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    Detector("aws_access_key", "<AWS_ACCESS_KEY>", ("akia", "asia"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    Detector("aws_secret_key", "<AWS_SECRET_KEY>", ("aws",),
             r"(?i)aws[\w \-]{0,30}?(?:secret|private)[\w \-]{0,20}?[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)", 1),
    Detector("github_token", "<GITHUB_TOKEN>", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
             r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    Detector("gitlab_token", "<GITLAB_TOKEN>", ("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    Detector("anthropic_key", "<ANTHROPIC_KEY>", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_\-]{32,}"),
    Detector("openai_key", "<OPENAI_KEY>", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}"),
    Detector("hf_token", "<HF_TOKEN>", ("hf_",), r"\bhf_[A-Za-z0-9]{34,40}\b"),
    Detector("slack_token", "<SLACK_TOKEN>", ("xox", "hooks.slack.com"),
             r"\bxox[baprse]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    Detector("stripe_key", "<STRIPE_KEY>", ("_live_", "_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}\b"),
    Detector("google_api_key", "<GOOGLE_API_KEY>", ("aiza",), r"\bAIza[0-9A-Za-z_\-]{35}(?:[^0-9A-Za-z_\-]|$)"),
    Detector("jwt", "<JWT>", ("eyj",), r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),
    Detector("database_url", "<DATABASE_URL>", ("://",),
             r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver)://[^\s:/@\"']+:[^\s@/\"']+@[^\s/\"']+"),
    Detector("bearer_token", "<TOKEN>", ("bearer",), r"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{24,}=*)", 1,
             lambda v: _entropy(v) >= 3.5),
    Detector("password_assignment", "<SECRET>",
             ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key", "access_key"),
             # Any prefix (`MY_SERVICE_TOKEN=`), any assignment (`:`, `=`, `:=`, `=>`), in code or shell.
             r"(?i)\b[A-Za-z0-9_]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)"
             r"[\"']?\s*(?::|=|:=|=>)\s*[\"']?([^\s\"'`,;(){}\[\]<>]{8,})", 1, _assigned_secret, rescan=True),
    Detector("password_assignment", "<SECRET>", ("--password", "--passwd", "--token", "--api-key", "--secret"),
             r"(?i)--(?:password|passwd|token|api-key|secret)[= ]+[\"']?([^\s\"'`,;(){}\[\]<>]{8,})", 1,
             _assigned_secret),
    Detector("email", "<EMAIL>", ("@",), r"\b[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9\-]{1,63}\.)+[A-Za-z]{2,24}\b"),
    Detector("phone", "<PHONE>", ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
             r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{3}\)|\b\d{3})[ .\-]\d{3}[ .\-]\d{4}\b", prefilter=_DIGIT_RUN),
    # International, grouped: +44 20 7946 0000, +49 (0)30 1234 5678, +33 1 23 45 67 89, +81 3-1234-5678.
    Detector("phone", "<PHONE>", ("+",),
             r"\+[1-9]\d{0,2}(?:[ .\-]?\(0\)[ .\-]?|[ .\-])\(?\d{1,5}\)?(?:[ .\-]\(?\d{1,5}\)?){1,4}\b",
             0, _phone_digits, prefilter=_DIGIT_RUN),
    # E.164 written without separators: +447911123456.
    Detector("phone", "<PHONE>", ("+",), r"(?:^|[^\w+])(\+[1-9]\d{7,14})\b", 1, prefilter=_DIGIT_RUN),
    # National forms with a trunk 0: UK 020 7946 0000 and 07700 900123, France 06 12 34 56 78.
    Detector("phone", "<PHONE>", ("0",),
             r"\b0(?:\d{2,4}[ \-]\d{3,4}[ \-]\d{3,4}|\d{4}[ \-]\d{6}|[1-9](?:[ .\-]\d{2}){4})\b", 0, _phone_digits,
             prefilter=_DIGIT_RUN),
    Detector("ip_address", "<IP_ADDRESS>", (".",),
             r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b", 0, _public_ip,
             prefilter=re.compile(r"\d\.\d{1,3}\.\d")),
    # IPv6 in the global unicast space (2000::/3), full or compressed.
    Detector("ip_address", "<IP_ADDRESS>", (":",),
             r"(?i)\b[23][0-9a-f]{3}(?::[0-9a-f]{0,4}){2,7}", 0, _public_ip,
             prefilter=re.compile(r"[23][0-9a-fA-F]{3}:[0-9a-fA-F]{0,4}:")),
    Detector("credit_card", "<CREDIT_CARD>", ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
             r"\b(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|6(?:011|5\d{2}))(?:[ \-]?\d{4}){2}[ \-]?\d{3,4}(?:[ \-]?\d{3})?\b",
             0, _luhn, prefilter=_DIGIT_RUN),
)  # fmt: skip


_SET_MEMORY = 64 << 20
_SET_MAX_TEXT = 256 << 10


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    hash: str
    preview: str


def _preview(text: str) -> str:
    """Enough of a secret to recognise it in review, never enough to use it."""
    return text[:4] + "…" + text[-2:] if len(text) > 10 else text[:2] + "…"


def _allow_pattern(spec: str) -> tuple[str | None, Any]:
    """`KIND:REGEX` (a detector's kind) or `REGEX`: the compiled pattern and the kind it is limited to."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in PLACEHOLDER_KINDS:
        return kind, re2.compile(rest)
    return None, re2.compile(spec)


def check_allow_pattern(pattern: str) -> None:
    """Refuse a pattern RE2 cannot compile or one that would allow everything (it matches the
    empty text or any single character): ValueError with the reason."""
    try:
        _kind, rx = _allow_pattern(pattern)
    except Exception as e:  # re2.error: the message names the problem
        raise ValueError(f"not a regular expression RE2 accepts: {e}") from None
    if any(rx.fullmatch(probe) for probe in ("", "a", "0", "x" * 40, "a" * 8 + "@" + "b" * 8 + ".org")):
        raise ValueError(
            "the pattern would allow almost anything: make it match the one text, e.g. name\\.surname@example\\.org"
        )


class SecretScanner:
    """All detectors compiled once, plus the owner's literals and allow-list."""

    def __init__(
        self, literals: Sequence[str] = (), allow: Iterable[str] = (), allow_patterns: Iterable[str] = ()
    ) -> None:
        self.detectors = [(d, re2.compile(d.pattern)) for d in DETECTORS]
        self.literals = [(lit, lit.lower()) for lit in literals if lit]
        self.allow = set(allow)
        self.allow_patterns = [_allow_pattern(p) for p in allow_patterns]
        # Every keyword once per text, not once per detector that names it (digits are in several).
        self.keywords = sorted({k for d in DETECTORS for k in d.keywords})
        # One DFA pass for all patterns: most texts match none, and then nothing else runs.
        options = re2.Options()
        options.max_mem = _SET_MEMORY
        self.any = re2.Set.SearchSet(options)
        for d in DETECTORS:
            self.any.Add(d.pattern)
        self.any.Compile()

    def scan(self, text: str) -> list[Finding]:
        """Non-overlapping findings in `text`, earliest and longest first."""
        # RE2::Set reports a DFA out of memory as no match; past this length the detectors decide.
        if not self.literals and len(text) <= _SET_MAX_TEXT and self.any.Match(text) is None:
            return []
        lower = text.lower()
        present = {k for k in self.keywords if k in lower}
        found: list[Finding] = []
        for d, rx in self.detectors:
            if present.isdisjoint(d.keywords) or (d.prefilter is not None and not d.prefilter.search(text)):
                continue
            pos = 0
            while (m := rx.search(text, pos)) is not None:
                start, end = m.span(d.group)
                value = text[start:end]
                if d.check is not None and not d.check(value):
                    # `TOKEN=password = "s3cr3t…"`: a rejected value may hide a real one inside it.
                    pos = start if d.rescan and start > m.start() else max(m.end(), pos + 1)
                    continue
                if not self._allowed(d.kind, value):
                    found.append(self._finding(d.kind, start, end, value))
                pos = max(m.end(), pos + 1)
        for literal, low in self.literals:
            at = lower.find(low)
            while at >= 0:
                found.append(
                    self._finding("owner_literal", at, at + len(literal), text[at : at + len(literal)])
                )
                at = lower.find(low, at + len(low))
        found = [f for f in found if f.hash not in self.allow]
        found.sort(key=lambda f: (f.start, -(f.end - f.start)))
        kept: list[Finding] = []
        for f in found:
            if not kept or f.start >= kept[-1].end:
                kept.append(f)
        return kept

    def _allowed(self, kind: str, value: str) -> bool:
        return any((k is None or k == kind) and rx.fullmatch(value) for k, rx in self.allow_patterns)

    def redact_text(self, text: str) -> str:
        """`text` with every finding replaced by its typed placeholder."""
        return redact(text, self.scan(text)) if text else text

    @staticmethod
    def _finding(kind: str, start: int, end: int, value: str) -> Finding:
        return Finding(kind, start, end, xxhash.xxh3_64_hexdigest(value.encode()), _preview(value))


PLACEHOLDERS = {d.kind: d.placeholder for d in DETECTORS} | {"owner_literal": "<REDACTED>"}
PLACEHOLDER_KINDS = frozenset(PLACEHOLDERS)


def scanner_for(settings: Any) -> SecretScanner:
    """The scanner of a config's `[curate]` settings: literals, allowed hashes and patterns."""
    return SecretScanner(settings.literals, settings.allow, settings.allow_patterns)


def redact(text: str, findings: Sequence[Finding]) -> str:
    """`text` with every finding replaced by its typed placeholder."""
    out, at = [], 0
    for f in findings:
        out += [text[at : f.start], PLACEHOLDERS[f.kind]]
        at = f.end
    out.append(text[at:])
    return "".join(out)
