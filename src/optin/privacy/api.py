"""The facade the pipeline uses: detect + anonymize in one object built once per process.

::

    redactor = Redactor(RedactorConfig(profile="default", operator="pseudonym", key=key))
    redactor.redact("Thanks Jane Doe!")            # -> Redacted(text="Thanks <PERSON_3f2a>!", ...)
    batch = redactor.redact_batch(table["text"])   # Arrow in, Arrow out

:class:`Redactor` has one constructor: a :class:`RedactorConfig` (validated when it is
made, so a bad profile, operator or label fails at the edge that names it) and,
optionally, a :class:`~optin.privacy.detect.Directory` object. The profile is resolved
once, there, and handed to the analyzer. Workers (process pool, Dask) receive the
picklable config and call :func:`get_redactor`, which builds the Redactor once per
process and caches it. This is the only module that imports both halves (detection and
anonymization).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from optin.errors import ConfigError
from optin.privacy.anonymize import (
    DEFAULT_DROP_DENSITY,
    Policy,
    Redacted,
    anonymize,
    get_operator,
    merge_overlaps,
)
from optin.privacy.anonymize.engine import masked_view
from optin.privacy.detect import Analyzer, Directory, DirectoryEntry
from optin.privacy.findings import Finding, Label
from optin.privacy.profiles import get_profile

if TYPE_CHECKING:  # imported where used: the CLI and one-text callers start faster
    import pyarrow as pa

#: Texts longer than this (characters) are analysed in overlapping windows, so one huge
#: document never runs a recognizer over tens of megabytes at once.
DEFAULT_CHUNK_CHARS = 200_000
#: Overlap between windows; an entity shorter than this is seen whole by some window.
CHUNK_OVERLAP = 1_000
MIN_CHUNK_CHARS = 2_500
_CACHE_SIZE = 4


@dataclass(frozen=True)
class RedactorConfig:
    """Everything needed to rebuild a :class:`Redactor` in another process. Picklable.

    ``directory_path`` names a members JSONL file each worker loads; ``directory_entries``
    carries the entries themselves (``DirectoryEntry`` objects). ``directory_key`` is the
    platform's directory key, which matches the erased members' keyed-hash lines of that
    file (``{"erased": MARKER}``). ``directory_compiled`` names the file
    :func:`~optin.privacy.detect.compile_directory` wrote from ``directory_path``, which
    the workers load instead (the same directory, without computing it again), refused
    unless it was compiled from that file as it is now and, with
    ``directory_compiled_sha256``, unless it is exactly that file.
    """

    profile: str = "default"
    operator: str = "mask"
    key: bytes = field(default=b"", repr=False)
    per_label: tuple[tuple[str, str], ...] = ()
    tag_hex_len: int = 4
    drop_density: float | None = DEFAULT_DROP_DENSITY
    #: drop a redacted record with fewer words of original text than this (None: off)
    min_real_words: int | None = None
    directory_path: str | None = None
    directory_entries: tuple[DirectoryEntry, ...] = ()
    directory_key: bytes = field(default=b"", repr=False)
    directory_compiled: str | None = None
    directory_compiled_sha256: str = ""
    chunk_chars: int = DEFAULT_CHUNK_CHARS

    def __post_init__(self) -> None:
        get_profile(self.profile)  # ConfigError listing the registry's profiles
        if self.chunk_chars < MIN_CHUNK_CHARS:
            raise ConfigError(
                f"chunk_chars {self.chunk_chars} is too small; allowed: >= {MIN_CHUNK_CHARS}"
            )
        for name in (self.operator, *(op for _, op in self.per_label)):
            get_operator(name)  # ConfigError listing the registry's operators
        for label, _ in self.per_label:
            _label(label)
        if self.directory_compiled is not None and self.directory_path is None:
            raise ConfigError(
                "directory_compiled needs directory_path, the JSONL file it was compiled from"
            )

    @cached_property
    def cache_key(self) -> str:
        """A digest of every field (the key never appears in clear)."""
        state = tuple(getattr(self, f) for f in self.__dataclass_fields__)
        return hashlib.sha256(pickle.dumps(state)).hexdigest()


@dataclass(frozen=True)
class RedactedBatch:
    """The outcome for a batch of texts, aligned with the input.

    ``texts`` are the redacted texts (nulls stay null), ``findings`` the applied findings
    per text on the ORIGINAL texts, ``dropped`` the record-drop flags, ``density`` the
    personal-data densities, ``drop_reasons`` why each dropped record was dropped (None
    for kept ones), ``views`` (with ``redact_batch(..., views=True)``) the texts with
    every applied finding as its type tag (:func:`~optin.privacy.anonymize.engine.
    masked_view`), the same for every operator.
    """

    texts: pa.Array
    findings: list[list[Finding]]
    dropped: pa.Array
    density: pa.Array
    drop_reasons: list[str | None] = field(default_factory=list)
    views: pa.Array | None = None
    #: per text, the fakes the directory check accepted and whether it refused one
    #: (:attr:`~optin.privacy.anonymize.Redacted.fakes`); empty without a directory
    fakes: list[tuple[str, ...]] = field(default_factory=list)
    fake_refused: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def counts_by_label(self) -> dict[str, int]:
        """Applied findings per label over the batch (sorted by label)."""
        counts = Counter(str(f.label) for fs in self.findings for f in fs)
        return dict(sorted(counts.items()))


class Redactor:
    """Detect and redact personal data; build once per process, reuse for every text.

    ``Redactor(config)`` is the one constructor; ``directory`` (a Directory object) is
    used instead of the config's ``directory_path``/``directory_entries`` when given.
    """

    def __init__(
        self, config: RedactorConfig | None = None, directory: Directory | None = None
    ) -> None:
        cfg = RedactorConfig() if config is None else config
        self.config = cfg
        self.profile = get_profile(cfg.profile)  # resolved once, here
        self._own_directory = directory is not None
        self.directory = directory if directory is not None else _config_directory(cfg)
        self.chunk_chars = cfg.chunk_chars
        self.analyzer = Analyzer(profile=self.profile, directory=self.directory)
        self.policy = Policy(
            operator=cfg.operator,
            per_label={_label(k): v for k, v in cfg.per_label},
            labels=None,
            key=cfg.key,
            tag_hex_len=cfg.tag_hex_len,
            drop_density=cfg.drop_density,
            min_real_words=cfg.min_real_words,
            select=self.profile.redacts,
            avoid=self._names_member if self.directory is not None else None,
        )

    def _names_member(self, value: str) -> bool:
        """True when ``value`` (a realistic fake) names a member of the directory, so a
        surrogate never puts a real member's name or handle into a text."""
        assert self.directory is not None
        return next(iter(self.directory.find(value)), None) is not None

    def __reduce__(self) -> tuple[Any, ...]:
        if self._own_directory:
            return (Redactor, (self.config, self.directory))
        return (get_redactor, (self.config,))

    # -- the work ------------------------------------------------------------------------

    def analyze(self, text: str) -> list[Finding]:
        """All findings of the profile on ``text`` (windowed when the text is huge)."""
        if len(text) <= self.chunk_chars:
            return self.analyzer.analyze(text)
        found: set[Finding] = set()
        for start, end in _windows(text, self.chunk_chars, CHUNK_OVERLAP):
            for f in self.analyzer.analyze(text[start:end]):
                if f.end == end - start and end < len(text):
                    continue  # may be cut by the window edge; the next window sees it whole
                found.add(_shift(f, start))
        return merge_overlaps(found)

    def redact(self, text: str) -> Redacted:
        """Detect and redact one text (lone surrogates become U+FFFD, so the output is
        always valid UTF-8; offsets are unchanged)."""
        text = _no_surrogates(text)
        return anonymize(text, self._redactable(text), self.policy)

    def _redactable(self, text: str) -> list[Finding]:
        """Findings to pass to anonymize: the redactable ones suffice (same outcome)."""
        if len(text) <= self.chunk_chars:
            return self.analyzer.analyze_redactable(text)
        return self.analyze(text)

    def redact_batch(
        self, texts: pa.Array | pa.ChunkedArray | Sequence[str | None], *, views: bool = False
    ) -> RedactedBatch:
        """Detect and redact a batch; Arrow ``string``/``large_string`` in, same type out;
        ``views``: also the operator-independent masked views (``RedactedBatch.views``)."""
        import pyarrow as pa

        values, out_type = _as_pylist(texts)
        values = [None if t is None else _no_surrogates(t) for t in values]
        small = [t for t in values if t is not None and len(t) <= self.chunk_chars]
        small_findings = iter([self.analyzer.analyze_redactable(t) for t in small])
        red_texts: list[str | None] = []
        applied: list[list[Finding]] = []
        dropped: list[bool] = []
        density: list[float] = []
        reasons: list[str | None] = []
        view_texts: list[str | None] = []
        fakes: list[tuple[str, ...]] = []
        refused: list[bool] = []
        for t in values:
            if t is None:
                fakes.append(())
                refused.append(False)
                red_texts.append(None)
                applied.append([])
                dropped.append(False)
                density.append(0.0)
                reasons.append(None)
                view_texts.append(None)
                continue
            fs = next(small_findings) if len(t) <= self.chunk_chars else self.analyze(t)
            r = anonymize(t, fs, self.policy)
            red_texts.append(r.text)
            applied.append(r.applied)
            dropped.append(r.dropped)
            density.append(r.density)
            reasons.append(r.drop_reason)
            fakes.append(r.fakes)
            refused.append(r.fake_refused)
            if views:
                view_texts.append(masked_view(t, r.applied))
        return RedactedBatch(
            texts=pa.array(red_texts, type=out_type),
            findings=applied,
            dropped=pa.array(dropped, type=pa.bool_()),
            density=pa.array(density, type=pa.float64()),
            drop_reasons=reasons,
            views=pa.array(view_texts, type=out_type) if views else None,
            fakes=fakes,
            fake_refused=refused,
        )


