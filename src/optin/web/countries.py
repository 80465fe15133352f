"""Country names for display (English); unknown codes show as the code itself."""

from __future__ import annotations

_NAMES = dict(
    line.split(" ", 1)
    for line in """
AR Argentina
AT Austria
AU Australia
BD Bangladesh
BE Belgium
BG Bulgaria
BR Brazil
CA Canada
CH Switzerland
CL Chile
CN China
CO Colombia
CY Cyprus
CZ Czechia
DE Germany
DK Denmark
EE Estonia
EG Egypt
ES Spain
FI Finland
FR France
GB the United Kingdom
GH Ghana
GR Greece
HK Hong Kong
HR Croatia
HU Hungary
ID Indonesia
IE Ireland
IL Israel
IN India
IS Iceland
IT Italy
JP Japan
KE Kenya
KR South Korea
LI Liechtenstein
LT Lithuania
LU Luxembourg
LV Latvia
MA Morocco
MT Malta
MX Mexico
MY Malaysia
NG Nigeria
NL the Netherlands
NO Norway
NZ New Zealand
PE Peru
PH the Philippines
PK Pakistan
PL Poland
PT Portugal
RO Romania
SA Saudi Arabia
SE Sweden
SG Singapore
SI Slovenia
SK Slovakia
TH Thailand
TR Türkiye
TW Taiwan
UA Ukraine
AE the United Arab Emirates
US the United States
VN Vietnam
ZA South Africa
""".strip().splitlines()
)


def country_name(code: str | None) -> str:
    if not code:
        return "an unknown country"
    return _NAMES.get(code, code)
