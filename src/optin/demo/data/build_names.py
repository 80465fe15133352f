"""Build ``names.json`` (shipped demo name lists) from Faker. Development time only.

Faker (MIT) is never needed at run time::

    pip install --target /tmp/namesrc faker
    PYTHONPATH=/tmp/namesrc python src/optin/demo/data/build_names.py

Output: ``{culture: {"first": [...], "last": [...], "native": [[first, last], ...]}}``,
Latin-script names for handles and mentions; ``native`` holds native-script pairs for
cultures whose display names are often written that way (ja, zh).
Korean and Arabic lists are written by hand below (Faker has no romanized lists).
"""

from __future__ import annotations

import importlib
import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("names.json")
LIMIT = 160

LOCALES = {
    "us": "en_US",
    "gb": "en_GB",
    "de": "de_DE",
    "fr": "fr_FR",
    "es": "es_ES",
    "mx": "es_MX",
    "br": "pt_BR",
    "it": "it_IT",
    "nl": "nl_NL",
    "pl": "pl_PL",
    "se": "sv_SE",
    "in": "en_IN",
    "ng": "en_NG",
    "ke": "en_KE",
    "tr": "tr_TR",
    "vn": "vi_VN",
    "id": "id_ID",
}

KOREAN = {
    "first": [
        "Min-jun",
        "Seo-yeon",
        "Ji-ho",
        "Ha-eun",
        "Do-yun",
        "Ji-woo",
        "Seo-jun",
        "Soo-ah",
        "Ye-jun",
        "Ha-rin",
        "Joon-ho",
        "Eun-ji",
        "Hyun-woo",
        "Ji-min",
        "Sung-min",
        "Yu-na",
        "Tae-yang",
        "Da-eun",
        "Jae-won",
        "So-yeon",
    ],
    "last": [
        "Kim",
        "Lee",
        "Park",
        "Choi",
        "Jung",
        "Kang",
        "Cho",
        "Yoon",
        "Jang",
        "Lim",
        "Han",
        "Oh",
        "Seo",
        "Shin",
        "Kwon",
        "Hwang",
        "Ahn",
        "Song",
        "Yoo",
        "Hong",
    ],
}
ARABIC = {
    "first": [
        "Ahmed",
        "Fatima",
        "Omar",
        "Layla",
        "Youssef",
        "Mariam",
        "Khalid",
        "Noor",
        "Hassan",
        "Aisha",
        "Karim",
        "Salma",
        "Tariq",
        "Huda",
        "Rami",
        "Yasmin",
        "Bilal",
        "Rania",
        "Samir",
        "Dina",
    ],
    "last": [
        "Al-Sayed",
        "Haddad",
        "Khalil",
        "Mansour",
        "Nasser",
        "Farouk",
        "Hamdan",
        "Saleh",
        "Aziz",
        "Rahman",
        "Qureshi",
        "Darwish",
        "Haddad",
        "Bakr",
        "Othman",
        "Suleiman",
        "Zaki",
        "Hijazi",
        "Karam",
        "Nassar",
    ],
}


def _names(obj: Any) -> list[str]:
    seq = list(obj.keys()) if isinstance(obj, dict) else list(obj)
    out = []
    for n in seq:
        n = str(n).strip()
        if n and " " not in n and n not in out:
            out.append(n)
    return out


def _union(p: type, prefix: str) -> list[str]:
    out: list[str] = []
    attrs = [a for a in dir(p) if a.startswith(prefix) or a.endswith("_" + prefix)]
    for attr in sorted(attrs):
        for n in _names(getattr(p, attr)):
            if n not in out and n not in ("John", "Jane", "Doe"):
                out.append(n)
    return out


def main() -> None:
    rng = random.Random(0)
    data: dict[str, dict[str, list]] = {}
    for culture, loc in LOCALES.items():
        p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first = _union(p, "first_names")
        last = _union(p, "last_names")
        rng.shuffle(first)
        rng.shuffle(last)
        data[culture] = {"first": sorted(first[:LIMIT]), "last": sorted(last[:LIMIT])}
    for culture, loc in (("jp", "ja_JP"), ("cn", "zh_CN")):
        p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first = _names(p.first_romanized_names)
        last = _names(p.last_romanized_names)
        native_first = _names(p.first_names)
        native_last = _names(p.last_names)
        natives = [[rng.choice(native_first), rng.choice(native_last)] for _ in range(60)]
        data[culture] = {
            "first": sorted(first[:LIMIT]),
            "last": sorted(last[:LIMIT]),
            "native": natives,
        }
    data["kr"] = KOREAN
    data["ar"] = ARABIC
    OUT.write_text(
        json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {OUT} ({len(data)} cultures)")


if __name__ == "__main__":
    main()
