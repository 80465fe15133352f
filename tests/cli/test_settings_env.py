"""The light environment reader (``optin.settings_env``) gives exactly what the pydantic
``Settings`` gives, or declines; it never reads a value differently."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from optin.settings import Settings
from optin.settings_env import (
    DEFAULT_HOME,
    STRING_FIELDS,
    VALIDATED_FIELDS,
    EnvSettings,
    read_env_settings,
)

#: Variable names: every field in a few spellings (pydantic-settings matches them
#: case-insensitively), unknown OPTIN_ names and others.
_NAMES = [
    spelled
    for field in ("home", *STRING_FIELDS, *VALIDATED_FIELDS)
    for spelled in (f"OPTIN_{field.upper()}", f"optin_{field}", f"Optin_{field.title()}")
] + ["OPTIN_", "OPTIN_UNKNOWN", "OPTINHOME", "XOPTIN_HOME", "HOME_OPTIN", "PATH"]
#: What an environment value can be (no NUL, no lone surrogates).
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


def test_reader_covers_every_settings_field() -> None:
    """A new Settings field must be read here or make the reader decline."""
    assert {"home", *STRING_FIELDS, *VALIDATED_FIELDS} == set(Settings.model_fields)
    assert not set(STRING_FIELDS) & set(VALIDATED_FIELDS)
    defaults = Settings.model_construct()
    assert defaults.home == DEFAULT_HOME


def _pydantic(env: dict[str, str], home: Path | None) -> Settings:
    with mock.patch.dict(os.environ, env, clear=True):
        return Settings(home=home) if home is not None else Settings()


def _same(light: EnvSettings, full: Settings) -> None:
    assert light.home == full.home and type(light.home) is type(full.home)
    for name in STRING_FIELDS:
        assert getattr(light, name) == getattr(full, name), name
    assert light.db_url == full.db_url


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_NAMES), _TEXT, max_size=6),
    st.one_of(st.none(), _TEXT.map(Path)),
)
def test_reader_equals_pydantic_settings_or_declines(
    env: dict[str, str], home: Path | None
) -> None:
    light = read_env_settings(env, home)
    folded = [k.lower() for k in env if k.lower().startswith("optin_")]
    validated = any(k[len("optin_") :] in VALIDATED_FIELDS for k in folded)
    known = [k for k in folded if k[len("optin_") :] in ("home", *STRING_FIELDS)]
    if validated or len(set(known)) < len(known):
        assert light is None  # pydantic validates these, or the case decides which wins
        return
    assert light is not None
    full = _pydantic(env, home)
    _same(light, full)
    with mock.patch.dict(os.environ, env, clear=True):
        assert light.full() == full


def test_reader_reads_the_documented_defaults() -> None:
    light = read_env_settings({})
    assert light is not None
    _same(light, _pydantic({}, None))
    assert light.home_arg is None and light.log_level == "WARNING"