_CACHE: dict[str, Redactor] = {}
_LOCK = threading.Lock()


def get_redactor(cfg: RedactorConfig) -> Redactor:
    """The Redactor for ``cfg``, built at most once per process (small LRU cache)."""
    ck = cfg.cache_key
    with _LOCK:
        hit = _CACHE.get(ck)
        if hit is not None:
            _CACHE[ck] = _CACHE.pop(ck)  # mark most recently used
            return hit
    redactor = Redactor(cfg)
    with _LOCK:
        _CACHE[ck] = redactor
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    return redactor


def _config_directory(cfg: RedactorConfig) -> Directory | None:
    if cfg.directory_path is not None and cfg.directory_compiled is not None:
        return Directory.from_compiled(
            cfg.directory_compiled,
            cfg.directory_path,
            sha256=cfg.directory_compiled_sha256 or None,
            erased_key=cfg.directory_key or None,
        )
    if cfg.directory_path is not None:
        return Directory.from_jsonl(cfg.directory_path, erased_key=cfg.directory_key or None)
    if cfg.directory_entries:
        return Directory.from_entries(list(cfg.directory_entries))
    return None


def _label(value: Label | str) -> Label:
    try:
        return Label(value)
    except ValueError:
        raise ConfigError(
            f"unknown label {value!r} in per_label; allowed: {', '.join(Label)}"
        ) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (a valid JSON escape, not valid UTF-8) replaced
    by U+FFFD, one for one."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def _shift(f: Finding, offset: int) -> Finding:
    if not offset:
        return f
    return Finding(f.start + offset, f.end + offset, f.label, f.score, f.recognizer, f.explanation)


def _windows(text: str, size: int, overlap: int) -> Iterable[tuple[int, int]]:
    """Overlapping windows of at most ``size`` characters, cut at whitespace if possible."""
    start, n = 0, len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = max(
                text.rfind(" ", end - overlap // 2, end), text.rfind("\n", end - overlap // 2, end)
            )
            if cut > start:
                end = cut
        yield start, end
        if end >= n:
            return
        nxt = end - overlap
        ws = text.find(" ", nxt, end)
        start = ws + 1 if ws != -1 else nxt


def _as_pylist(
    texts: pa.Array | pa.ChunkedArray | Sequence[str | None],
) -> tuple[list[Any], pa.DataType]:
    import pyarrow as pa

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.large_string())
    if isinstance(texts, pa.Array):
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            raise ConfigError(
                f"redact_batch needs an Arrow string or large_string array, got {texts.type}"
            )
        return texts.to_pylist(), texts.type
    values = list(texts)
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise ConfigError(f"redact_batch: item {i} is {type(v).__name__}; allowed: str or None")
    return values, pa.large_string()


__all__ = ["DEFAULT_CHUNK_CHARS", "RedactedBatch", "Redactor", "RedactorConfig", "get_redactor"]
