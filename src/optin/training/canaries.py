"""Canaries: random secret-shaped records inserted into a training set to measure
memorization (Carlini et al., *The Secret Sharer*, USENIX Security 2019).

A canary is a sentence holding a fake secret in a shape the redactor
(:mod:`optin.privacy`) targets: a phone number, an e-mail address, a prefixed
government id. The secret is drawn from a **candidate space** ``R``: a fixed secret
template whose last ``digits`` digits are free, so ``|R| = 10 ** digits`` and every
candidate is a complete record (same words before and after, other digits). After
training, :func:`optin.training.audit.exposure` ranks the canary's log-perplexity among
the candidates'.

:func:`make_canaries` draws ``n`` canaries **at each** repetition count (default 1, 4
and 16), cycling through the formats; every draw is derived from a secret key with
HMAC-SHA256, so the same key gives the same canaries and the same candidate samples.
:func:`canary_training_texts` lists each canary's text as many times as its repetition
count, for the trainer to add to the training set. Under member-level DP each canary
should be its own privacy unit (one pseudo-member holding all its repetitions), so the
guarantee covers it as it covers a member who wrote the secret that many times.

The canaries file (:func:`write_canaries` / :func:`read_canaries`) is JSONL, one
canary per line: ``{"id", "format", "repetitions", "prefix", "secret", "suffix",
"digits"}``. It holds the secrets: keep it with the audit inputs, not with a model
that is exported. The secrets are fake; nothing in it is personal data.

Pure Python: no torch here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from optin.errors import ConfigError, InputError
from optin.files import atomic_text

DEFAULT_REPETITIONS = (1, 4, 16)
DEFAULT_FORMATS = ("phone", "email", "id")
DEFAULT_DIGITS = 6


@dataclass(frozen=True, slots=True)
class CanaryFormat:
    """A secret shape: ``prefix + secret + suffix`` where the secret is ``base`` with its
    last ``digits`` digit characters free. ``label`` is the redactor's label for it."""

    name: str
    label: str
    prefix: str
    base: str
    suffix: str
    max_digits: int

    def slots(self, digits: int) -> list[int]:
        """Positions in ``base`` of the last ``digits`` digit characters."""
        if not 1 <= digits <= self.max_digits:
            raise ConfigError(
                f"canary format {self.name!r} takes 1..{self.max_digits} free digits, not {digits}"
            )
        positions = [i for i, ch in enumerate(self.base) if ch.isdigit()]
        return positions[-digits:]

    def secret(self, index: int, digits: int) -> str:
        """The candidate number ``index`` (0 <= index < 10 ** digits)."""
        if not 0 <= index < 10**digits:
            raise ValueError(f"candidate index {index} outside 0..{10**digits - 1}")
        chars = list(self.base)
        for pos, d in zip(self.slots(digits), f"{index:0{digits}d}", strict=True):
            chars[pos] = d
        return "".join(chars)

    def index_of(self, secret: str, digits: int) -> int:
        """The candidate index of ``secret`` (inverse of :meth:`secret`)."""
        return int("".join(secret[p] for p in self.slots(digits)))

    def text(self, secret: str) -> str:
        return f"{self.prefix}{secret}{self.suffix}"


#: The built-in formats, shapes that the default redaction profile redacts
#: (tests/training/test_canaries.py checks each with the detector).
FORMATS: dict[str, CanaryFormat] = {
    f.name: f
    for f in (
        CanaryFormat(
            "phone", "PHONE", "You can call me on my cell at ", "+1 650 253 0000", " after six.", 6
        ),
        CanaryFormat(
            "email",
            "EMAIL",
            "For the invoice write to ",
            "lena.000000@mailbox.org",
            " and mention the order.",
            6,
        ),
        CanaryFormat(
            "id", "GOV_ID", "My national id card reads ", "US-ID-00000000", " if you need it.", 8
        ),
    )
}


def get_format(name: str) -> CanaryFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(
            f"unknown canary format {name!r}; formats are: {', '.join(sorted(FORMATS))}"
        ) from None


@dataclass(frozen=True, slots=True)
class Canary:
    """One inserted secret. ``text`` is what goes into the training set."""

    id: str
    format: str
    repetitions: int
    prefix: str
    secret: str
    suffix: str
    digits: int

    @property
    def text(self) -> str:
        return f"{self.prefix}{self.secret}{self.suffix}"

    @property
    def space_size(self) -> int:
        """``|R|``: how many candidates the secret was drawn from."""
        return 10**self.digits

    def candidate(self, index: int) -> str:
        """The full text of candidate ``index`` of this canary's space."""
        return get_format(self.format).text(get_format(self.format).secret(index, self.digits))

    @property
    def index(self) -> int:
        return get_format(self.format).index_of(self.secret, self.digits)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _rng(key: bytes, *parts: object) -> random.Random:
    msg = ":".join(str(p) for p in parts).encode("utf-8")
    return random.Random(hmac.new(key, msg, hashlib.sha256).digest())


def _key(key: bytes | str | int) -> bytes:
    if isinstance(key, bytes):
        return key
    return str(key).encode("utf-8")


