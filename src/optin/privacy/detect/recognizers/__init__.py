"""Built-in recognizers; importing this package registers every one of them."""

from optin.privacy.detect.recognizers import (
    credit_card,
    date_time,
    directory,
    email,
    gov_id,
    handle,
    iban,
    ip_address,
    location,
    org,
    person,
    person_model,
    phone,
    street_address,
    url,
)

__all__ = [
    "credit_card",
    "date_time",
    "directory",
    "email",
    "gov_id",
    "handle",
    "iban",
    "ip_address",
    "location",
    "org",
    "person",
    "person_model",
    "phone",
    "street_address",
    "url",
]
