"""Shipped word lists (read once per process from ``optin/privacy/data``).

``names.tsv.gz`` is built at development time by ``bench/build_name_lexicon.py`` from
Faker's person/address providers (MIT), the US census 1990 name lists (via the ``names``
package) and the SCOWL word list; see that script. Tokens are lower-cased.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

FIRST = 1
LAST = 2
WORD = 4
PLACE = 8


@lru_cache(maxsize=1)
def names() -> dict[str, tuple[int, int]]:
    """token -> (flags, census rank or 0)."""
    raw = resources.files("optin.privacy.data").joinpath("names.tsv.gz").read_bytes()
    out: dict[str, tuple[int, int]] = {}
    bits = {"F": FIRST, "L": LAST, "W": WORD, "C": PLACE}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        tok, flags, rank = line.split("\t")
        v = 0
        for ch in flags:
            v |= bits[ch]
        out[tok] = (v, int(rank))
    return out


# Capitalised words that are never names on their own (function words, months, days,
# common sentence starters, titles of works); checked lower-cased.
STOP = frozenset(
    """a an the and or but if then so as at by for from in into of on onto to with without
    i me my we our you your he him his she her it its they them their this that these those
    is are was were be been am do does did have has had will would can could should may might
    must shall not no yes all any some each every both either neither one two three first last
    new old good great best big little high low happy dear hi hello hey thanks thank please
    mr mrs ms miss mx dr prof sir madam lord lady st mt
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    north south east west street road avenue city county state country university college
    school hospital court bank church park river lake mount island beach hotel airport
    company group inc ltd llc corp plc gmbh co team club league association party
    president minister king queen prince princess pope general captain judge senator
    god jesus christ allah lol omg wow yeah ok okay rt via re fwd ps pm am
    """.split()
)

TITLES = frozenset(
    """mr mrs ms miss mx dr prof professor sir dame lord lady rev reverend fr father sister
    brother judge justice senator sen rep gov governor president capt captain col colonel
    gen general lt sgt officer det detective inspector mrs. mr. ms. dr. prof.
    aunt uncle grandma grandpa mom mum dad coach""".split()
)
