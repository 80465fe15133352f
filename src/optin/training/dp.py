"""One differentially private step, with the privacy unit chosen by the caller.

Per-example gradients come from Opacus (``GradSampleModule``); the grouping by unit is
ours, because Opacus samples and clips examples only:

1. the batch (from :class:`optin.training.sampler.UnitSampler`) holds at most ``k``
   examples of each sampled unit;
2. each example's gradient is computed (Opacus), and the gradients of one unit are
   **summed** (:func:`unit_clipped_sum`);
3. each unit's summed gradient is clipped to L2 norm ``C`` (over all trainable
   parameters together), the clipped sums are added;
4. Gaussian noise ``N(0, (σC)²)`` is added to every coordinate, and the result is
   divided by the expected number of units per step (``q · units``).

Adding or removing one unit (all of a member's examples, at member level) changes the
sum in step 3 by at most ``C``: that is the sensitivity the accountant assumes.
Models are called with explicit ``position_ids`` (transformers 5 builds them from a
cache position otherwise, which Opacus's per-sample hooks do not see per example).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def example_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of each example (``labels`` -100 where padded)."""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    per_token = nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=-100,
        reduction="none",
    ).view(shift_labels.shape)
    valid = (shift_labels != -100).float()
    return (per_token * valid).sum(1) / valid.sum(1).clamp(min=1.0)


def pad_batch(examples: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask, position_ids and labels for a list of token lists."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e)] = torch.tensor(list(e), dtype=torch.long)
        mask[i, : len(e)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    pos = torch.arange(width, dtype=torch.long).unsqueeze(0).expand(len(examples), width)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "position_ids": pos.contiguous(),
        "labels": labels,
    }


def unit_clipped_sum(
    grads: Sequence[torch.Tensor], units: torch.Tensor, clip_norm: float
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Sum per-example gradients by unit, clip each unit's sum to ``clip_norm``, add.

    ``grads[j]`` has shape ``(examples, *param_j.shape)``; ``units`` (examples,) holds
    unit indices ``0..U-1``. Returns the clipped total per parameter, each unit's norm
    before clipping, and the factor applied to it (``min(1, C / norm)``).
    """
    n_units = int(units.max().item()) + 1 if units.numel() else 0
    sums = [
        torch.zeros((n_units, *g.shape[1:]), dtype=g.dtype).index_add_(0, units, g) for g in grads
    ]
    return clip_unit_sums(sums, clip_norm)


def clip_unit_sums(
    sums: Sequence[torch.Tensor], clip_norm: float
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Clip each unit's gradient (``sums[j][u]``, all parameters together) to
    ``clip_norm`` and add the clipped gradients of all units."""
    if not sums or sums[0].shape[0] == 0:
        return [s.sum(0) for s in sums], torch.zeros(0), torch.zeros(0)
    sq = torch.zeros(sums[0].shape[0], dtype=torch.float64)
    for s in sums:
        sq += s.flatten(1).double().pow(2).sum(1)
    norms = sq.sqrt()
    factor = (clip_norm / (norms + 1e-12)).clamp(max=1.0)
    f = factor.to(sums[0].dtype)
    total = [torch.tensordot(f, s, dims=([0], [0])) for s in sums]
    return total, norms, factor


class PrivateGradients:
    """Computes the noisy, unit-clipped gradient of one step into ``p.grad``."""

    def __init__(
        self,
        model: nn.Module,
        *,
        clip_norm: float,
        noise_multiplier: float,
        expected_units: float,
        seed: int,
        micro_batch: int = 32,
    ) -> None:
        from opacus import GradSampleModule

        self.module = GradSampleModule(model, batch_first=True, loss_reduction="sum")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.clip = clip_norm
        self.sigma = noise_multiplier
        self.expected = max(expected_units, 1e-9)
        self.micro = micro_batch
        self.gen = torch.Generator().manual_seed(seed)
        self.last_norms = torch.zeros(0)
        self.last_factors = torch.zeros(0)

    def compute(
        self, examples: Sequence[Sequence[int]], units: Sequence[int], pad_id: int
    ) -> tuple[float, int]:
        """Fill ``p.grad`` for this step; returns (mean example loss, tokens seen)."""
        local: dict[int, int] = {}
        idx = [local.setdefault(u, len(local)) for u in units]
        sums = [torch.zeros((len(local), *p.shape), dtype=p.dtype) for p in self.params]
        losses: list[float] = []
        tokens = 0
        for start in range(0, len(examples), self.micro):
            chunk = examples[start : start + self.micro]
            batch = pad_batch(chunk, pad_id)
            labels = batch.pop("labels")
            out = self.module(**batch)
            loss = example_losses(out.logits, labels)
            with warnings.catch_warnings():
                # Opacus's hook on the first layer fires with no input requiring grad
                # (token ids): expected, and harmless
                warnings.filterwarnings("ignore", "Full backward hook is firing", UserWarning)
                loss.sum().backward()
            where = torch.tensor(idx[start : start + self.micro], dtype=torch.long)
            for s, p in zip(sums, self.params, strict=True):
                gs: Any = p.grad_sample  # type: ignore[attr-defined]
                s.index_add_(0, where, gs.detach())
                p.grad_sample = None  # type: ignore[attr-defined]
                p.grad = None
            losses.extend(loss.detach().tolist())
            tokens += int(batch["attention_mask"].sum())
        total, self.last_norms, self.last_factors = clip_unit_sums(sums, self.clip)
        for p, g in zip(self.params, total, strict=True):
            noise = torch.normal(0.0, self.sigma * self.clip, size=p.shape, generator=self.gen).to(
                p.dtype
            )
            p.grad = (g + noise) / self.expected
        return (sum(losses) / len(losses) if losses else float("nan")), tokens


__all__ = [
    "PrivateGradients",
    "clip_unit_sums",
    "example_losses",
    "pad_batch",
    "unit_clipped_sum",
]
