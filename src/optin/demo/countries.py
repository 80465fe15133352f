"""The demo network's countries: weight, name culture, languages, cities, address style.

41 countries, including every kind of excluded one (EU states, EEA, CH, GB) so the
demo exercises each eligibility reason. Cities and countries are *kept* by redaction,
so they are not ground-truth personal data; street addresses are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DemoCountry:
    code: str
    weight: float
    culture: str  # key of names.json
    address: str  # address style, see optin.demo.pii.address
    cities: tuple[str, ...]
    language: str = "en"  # second language used for some posts ("en" = none)
    lang_share: float = 0.0  # share of this country's posts in ``language``
    gov_id: str | None = None  # "ssn" | "nino"


def _c(
    code: str,
    weight: float,
    culture: str,
    address: str,
    cities: str,
    language: str = "en",
    lang_share: float = 0.0,
    gov_id: str | None = None,
) -> DemoCountry:
    return DemoCountry(
        code, weight, culture, address, tuple(cities.split(";")), language, lang_share, gov_id
    )


COUNTRIES: tuple[DemoCountry, ...] = (
    # opt-in jurisdictions (shipped default)
    _c(
        "US",
        20,
        "us",
        "us",
        "New York;San Francisco;Austin;Chicago;Seattle;Boston;Atlanta",
        gov_id="ssn",
    ),
    _c("CA", 3, "us", "ca", "Toronto;Vancouver;Montreal;Calgary;Ottawa"),
    _c("MX", 3, "mx", "latam", "Mexico City;Guadalajara;Monterrey;Puebla", "es", 0.25),
    _c("BR", 4, "br", "latam", "São Paulo;Rio de Janeiro;Belo Horizonte;Curitiba", "pt", 0.25),
    _c("AR", 1, "mx", "latam", "Buenos Aires;Córdoba;Rosario", "es", 0.25),
    _c("CO", 1, "mx", "latam", "Bogotá;Medellín;Cali", "es", 0.2),
    _c("CL", 1, "mx", "latam", "Santiago;Valparaíso;Concepción", "es", 0.2),
    _c("IN", 12, "in", "in", "Bengaluru;Mumbai;Hyderabad;Pune;Chennai;Delhi;Kolkata"),
    _c("JP", 3, "jp", "jp", "Tokyo;Osaka;Kyoto;Fukuoka;Yokohama", "ja", 0.2),
    _c("SG", 2, "cn", "generic", "Singapore"),
    _c("HK", 1, "cn", "generic", "Hong Kong;Kowloon"),
    _c("KR", 2, "kr", "generic", "Seoul;Busan;Incheon"),
    _c("AU", 3, "gb", "au", "Sydney;Melbourne;Brisbane;Perth"),
    _c("NZ", 1, "gb", "au", "Auckland;Wellington;Christchurch"),
    _c("ZA", 1, "gb", "generic", "Johannesburg;Cape Town;Durban"),
    _c("NG", 3, "ng", "generic", "Lagos;Abuja;Ibadan"),
    _c("KE", 2, "ke", "generic", "Nairobi;Mombasa;Kisumu"),
    _c("EG", 1, "ar", "generic", "Cairo;Alexandria;Giza"),
    _c("AE", 2, "ar", "generic", "Dubai;Abu Dhabi;Sharjah"),
    _c("SA", 1, "ar", "generic", "Riyadh;Jeddah"),
    _c("TR", 2, "tr", "eu", "Istanbul;Ankara;Izmir"),
    _c("VN", 1, "vn", "generic", "Hanoi;Ho Chi Minh City;Da Nang"),
    _c("ID", 2, "id", "generic", "Jakarta;Bandung;Surabaya"),
    _c("PH", 2, "us", "generic", "Manila;Cebu City;Davao"),
    # excluded jurisdictions (EU, EEA, CH, GB)
    _c("GB", 6, "gb", "gb", "London;Manchester;Edinburgh;Bristol;Leeds", gov_id="nino"),
    _c("IE", 1, "gb", "gb", "Dublin;Cork;Galway"),
    _c("DE", 5, "de", "eu", "Berlin;Munich;Hamburg;Cologne;Frankfurt", "de", 0.25),
    _c("FR", 4, "fr", "fr", "Paris;Lyon;Marseille;Toulouse;Lille", "fr", 0.3),
    _c("ES", 3, "es", "eu", "Madrid;Barcelona;Valencia;Seville", "es", 0.25),
    _c("IT", 3, "it", "eu", "Milan;Rome;Turin;Bologna", "it", 0.2),
    _c("NL", 2, "nl", "eu", "Amsterdam;Rotterdam;Utrecht;Eindhoven", "nl", 0.1),
    _c("BE", 1, "nl", "eu", "Brussels;Antwerp;Ghent", "fr", 0.1),
    _c("PL", 2, "pl", "eu", "Warsaw;Kraków;Wrocław;Gdańsk"),
    _c("SE", 1, "se", "eu", "Stockholm;Gothenburg;Malmö"),
    _c("AT", 1, "de", "eu", "Vienna;Graz;Salzburg", "de", 0.25),
    _c("PT", 1, "br", "eu", "Lisbon;Porto", "pt", 0.2),
    _c("CH", 1, "de", "eu", "Zurich;Geneva;Basel;Lausanne", "de", 0.15),
    _c("NO", 1, "se", "eu", "Oslo;Bergen"),
    _c("DK", 1, "se", "eu", "Copenhagen;Aarhus"),
    _c("FI", 1, "se", "eu", "Helsinki;Espoo"),
    _c("IS", 0.2, "se", "eu", "Reykjavík"),
)

BY_CODE: dict[str, DemoCountry] = {c.code: c for c in COUNTRIES}
