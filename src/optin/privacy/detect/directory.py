"""The platform directory: members' display names, handles and profile URLs.

Built from the members table (``Directory.from_entries``) or a JSONL export
(``Directory.from_jsonl``). The ``directory`` recognizer uses it to catch every mention
of a member exactly: the full display name, first + last name, the surname after a title
("Dr. Doe"), ``@handle``, the bare handle where it is unambiguous (it has a digit, ``_``
or ``.``, or is not an ordinary word or name), and profile URLs (the given URL, or any
``.../in/<handle>``, ``.../@<handle>``, ``.../u/<handle>`` URL).

Matching is a token-set lookup: the text is lower-cased once, its word set intersected
with the directory's first tokens (in C), and only the names that start with a word of
the text are compiled into a small per-text pattern. Building 100k members takes well
under a few seconds; a snapshot build computes its directory's tables once
(:func:`~optin.privacy.detect.directory_compiled.compile_directory`) and its workers
load them from that file (:meth:`Directory.from_compiled`: the same tables as
``from_jsonl``, in about a tenth of the time).

**Erased members** (:class:`ErasedNames`) stay in the directory as keyed hashes only:
:func:`erasure_marker` turns an entry into HMAC-SHA256 digests (with a platform secret,
truncated to 16 bytes) of exactly the word tuples, surname, handle and URL the plain
entry is matched by, and the matcher hashes a text's words with the same key, so a
mention of an erased member is found (and redacted) as before while the directory
holds nothing that reads back as a name. Guessing a name needs the secret.
"""

from __future__ import annotations

import hmac
import itertools
import json
import operator
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optin.errors import InputError
from optin.privacy.detect import lexicon
from optin.privacy.findings import Finding, Label

_TOKEN = re.compile(r"[^\W_](?:[\w'’\-.]*[^\W_])?")
_SUBTOKEN = re.compile(r"[^\W_](?:[\w'’\-]*[^\W_])?")
_SUBTOKEN_RE = _SUBTOKEN
_PLAIN_WORDS = re.compile(rf"{_SUBTOKEN.pattern}(?: {_SUBTOKEN.pattern})*")
_BEFORE_NAME = re.compile(r"[\w@#/]|[.\-]\w")
_WORDCH = re.compile(r"\w")
_AFTER_NAME = re.compile(r"\w|@|[.\-_/]\w")
_NAME_GAP = " \t\n\r\f\v."
_TITLE_WORD = re.compile(r"(?<![\w])(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame)\.?\s+")
_BARE_MARK = re.compile(r"[0-9_.]")
_HANDLE_OK = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_AT_HANDLE = re.compile(r"(?<![\w@.+\-])@([A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?)")
_URLISH = re.compile(
    r"(?i)(?:https?://|www\.)[^\s<>\"'`]+|(?<![\w@.\-])[a-z0-9\-]+(?:\.[a-z0-9\-]+)+/[^\s<>\"'`]+"
)
_PROFILE_PATH = re.compile(r"/(?:in|u|user|users|profile|people|members?)/@?([^/?#]+)|/@([^/?#]+)")
_TITLE = r"(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame)\.?"
_TRAIL = ".,;:!?)]}'\"”’"
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_WORD = re.compile(rf"[{_CJK_CHARS}]+")
_CJK_RUN = re.compile(rf"[{_CJK_CHARS}]{{3,}}")