def make_canaries(
    n: int,
    key: bytes | str | int,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    repetitions: Sequence[int] = DEFAULT_REPETITIONS,
    digits: int = DEFAULT_DIGITS,
) -> list[Canary]:
    """``n`` canaries at each repetition count, formats taken in turn; the secrets are
    drawn uniformly from each format's candidate space with HMAC(key)-seeded draws and
    are distinct within a format. ``key`` (bytes, or a str/int seed) makes it
    deterministic."""
    if n < 0:
        raise ConfigError(f"number of canaries must be >= 0, not {n}")
    if not formats:
        raise ConfigError("give at least one canary format")
    if any(r < 1 for r in repetitions):
        raise ConfigError(f"repetition counts must be >= 1, not {list(repetitions)}")
    fmts = [get_format(f) for f in formats]
    for f in fmts:
        f.slots(digits)  # ConfigError naming the format and its range
    k = _key(key)
    used: dict[str, set[int]] = {f.name: set() for f in fmts}
    if n * len(repetitions) > 10**digits // 2:
        raise ConfigError(f"{n} canaries per repetition count do not fit in 10**{digits} secrets")
    out: list[Canary] = []
    for rep in repetitions:
        for i in range(n):
            fmt = fmts[i % len(fmts)]
            rng = _rng(k, "canary", rep, i, fmt.name)
            index = rng.randrange(10**digits)
            while index in used[fmt.name]:
                index = rng.randrange(10**digits)
            used[fmt.name].add(index)
            out.append(
                Canary(
                    id=f"canary-r{rep}-{i}-{fmt.name}",
                    format=fmt.name,
                    repetitions=rep,
                    prefix=fmt.prefix,
                    secret=fmt.secret(index, digits),
                    suffix=fmt.suffix,
                    digits=digits,
                )
            )
    return out


def canary_training_texts(canaries: Iterable[Canary]) -> list[str]:
    """Each canary's text, ``repetitions`` times (in canary order)."""
    return [c.text for c in canaries for _ in range(c.repetitions)]


def candidate_indices(
    canary: Canary, key: bytes | str | int, *, max_candidates: int
) -> tuple[list[int], bool]:
    """The candidates to rank ``canary`` among, as indices into its space, the canary's
    own index excluded, and whether they are the whole space.

    When ``|R| - 1 <= max_candidates`` every other candidate is listed (exact rank);
    otherwise ``max_candidates`` distinct ones are sampled uniformly (HMAC(key)-seeded,
    so the same key gives the same sample), for the sampled-rank estimate."""
    own = canary.index
    size = canary.space_size
    if size - 1 <= max_candidates:
        return [i for i in range(size) if i != own], True
    rng = _rng(_key(key), "candidates", canary.id, canary.secret)
    picked = rng.sample(range(size), max_candidates + 1)
    others = [i for i in picked if i != own][:max_candidates]
    return others, False


_FIELDS = ("id", "format", "repetitions", "prefix", "secret", "suffix", "digits")


def write_canaries(path: Path, canaries: Iterable[Canary]) -> None:
    """Write the canaries file (JSONL) atomically."""
    with atomic_text(Path(path)) as f:
        for c in canaries:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")


def _canary(obj: object, where: str, lineno: int) -> Canary:
    if not isinstance(obj, dict):
        raise InputError("must be a JSON object", file=where, line=lineno)
    for name in _FIELDS:
        if name not in obj:
            raise InputError("missing field", file=where, line=lineno, field=name)
    for name in ("repetitions", "digits"):
        v = obj[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(
                "must be a positive integer", file=where, line=lineno, field=name, value=v
            )
    for name in ("id", "format", "prefix", "secret", "suffix"):
        if not isinstance(obj[name], str):
            raise InputError("must be a string", file=where, line=lineno, field=name)
    if obj["format"] not in FORMATS:
        raise InputError(
            "unknown canary format",
            file=where,
            line=lineno,
            field="format",
            value=obj["format"],
            allowed=", ".join(sorted(FORMATS)),
        )
    c = Canary(**{k: obj[k] for k in _FIELDS})
    fmt = get_format(c.format)
    try:
        ok = fmt.secret(fmt.index_of(c.secret, c.digits), c.digits) == c.secret
    except (ConfigError, ValueError, IndexError):
        ok = False
    if not ok:
        raise InputError(
            "secret does not fit its format's candidate space",
            file=where,
            line=lineno,
            field="secret",
            allowed=f"{fmt.base} with the last {c.digits} digits free",
        )
    return c


def read_canaries(path: Path) -> list[Canary]:
    """Read a canaries file; a bad line is an :class:`InputError` naming file:line:field."""
    where = str(path)
    out: list[Canary] = []
    try:
        lines: Iterator[str] = iter(Path(path).read_text("utf-8").splitlines())
    except FileNotFoundError:
        raise InputError("canaries file not found", file=where) from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", file=where, line=lineno) from None
        out.append(_canary(obj, where, lineno))
    return out


__all__ = [
    "DEFAULT_DIGITS",
    "DEFAULT_FORMATS",
    "DEFAULT_REPETITIONS",
    "FORMATS",
    "Canary",
    "CanaryFormat",
    "canary_training_texts",
    "candidate_indices",
    "get_format",
    "make_canaries",
    "read_canaries",
    "write_canaries",
]
