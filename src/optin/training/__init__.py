"""Training language models on a verified snapshot (the ``train`` extra).

Modules, and what needs torch:

* ``accountant`` - RDP accounting of the sampled Gaussian mechanism (plain Python);
* ``sampler`` - Poisson sampling of privacy units, at most k examples each (numpy);
* ``card`` - the model card: JSON and its README rendering (plain Python);
* ``lm`` - tokenizer, tiny GPT-2, LoRA cohorts, loading (torch, transformers, peft);
* ``dp`` - per-sample gradients (Opacus), per-unit summing and clipping, noise (torch);
* ``trainer`` - the training loop with or without DP, with a progress callback (torch);
* ``audit``, ``canaries`` - canaries and exposure, extraction probes, membership
  inference (torch, transformers; imported without them).

Nothing here touches the database or the services: the training service
(:mod:`optin.services.training`) hands in texts and opaque unit indices and gets back
saved directories and statistics. The torch modules are imported lazily by the
service after :func:`require_extra`, so optin works without the extra installed.
"""

from __future__ import annotations

import importlib.util

from optin.errors import DependencyMissingError

#: What the ``train`` extra provides (``pip install 'optin[train]'``).
EXTRA_PACKAGES = ("torch", "transformers", "tokenizers", "opacus", "peft")


def missing_packages() -> list[str]:
    """The ``train`` extra's packages that cannot be imported here."""
    out = []
    for name in EXTRA_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules
            found = False
        if not found:
            out.append(name)
    return out


def require_extra() -> None:
    """Raise :class:`DependencyMissingError` naming the install line when any package of
    the ``train`` extra is missing."""
    missing = missing_packages()
    if not missing:
        return
    err = DependencyMissingError(missing[0], "train")
    if len(missing) > 1:
        err.message = (
            f"{', '.join(missing)} are not installed; install them with: pip install 'optin[train]'"
        )
    err.message += " (the extra pins torch==2.13.0)"
    err.args = (err.message,)
    raise err


__all__ = ["EXTRA_PACKAGES", "missing_packages", "require_extra"]