def _cjk(tok: str) -> bool:
    """A word written in CJK characters only (a CJK name is often two characters)."""
    return _CJK_WORD.fullmatch(tok) is not None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One member as the platform knows them."""

    display_name: str
    handle: str
    profile_url: str | None = None


def _norm_url(url: str) -> str:
    u = url.strip().lower()
    for prefix in ("https://", "http://"):
        if u.startswith(prefix):
            u = u[len(prefix) :]
    if u.startswith("www."):
        u = u[4:]
    return u.rstrip("/")


def _words(name: str) -> tuple[str, ...]:
    # interned: a directory holds a few thousand distinct words in a million names
    return tuple(map(sys.intern, map(str.lower, _TOKEN.findall(name))))


#: Bytes of a keyed hash kept per token (HMAC-SHA256, truncated).
MAC_BYTES = 16
MARKER_VERSION = 1
_CACHE_MAX = 500_000


def keyed_hash(key: bytes, token: str) -> bytes:
    """HMAC-SHA256 of ``token`` under ``key``, truncated to :data:`MAC_BYTES`."""
    return hmac.digest(key, token.encode("utf-8"), "sha256")[:MAC_BYTES]


def erasure_marker(entry: DirectoryEntry, key: bytes) -> dict[str, Any]:
    """An entry as keyed hashes only (JSON-ready, hex): the word tuples its name is found
    by (as the walk splits them), its surname after a title, its handle (and whether
    the bare handle counts) and its profile URL, exactly as :class:`Directory` matches
    the plain entry."""
    lex = lexicon.names()
    toks = _words(entry.display_name)
    walk = {tuple(w for t in v for w in _SUBTOKEN_RE.findall(t)) for v in _name_variants(toks, lex)}
    handle = entry.handle.lstrip("@").lower()

    def h(token: str) -> str:
        return keyed_hash(key, token).hex()

    return {
        "v": MARKER_VERSION,
        "names": sorted([h(w) for w in v] for v in walk if v),
        "surnames": [h(toks[-1])] if len(toks) >= 2 and len(toks[-1]) > 1 else [],
        "handles": [h(handle)] if handle else [],
        "bare": [h(handle)] if handle and _bare_ok(handle, lex) else [],
        "urls": [h(_norm_url(entry.profile_url))] if entry.profile_url else [],
    }


def _hex_list(marker: Mapping[str, Any], name: str) -> list[bytes]:
    value = marker.get(name, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InputError("malformed erasure marker", field=name, allowed="a list of hex strings")
    try:
        return [bytes.fromhex(x) for x in value]
    except ValueError:
        raise InputError("malformed erasure marker", field=name, allowed="hex strings") from None


class ErasedNames:
    """Erased members' directory entries, as keyed hashes (:func:`erasure_marker`), and
    the key that matches a text's words against them."""

    def __init__(self, key: bytes, markers: Iterable[Mapping[str, Any]]) -> None:
        self._key = key
        self.walk: dict[bytes, list[tuple[bytes, ...]]] = {}
        self.surnames: set[bytes] = set()
        self.handles: set[bytes] = set()
        self.bare: set[bytes] = set()
        self.urls: set[bytes] = set()
        self._cache: dict[str, bytes] = {}
        walk: dict[bytes, set[tuple[bytes, ...]]] = {}
        n = 0
        for m in markers:
            if m.get("v") != MARKER_VERSION:
                raise InputError("unknown erasure marker version", field="v", value=str(m.get("v")))
            n += 1
            names = m.get("names", [])
            if not isinstance(names, list):
                raise InputError("malformed erasure marker", field="names")
            for v in names:
                hv = tuple(_hex_list({"names": v}, "names"))
                if hv:
                    walk.setdefault(hv[0], set()).add(hv)
            self.surnames.update(_hex_list(m, "surnames"))
            self.handles.update(_hex_list(m, "handles"))
            self.bare.update(_hex_list(m, "bare"))
            self.urls.update(_hex_list(m, "urls"))
        self.walk = {k: sorted(vs, key=lambda v: (-len(v), v)) for k, vs in walk.items()}
        self._size = n

    def __len__(self) -> int:
        return self._size

    def __reduce__(self) -> Any:  # pickled without the per-process cache
        return (_rebuild_erased, (self._key, self.walk, self.surnames, self.handles,
                                  self.bare, self.urls, self._size))  # fmt: skip

    def h(self, token: str) -> bytes:
        """The keyed hash of ``token`` (cached per process, bounded)."""
        got = self._cache.get(token)
        if got is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            got = self._cache[token] = keyed_hash(self._key, token)
        return got

    def first_hits(self, words: Iterable[str]) -> set[str]:
        """The words whose hash starts an erased member's name."""
        walk = self.walk
        return {w for w in words if self.h(w) in walk} if walk else set()

    def is_handle(self, handle: str) -> bool:
        return bool(self.handles) and self.h(handle) in self.handles


