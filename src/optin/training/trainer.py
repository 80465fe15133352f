"""The training loop: plain, example-level DP or member-level DP.

:func:`train` takes a model (a whole model, or a peft model whose only trainable
parameters are its adapter), the examples as token lists, each example's unit (its
author's opaque index), and :class:`TrainSettings`. Without DP a step is a uniformly
drawn batch and the mean loss. With DP a step is :class:`UnitSampler`'s Poisson batch
(members at rate ``q``, at most ``k`` examples each; at example level each example is
its own unit) and :class:`PrivateGradients`' noisy clipped sum; ``σ`` is calibrated
before training so that ``steps`` steps at rate ``q`` meet the target ``(ε, δ)``
(:mod:`optin.training.accountant`), and the guarantee is returned with the statistics.

No intermediate checkpoint is ever written: only the caller saves, once, at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from optin.training.accountant import Guarantee, calibrate_sigma, epsilon
from optin.training.dp import PrivateGradients, example_losses, pad_batch
from optin.training.sampler import UnitSampler

#: progress(step, steps, tokens so far, loss of the step)
Progress = Callable[[int, int, int, float], None]


@dataclass(frozen=True)
class DPSettings:
    epsilon: float
    delta: float
    unit: str = "member"  # member | example
    clip_norm: float = 1.0
    max_examples_per_member: int = 4

    def __post_init__(self) -> None:
        if self.unit not in ("member", "example"):
            raise ValueError("unit must be 'member' or 'example'")


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 40
    lr: float = 3e-3
    batch: int = 16  # examples per step without DP; expected units per step with DP
    seed: int = 0
    dp: DPSettings | None = None


@dataclass
class TrainStats:
    steps: int
    examples: int
    units: int
    tokens: int
    seconds: float
    first_loss: float
    last_loss: float
    guarantee: Guarantee | None = None
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "examples": self.examples,
            "units": self.units,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "first_loss": round(self.first_loss, 4),
            "last_loss": round(self.last_loss, 4),
        }


def plan_guarantee(dp: DPSettings, units: int, examples: int, cfg: TrainSettings) -> Guarantee:
    """The noise multiplier (and so the guarantee) a DP run will use."""
    n = units if dp.unit == "member" else examples
    q = min(1.0, cfg.batch / max(n, 1))
    sigma = calibrate_sigma(dp.epsilon, dp.delta, q, cfg.steps)
    eps, _ = epsilon(q, sigma, cfg.steps, dp.delta)
    k = dp.max_examples_per_member if dp.unit == "member" else None
    sampling = (
        f"Poisson: each member independently with probability q={q:.4g} per step, at most "
        f"{k} of their examples"
        if dp.unit == "member"
        else f"Poisson: each example independently with probability q={q:.4g} per step"
    )
    return Guarantee(
        unit=dp.unit,
        epsilon=eps,
        delta=dp.delta,
        sampling=sampling,
        sample_rate=q,
        noise_multiplier=sigma,
        clip_norm=dp.clip_norm,
        max_examples_per_member=k,
        steps=cfg.steps,
    )


def _pad_id(model: Any) -> int:
    conf = model.config
    pad = getattr(conf, "pad_token_id", None)
    return int(pad if pad is not None else getattr(conf, "eos_token_id", 0) or 0)


def train(
    model: Any,
    examples: Sequence[Sequence[int]],
    units: Sequence[int],
    cfg: TrainSettings,
    progress: Progress | None = None,
) -> TrainStats:
    """Train ``model`` in place; see the module docstring."""
    if len(examples) != len(units):
        raise ValueError("examples and units differ in length")
    if not examples:
        raise ValueError("no examples to train on")
    torch.manual_seed(cfg.seed)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    pad = _pad_id(model)
    n_units = len(set(units))
    stats = TrainStats(cfg.steps, len(examples), n_units, 0, 0.0, math.nan, math.nan)
    t0 = time.perf_counter()
    if cfg.dp is None:
        _plain(model, opt, examples, cfg, pad, stats, progress)
    else:
        stats.guarantee = plan_guarantee(cfg.dp, n_units, len(examples), cfg)
        _private(model, opt, examples, units, cfg, pad, stats, progress)
    stats.seconds = time.perf_counter() - t0
    model.eval()
    finite = [x for x in stats.losses if math.isfinite(x)]
    stats.first_loss = finite[0] if finite else math.nan
    stats.last_loss = float(np.mean(finite[-5:])) if finite else math.nan
    return stats


def _plain(
    model: Any,
    opt: torch.optim.Optimizer,
    examples: Sequence[Sequence[int]],
    cfg: TrainSettings,
    pad: int,
    stats: TrainStats,
    progress: Progress | None,
) -> None:
    rng = np.random.default_rng(cfg.seed)
    for step in range(cfg.steps):
        pick = rng.choice(len(examples), min(cfg.batch, len(examples)), replace=False)
        batch = pad_batch([examples[i] for i in pick], pad)
        labels = batch.pop("labels")
        out = model(**batch)
        loss = example_losses(out.logits, labels).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stats.tokens += int(batch["attention_mask"].sum())
        stats.losses.append(float(loss.detach()))
        if progress:
            progress(step + 1, cfg.steps, stats.tokens, stats.losses[-1])


def _private(
    model: Any,
    opt: torch.optim.Optimizer,
    examples: Sequence[Sequence[int]],
    units: Sequence[int],
    cfg: TrainSettings,
    pad: int,
    stats: TrainStats,
    progress: Progress | None,
) -> None:
    g = stats.guarantee
    dp = cfg.dp
    assert g is not None and dp is not None
    unit_of = list(units) if dp.unit == "member" else list(range(len(examples)))
    k = dp.max_examples_per_member if dp.unit == "member" else 1
    sampler = UnitSampler(unit_of, sample_rate=g.sample_rate, max_per_unit=k, seed=cfg.seed)
    engine = PrivateGradients(
        model,
        clip_norm=dp.clip_norm,
        noise_multiplier=g.noise_multiplier,
        expected_units=sampler.expected_units(),
        seed=cfg.seed + 1,
    )
    for step, b in enumerate(sampler.batches(cfg.steps)):
        opt.zero_grad(set_to_none=True)
        loss, tokens = engine.compute([examples[i] for i in b.examples], b.units, pad)
        opt.step()
        stats.tokens += tokens
        stats.losses.append(loss)
        if progress:
            progress(step + 1, cfg.steps, stats.tokens, loss)
    # leave the model as it was handed in (Opacus hooks off)
    engine.module._close()


__all__ = ["DPSettings", "Progress", "TrainSettings", "TrainStats", "plan_guarantee", "train"]
