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
under a few seconds.

**Erased members** (:class:`ErasedNames`) stay in the directory as keyed hashes only:
:func:`erasure_marker` turns an entry into HMAC-SHA256 digests (with a platform secret,
truncated to 16 bytes) of exactly the word tuples, surname, handle and URL the plain
entry is matched by, and the matcher hashes a text's words with the same key, so a
mention of an erased member is found (and redacted) as before while the directory
holds nothing that reads back as a name. Guessing a name needs the secret.
"""

from __future__ import annotations

import hmac
import json
import re
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
_BEFORE_NAME = re.compile(r"[\w@#/]|[.\-]\w")
_WORDCH = re.compile(r"\w")
_AFTER_NAME = re.compile(r"\w|@|[.\-_/]\w")
_NAME_GAP = " \t\n\r\f\v."
_TITLE_WORD = re.compile(r"(?<![\w])(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame)\.?\s+")
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
    return tuple(t.lower() for t in _TOKEN.findall(name))


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


class Directory:
    """Lookup tables over the members (and, as keyed hashes, the erased ones);
    immutable once built."""

    def __init__(
        self, entries: Iterable[DirectoryEntry], erased: ErasedNames | None = None
    ) -> None:
        lex = lexicon.names()
        self._names: dict[str, set[tuple[str, ...]]] = {}
        self._surnames: set[str] = set()
        self._handles: set[str] = set()
        self._bare: set[str] = set()
        self._urls: set[str] = set()
        self._cjk_names: set[str] = set()
        count = 0
        for entry in entries:
            count += 1
            toks = _words(entry.display_name)
            for v in _name_variants(toks, lex):
                self._names.setdefault(v[0], set()).add(v)
                if len(v) == 1 and _cjk(v[0]):
                    self._cjk_names.add(v[0])
            if len(toks) >= 2 and len(toks[-1]) > 1:
                self._surnames.add(toks[-1])
            handle = entry.handle.lstrip("@").lower()
            if handle:
                self._handles.add(handle)
                if _bare_ok(handle, lex):
                    self._bare.add(handle)
            if entry.profile_url:
                self._urls.add(_norm_url(entry.profile_url))
        self._erased = erased if erased is not None and len(erased) else None
        self._size = count + (len(erased) if erased is not None else 0)
        # the same names as word tuples split on dots too, longest first, for the walk
        walk: dict[str, set[tuple[str, ...]]] = {}
        for group in self._names.values():
            for v in group:
                sub = tuple(w for t in v for w in _SUBTOKEN_RE.findall(t))
                if sub:
                    walk.setdefault(sub[0], set()).add(sub)
        self._walk = {k: sorted(vs, key=lambda v: (-len(v), v)) for k, vs in walk.items()}
        self._first_tokens = frozenset(self._walk)
        self._surname_set = frozenset(self._surnames)
        self._bare_set = frozenset(self._bare)

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
        entries: list[DirectoryEntry] = []
        markers: list[dict[str, Any]] = []
        try:
            fh = p.open(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read directory file: {exc.strerror}", file=str(p)) from None
        with fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
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
                entries.append(DirectoryEntry(name, handle, url))
        if markers and erased_key is None:
            raise InputError(
                "the directory lists erased members (keyed hashes) but no key was given",
                file=str(p),
                allowed="the platform's directory key (RedactorConfig.directory_key)",
            )
        erased = ErasedNames(erased_key, markers) if markers and erased_key else None
        return cls(entries, erased)

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
        return token in self._bare_set or (
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
        if self._erased is None:  # the common case: one set intersection, in C
            bare = words & self._bare_set
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
    flags = lex.get(handle, (0, 0))[0]
    return any(ch.isdigit() or ch in "_." for ch in handle) or (
        len(handle) >= 5 and not flags and handle not in lexicon.STOP
    )


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