def _rebuild_erased(
    key: bytes,
    walk: dict[bytes, list[tuple[bytes, ...]]],
    surnames: set[bytes],
    handles: set[bytes],
    bare: set[bytes],
    urls: set[bytes],
    size: int,
) -> ErasedNames:
    e = ErasedNames(key, [])
    e.walk, e.surnames, e.handles, e.bare, e.urls, e._size = (
        walk, surnames, handles, bare, urls, size
    )  # fmt: skip
    return e


class _Tables:
    """A directory's lookup tables, accumulated entry by entry: the one computation
    behind :class:`Directory` (from entries or JSONL) and :func:`compile_directory`.
    Display names repeat (common names), so each name's words are computed once."""

    def __init__(self) -> None:
        self.lex = lexicon.names()
        self.count = 0
        self.walk: dict[str, set[tuple[str, ...]]] = {}
        self.cjk_names: set[str] = set()
        self.surnames: set[str] = set()
        self.handles: list[str] = []  # as given, lower-cased (a set is made from them)
        self.bare: list[bool] = []  # per handle: whether the bare handle counts
        self.urls: list[str] = []
        self._names: dict[str, _NameTables] = {}

    def add(self, display_name: str, handle: str, profile_url: str | None) -> None:
        self.count += 1
        got = self._names.get(display_name)
        if got is None:
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            got = self._names[display_name] = _name_tables(display_name, self.lex)
        subs, cjk, surname = got
        for sub in subs:
            self.walk.setdefault(sub[0], set()).add(sub)
        if cjk:
            self.cjk_names.update(cjk)
        if surname is not None:
            self.surnames.add(surname)
        h = handle.lstrip("@").lower()
        if h:
            self.handles.append(h)
            self.bare.append(_bare_ok(h, self.lex))
        if profile_url:
            self.urls.append(_norm_url(profile_url))

    def forget_names(self) -> None:
        """Drop the per-name cache (the tables stay)."""
        self._names = {}

    def sorted_walk(self) -> dict[str, list[tuple[str, ...]]]:
        """The name word tuples by first word, longest first (the walk's order)."""
        return {k: sorted(vs, key=_walk_order) for k, vs in self.walk.items()}


#: a display name's walk tuples, its one-word CJK names, its surname (or None)
_NameTables = tuple[tuple[tuple[str, ...], ...], tuple[str, ...], str | None]


def _name_tables(display_name: str, lex: dict[str, tuple[int, int]]) -> _NameTables:
    toks = _words(display_name)
    variants = _name_variants(toks, lex)
    # the same names as word tuples split on dots too, for the walk; a word that is one
    # subtoken whole (the usual case: no dot) stays as it is
    if (display_name.isascii() and "." not in display_name) or _PLAIN_WORDS.fullmatch(
        " ".join(toks)
    ) is not None:
        subs = tuple(variants)
    else:
        subs = tuple(
            sub for v in variants if (sub := tuple(w for t in v for w in _SUBTOKEN_RE.findall(t)))
        )
    # a one-word CJK name (only a one-word name has a one-word variant)
    cjk = (toks[0],) if len(toks) == 1 and variants and _cjk(toks[0]) else ()
    surname = toks[-1] if len(toks) >= 2 and len(toks[-1]) > 1 else None
    return subs, cjk, surname


