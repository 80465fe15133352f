"""Build ``src/optin/privacy/data/names.tsv.gz``, the shipped name lexicon (dev time only).

Sources (installed only for this script, never at run time)::

    pip install --target /tmp/namesrc faker names   # Faker (MIT), US census 1990 lists (names, MIT)
    apt-get install wamerican                       # /usr/share/dict/words (SCOWL), for common words

    PYTHONPATH=/tmp/namesrc python bench/build_name_lexicon.py

Output lines: ``token<TAB>flags<TAB>rank`` with ``token`` lower-cased, ``flags`` a subset
of ``F`` (first name), ``L`` (surname), ``W`` (also an ordinary lower-case English word),
``C`` (a place: city/state/country), and ``rank`` the census popularity rank of the first
name or surname (0 when unknown). Caveat: the benchmark sets presidio_synth and panorama
were generated with Faker, so its name lists inflate recall there.
"""

from __future__ import annotations

import gzip
import importlib
import os
import pkgutil
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/optin/privacy/data/names.tsv.gz"
WORD = re.compile(r"^[^\W\d_][^\W\d_'\-]*$")


def _norm(name: str) -> list[str]:
    return [p.lower() for p in re.split(r"[\s\-]+", name.strip()) if WORD.match(p) and len(p) > 1]


def main() -> int:
    import faker.providers.address as addr_pkg
    import faker.providers.person as person_pkg
    import names

    first: dict[str, int] = {}
    last: dict[str, int] = {}
    places: set[str] = set()
    base = Path(names.__file__).parent
    for fname in ("dist.male.first", "dist.female.first"):
        for line in (base / fname).read_text().splitlines():
            tok, _, _, rank = line.split()
            first[tok.lower()] = min(first.get(tok.lower(), 10**9), int(rank))
    for line in (base / "dist.all.last").read_text().splitlines():
        tok, _, _, rank = line.split()
        if int(rank) <= 40000:
            last.setdefault(tok.lower(), int(rank))
    for mod in pkgutil.iter_modules(person_pkg.__path__):
        try:
            prov = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        except Exception:
            continue
        for attr, target in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("last_names", last),
            ("last_names_male", last),
            ("last_names_female", last),
        ):
            vals = getattr(prov, attr, ())
            if not isinstance(vals, list | tuple | dict):
                continue
            for n in vals:
                for tok in _norm(str(n)):
                    target.setdefault(tok, 0)
    for mod in pkgutil.iter_modules(addr_pkg.__path__):
        try:
            prov = importlib.import_module(f"faker.providers.address.{mod.name}").Provider
        except Exception:
            continue
        for attr in ("countries", "cities", "states", "city_names", "provinces", "regions"):
            vals = getattr(prov, attr, ())
            if not isinstance(vals, list | tuple | dict):
                continue
            for n in vals:
                if isinstance(n, str):
                    places.update(_norm(n))
    words: set[str] = set()
    dict_path = Path(os.environ.get("WORDS", "/usr/share/dict/words"))
    for w in dict_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if w and w[0].islower() and "'" not in w:
            words.add(w)
    rows = []
    for tok in sorted(set(first) | set(last) | places):
        flags = ""
        if tok in first:
            flags += "F"
        if tok in last:
            flags += "L"
        if tok in words:
            flags += "W"
        if tok in places:
            flags += "C"
        rank = first.get(tok) or last.get(tok) or 0
        rows.append(f"{tok}\t{flags}\t{rank}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    data = ("\n".join(rows) + "\n").encode("utf-8")
    tmp.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    tmp.replace(OUT)
    print(f"wrote {OUT} ({len(rows)} tokens, {OUT.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