def _walk_order(v: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    return (-len(v), v)


class Directory:
    """Lookup tables over the members (and, as keyed hashes, the erased ones);
    immutable once built."""

    def __init__(
        self, entries: Iterable[DirectoryEntry], erased: ErasedNames | None = None
    ) -> None:
        t = _Tables()
        for entry in entries:
            t.add(entry.display_name, entry.handle, entry.profile_url)
        self._assemble(
            t.count, t.sorted_walk(), t.cjk_names, t.surnames, t.handles, t.bare, t.urls, erased
        )

    def _assemble(
        self,
        count: int,
        walk: dict[str, list[tuple[str, ...]]],
        cjk_names: Iterable[str],
        surnames: Iterable[str],
        handles: list[str],
        bare: list[bool],
        urls: Iterable[str],
        erased: ErasedNames | None,
    ) -> None:
        """Set the lookup tables (shared by every way a Directory is made)."""
        self._walk = walk
        self._first_tokens = frozenset(walk)
        self._cjk_names = set(cjk_names)
        self._surname_set = frozenset(surnames)
        self._handles = frozenset(handles)
        # the bare handles are the handles less these (most handles count bare: one set)
        self._not_bare = frozenset(itertools.compress(handles, map(operator.not_, bare)))
        self._urls = set(urls)
        self._erased = erased if erased is not None and len(erased) else None
        self._size = count + (len(erased) if erased is not None else 0)

    def __len__(self) -> int:
        return self._size

    @property
    def erased(self) -> ErasedNames | None:
        return self._erased

    @classmethod
    def from_entries(
        cls, entries: Iterable[DirectoryEntry], erased: ErasedNames | None = None
    ) -> Directory:
        return cls(entries, erased)

    @classmethod
    def from_jsonl(cls, path: str | Path, erased_key: bytes | None = None) -> Directory:
        """Read ``{"display_name", "handle", "profile_url"?}`` lines, and
        ``{"erased": MARKER}`` lines (erased members, matched with ``erased_key``);
        InputError on bad input."""
        p = Path(path)
        t = _Tables()
        markers: list[dict[str, Any]] = []
        for name, handle, url in _read_jsonl(p, markers):
            t.add(name, handle, url)
        erased = _erased_of(markers, erased_key, str(p))
        return cls._made(
            t.count, t.sorted_walk(), t.cjk_names, t.surnames, t.handles, t.bare, t.urls, erased
        )

    @classmethod
    def from_compiled(
        cls,
        path: str | Path,
        source: str | Path,
        *,
        sha256: str | None = None,
        erased_key: bytes | None = None,
    ) -> Directory:
        """The directory of a file :func:`compile_directory` wrote from the JSONL file
        ``source``: the same Directory as ``from_jsonl(source, erased_key)``, without
        computing its tables again. The file is refused (IntegrityError) unless it was
        compiled from ``source`` as it is now (a digest of its bytes is stored in it) and,
        when ``sha256`` is given, unless it is exactly that file; InputError when it is not
        a compiled directory of this version of optin."""
        from optin.privacy.detect.directory_compiled import load_compiled

        return load_compiled(Path(path), Path(source), sha256=sha256, erased_key=erased_key)

    @classmethod
    def _made(cls, *tables: Any) -> Directory:
        d = cls.__new__(cls)
        d._assemble(*tables)
        return d

    # -- matching --------------------------------------------------------------
    def find(self, text: str, recognizer: str = "directory") -> Iterator[Finding]:
        if not self._size or not text:
            return
        low = text.lower()
        yield from self._find_names(text, low, recognizer)
        yield from self._find_handles(text, low, recognizer)
        if "/" in text:
            yield from self._find_urls(text, recognizer)

    def _find_names(self, text: str, low: str, recognizer: str) -> Iterator[Finding]:
        # Walk the text's words (dots and whitespace separate them, as in a name) and,
        # at each word that starts a member name, take the longest name whose words
        # follow; no per-text regex is compiled. Erased members' names are walked the
        # same way over the words' keyed hashes.
        toks = list(_SUBTOKEN.finditer(low))
        words = [m.group() for m in toks]
        present = set(words)
        hits = present & self._first_tokens
        er = self._erased
        ehits = er.first_hits(present) if er is not None else set()
        hashed: list[bytes] | None = None
        n = len(toks)
        i = 0
        while (hits or ehits) and i < n:
            w = words[i]
            k = 0
            if (w in hits or w in ehits) and not _glued_before(low, toks[i].start()):
                if w in hits:
                    k = _name_length(low, toks, words, i, self._walk[w])
                if er is not None and w in ehits:
                    if hashed is None:
                        hashed = [er.h(x) for x in words]
                    k = max(k, _name_length(low, toks, hashed, i, er.walk[hashed[i]]))
            if k:
                end = toks[i + k - 1].end()
                yield Finding(toks[i].start(), end, Label.PERSON, 1.0, recognizer, "member name")
                i += k - 1
            i += 1
        if self._cjk_names or (er is not None and er.walk):
            yield from self._find_cjk(low, recognizer)
        sur = present & self._surname_set
        if er is not None and er.surnames:
            sur |= {w for w in present if er.h(w) in er.surnames}
        if sur:
            yield from _titled_surnames(low, sur, recognizer)

    def _find_cjk(self, low: str, recognizer: str) -> Iterator[Finding]:
        """CJK member names inside a longer run of CJK characters (no spaces between
        words in Chinese or Japanese): every 2-4 character substring of the run, longest
        first at each position (a run the name fills alone is found by the word walk)."""
        er = self._erased
        names = self._cjk_names
        for m in _CJK_RUN.finditer(low):
            run, base = m.group(), m.start()
            n = len(run)
            i = 0
            while i < n - 1:
                k = 0
                for size in (4, 3, 2):
                    if i + size > n or size == n:
                        continue
                    sub = run[i : i + size]
                    if sub in names or (
                        er is not None and (hs := er.h(sub)) in er.walk and (hs,) in er.walk[hs]
                    ):
                        k = size
                        break
                if k:
                    yield Finding(
                        base + i, base + i + k, Label.PERSON, 1.0, recognizer, "member name"
                    )
                    i += k
                else:
                    i += 1

    def _is_handle(self, handle: str) -> bool:
        er = self._erased
        return handle in self._handles or (er is not None and er.is_handle(handle))

    def _is_bare(self, token: str) -> bool:
        er = self._erased
        return (token in self._handles and token not in self._not_bare) or (
            er is not None and bool(er.bare) and er.h(token) in er.bare
        )

    def _find_handles(self, text: str, low: str, recognizer: str) -> Iterator[Finding]:
        if "@" in text:
            for m in _AT_HANDLE.finditer(low):
                h = m.group(1)
                while h and h[-1] in ".-" and not self._is_handle(h):
                    h = h[:-1]
                if h and self._is_handle(h):
                    yield Finding(
                        m.start(), m.start() + 1 + len(h), Label.HANDLE, 1.0, recognizer,
                        "member handle",
                    )  # fmt: skip
        words = set(re.findall(r"[\w.\-]+", low))
        if self._erased is None:  # the common case: set operations, in C
            bare = (words & self._handles) - self._not_bare
        else:
            bare = {t for t in words if self._is_bare(t)}
        if bare:
            alt = "|".join(re.escape(b) for b in sorted(bare, key=len, reverse=True))
            for m in re.finditer(rf"(?<![\w@/.\-])(?:{alt})(?![\w\-]|\.\w)", low):
                yield Finding(m.start(), m.end(), Label.HANDLE, 1.0, recognizer, "member handle")

    def _find_urls(self, text: str, recognizer: str) -> Iterator[Finding]:
        for m in _URLISH.finditer(text):
            start, end = m.start(), m.end()
            while end > start and text[end - 1] in _TRAIL:
                end -= 1
            url = text[start:end]
            norm = _norm_url(url)
            er = self._erased
            hit = norm in self._urls or (er is not None and bool(er.urls) and er.h(norm) in er.urls)
            if not hit:
                pm = _PROFILE_PATH.search(norm)
                if pm:
                    handle = (pm.group(1) or pm.group(2) or "").lower()
                    hit = self._is_handle(handle)
            if hit:
                yield Finding(start, end, Label.URL, 1.0, recognizer, "member profile URL")


def _name_variants(toks: tuple[str, ...], lex: dict[str, tuple[int, int]]) -> list[tuple[str, ...]]:
    """The word tuples a display name is found by: the full name, first + last name;
    a one-word name only when it is not a common word."""
    if len(toks) == 1:
        flags = lex.get(toks[0], (0, 0))[0]
        if _cjk(toks[0]) and 2 <= len(toks[0]) <= 4:
            return [toks]  # "毕燕", "许利": two-character CJK names are common
        if not flags & lexicon.WORD and toks[0] not in lexicon.STOP and len(toks[0]) > 2:
            return [toks]
        return []
    if len(toks) >= 2:
        return [toks, (toks[0], toks[-1])] if len(toks) > 2 else [toks]
    return []


def _bare_ok(handle: str, lex: dict[str, tuple[int, int]]) -> bool:
    """Whether the bare handle (without @) is unambiguous: it has a digit, ``_`` or
    ``.``, or is a long word that is neither an ordinary word nor a name."""
    if handle.isascii():  # the usual case, in C (str.isdigit is 0-9 on ASCII)
        if _BARE_MARK.search(handle) is not None:
            return True
    elif any(ch.isdigit() or ch in "_." for ch in handle):
        return True
    flags = lex.get(handle, (0, 0))[0]
    return len(handle) >= 5 and not flags and handle not in lexicon.STOP


def _glued_before(low: str, start: int) -> bool:
    """Whether the word at ``start`` continues a word, handle, hashtag or path."""
    return bool(
        (start > 0 and _BEFORE_NAME.match(low, start - 1))
        or (start > 1 and _BEFORE_NAME.match(low, start - 2) and low[start - 1] in ".-")
    )


def _name_length(
    low: str,
    toks: list[re.Match[str]],
    words: Sequence[object],
    i: int,
    variants: Iterable[tuple[object, ...]],
) -> int:
    """How many words of the first variant that follows word ``i`` whole (0: none)."""
    n = len(toks)
    for v in variants:
        k = len(v)
        if i + k > n:
            continue
        j = 1
        while j < k and words[i + j] == v[j]:
            gap = low[toks[i + j - 1].end() : toks[i + j].start()]
            if not gap or gap.strip(_NAME_GAP):
                break
            j += 1
        if j < k:
            continue
        end = toks[i + k - 1].end()
        if end < len(low) and _AFTER_NAME.match(low, end):
            continue  # part of a longer word, e-mail, handle or URL
        return k
    return 0


def _titled_surnames(low: str, sur: set[str], recognizer: str) -> Iterator[Finding]:
    """A member's surname right after a title: "Dr. Doe"."""
    for m in _TITLE_WORD.finditer(low):
        t = _TOKEN.match(low, m.end())
        if t is None or t.group() not in sur:
            continue
        end = t.end()
        if end < len(low) and _WORDCH.match(low, end):
            continue
        yield Finding(t.start(), end, Label.PERSON, 1.0, recognizer, "title + member surname")


def _read_jsonl(p: Path, markers: list[dict[str, Any]]) -> Iterator[tuple[str, str, str | None]]:
    """The (display name, handle, profile URL) of each member line of a directory JSONL
    file, in order, validated; the erased members' markers are appended to ``markers``.
    InputError (file, line, field) on bad input."""
    try:
        fh = p.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read directory file: {exc.strerror}", file=str(p)) from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = _json_line(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg})", file=str(p), line=n) from None
            except UnicodeDecodeError:
                raise InputError("invalid UTF-8", file=str(p), line=n) from None
            if not isinstance(obj, dict):
                raise InputError("each line must be a JSON object", file=str(p), line=n)
            if "erased" in obj and isinstance(obj["erased"], dict):
                markers.append(obj["erased"])
                continue
            name = obj.get("display_name")
            if not isinstance(name, str) or not name.strip():
                raise InputError(
                    "missing or empty", file=str(p), line=n, field="display_name",
                    allowed="a non-empty string",
                )  # fmt: skip
            handle = obj.get("handle")
            if not isinstance(handle, str) or not _HANDLE_OK.match(handle.lstrip("@")):
                raise InputError(
                    "missing or not a handle", file=str(p), line=n, field="handle",
                    allowed="1-64 characters of A-Z a-z 0-9 _ . -, optional leading @",
                )  # fmt: skip
            url = obj.get("profile_url")
            if url is not None and (not isinstance(url, str) or not url.strip()):
                raise InputError(
                    "must be a non-empty string or null", file=str(p), line=n,
                    field="profile_url", allowed="a URL string or null",
                )  # fmt: skip
            yield name, handle, url


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json_line(line: str) -> Any:
    """``json.loads(line)``, without its Python-level wrapping in the usual case (one
    value from the first character, JSON whitespace after it); anything else goes through
    ``json.loads`` itself, which gives the same value or raises its own error."""
    try:
        obj, end = _SCAN(line, 0)
    except (StopIteration, json.JSONDecodeError):
        return json.loads(line)
    if end != len(line) and line[end:].strip(" \t\n\r"):
        return json.loads(line)
    return obj


def _erased_of(
    markers: list[dict[str, Any]], erased_key: bytes | None, file: str
) -> ErasedNames | None:
    """The erased members of a directory file's markers (matched with ``erased_key``)."""
    if markers and erased_key is None:
        raise InputError(
            "the directory lists erased members (keyed hashes) but no key was given",
            file=file,
            allowed="the platform's directory key (RedactorConfig.directory_key)",
        )
    return ErasedNames(erased_key, markers) if markers and erased_key else None
