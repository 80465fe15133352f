"""Audits of a trained causal language model: what it memorized, and whether it forgot.

Three measurements, each a function of a Hugging Face causal LM (a transformers
``PreTrainedModel``) and its tokenizer, independent of how the model was trained:

* **canary exposure** (:func:`exposure`, :func:`audit_canaries`): the Secret Sharer's
  ``exposure = log2 |R| - log2 rank``, where ``rank`` is the canary's place when the
  canary and the other candidates of its space ``R`` are sorted by log-perplexity
  (the sum over the sequence of ``-log2 p(token | previous tokens)``; lower first; a
  tie counts half). When ``|R| - 1`` is at most ``max_candidates`` every candidate is
  scored and the rank is exact (``method = "exact"``). Otherwise ``max_candidates``
  candidates are sampled uniformly and the rank is the **sampled-rank estimate**
  ``1 + (|R| - 1) * (below + ties / 2) / m`` (``method = "sampled"``; it cannot tell
  exposures above about ``log2 m`` apart and then reads ``log2 |R|``). Each result also
  carries the Secret Sharer's extrapolation, with a **normal** distribution fitted to
  the sampled candidates' log-perplexities (the paper fits a skew-normal):
  ``extrapolated_bits = -log2 Phi((x - mu) / sigma)``. Policy checks use
  ``exposure_bits``. A canary the model never saw has a uniformly random rank, whose
  expected exposure (``chance_bits``, about 1.44 bits for large ``|R|``) is reported
  per repetition count next to the mean and the maximum.
* **extraction probes** (:func:`extraction_probe`): each record's first
  ``prefix_tokens`` tokens are the prompt;
  ``new_tokens`` tokens are greedy-decoded and compared with the record's true
  continuation: *verbatim* when the tokens are equal, *near-verbatim* when the
  normalized edit similarity of the decoded texts (lower-case, whitespace collapsed;
  ``1 - levenshtein / max length``) is at least ``near_threshold``. Records shorter
  than ``prefix_tokens + new_tokens`` tokens are counted as skipped. Groups:
  ``training`` (records in the training set) and ``withdrawn`` (records of members
  who withdrew, for a model retrained without them).
* **membership inference** (:func:`membership_inference`): a loss attack; a record's
  score is its mean token loss under the model minus its mean token loss under a
  **reference model** (calibrated; without a reference, the loss alone), lower meaning
  "member". The AUC (:func:`roc_auc`, Mann-Whitney U, ties counted half) separates the
  group from records never trained on (``non_members``): 0.5 is chance. Groups:
  ``training`` and ``withdrawn`` (a retrained model that forgot them scores near 0.5).

Texts are encoded as the tokenizer encodes them by default (``tokenizer(text)``, with
any special tokens it adds itself), which is how the trainer should encode them; the
first token is context only (not scored).

:class:`AuditResult` is JSON-serializable (:meth:`AuditResult.to_dict`,
:meth:`AuditResult.from_dict`) and holds no record text and no canary secret.
:func:`audit_passes` checks it against the policy's ``[audit]`` thresholds
(:class:`optin.domain.AuditThresholds`) and returns an :class:`AuditVerdict`; a check
whose measurement is missing is reported as *not measured* and does not fail.

Model-card contract (``MODEL_DIR/model_card.json``, one JSON object; the trainer writes
it, :func:`run_audit` reads it; every path is relative to ``MODEL_DIR`` or absolute;
every key is optional; other keys are left as they are)::

    {
      "canaries": "audit/canaries.jsonl",        # optin.training.canaries.write_canaries
      "audit_records": {                         # JSONL files, one {"text": ...} a line
        "training": "audit/training.jsonl",      #   records that were in the training set
        "withdrawn": "audit/withdrawn.jsonl",    #   records of members who withdrew
        "non_members": "audit/non_members.jsonl" #   records never trained on
      },
      "reference_model": "../reference"          # a save_pretrained directory (calibration)
    }

A card with ``"sharding"`` (LoRA cohorts, written by ``optin train --shards``) is loaded
with the trainer's ``optin.training.lm.load_model`` (the cohorts' ensemble); any other
directory with ``AutoModelForCausalLM`` / ``AutoTokenizer``.

:func:`write_audit` adds (replacing any earlier one) ``"audit": {"result": ...,
"verdict": ..., "thresholds": ..., "policy_version": ..., "audited_at": ...}`` and
rewrites the card atomically (:mod:`optin.files`). The canaries file holds the secrets
and the record files hold members' text: keep them out of an exported model.

torch and transformers are imported only when a model is scored: this module imports
without them (``pip install 'optin[train]'``).
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.domain.model import AuditThresholds
from optin.errors import DependencyMissingError, InputError
from optin.files import atomic_write_json
from optin.training.canaries import Canary, candidate_indices, read_canaries

MODEL_CARD = "model_card.json"
RECORD_GROUPS = ("training", "withdrawn", "non_members")
DEFAULT_CANDIDATE_KEY = b"optin-audit-candidates"
#: logits kept in memory at once while scoring (batch x length x vocabulary floats)
_LOGIT_BUDGET = 1 << 24

# -- pure math -------------------------------------------------------------------------


def exposure_from_rank(rank: float, space_size: int) -> float:
    """``log2 |R| - log2 rank``: ``log2 |R|`` at rank 1, 0 at the worst rank ``|R|``."""
    if space_size < 1 or not 1 <= rank <= space_size:
        raise ValueError(f"rank {rank} outside 1..{space_size}")
    return math.log2(space_size) - math.log2(rank)


def chance_exposure(space_size: int) -> float:
    """Expected exposure of a canary whose rank is uniform on ``1..|R|``:
    ``log2 |R| - log2(|R|!) / |R|`` (tends to ``log2 e``, about 1.44 bits)."""
    n = space_size
    return math.log2(n) - math.lgamma(n + 1) / (n * math.log(2))


def rank_among(score: float, others: Sequence[float], space_size: int | None = None) -> float:
    """The rank of ``score`` among itself and ``others`` (lower first; a tie counts half).
    With ``space_size`` larger than ``len(others) + 1``, ``others`` is a uniform sample
    of the rest of the space and the rank is the sampled-rank estimate."""
    below = sum(1 for s in others if s < score)
    ties = sum(1 for s in others if s == score)
    m = len(others)
    size = m + 1 if space_size is None else space_size
    if m == 0:
        return 1.0
    return 1.0 + (size - 1) * (below + ties / 2) / m


def normal_tail_exposure(score: float, others: Sequence[float]) -> float | None:
    """``-log2 P(X <= score)`` for ``X`` normal with the mean and deviation of ``others``
    (the Secret Sharer's extrapolation, with a normal instead of a skew-normal fit)."""
    if len(others) < 2:
        return None
    mu = statistics.fmean(others)
    sigma = statistics.stdev(others)
    if sigma == 0:
        return None
    cdf = 0.5 * math.erfc(-(score - mu) / (sigma * math.sqrt(2)))
    return -math.log2(max(cdf, 1e-300))  # finite, so the result stays plain JSON


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve for scores where higher means "positive": the
    Mann-Whitney U of the positives over ``n_pos * n_neg`` (ties get average ranks)."""
    if not positive or not negative:
        raise ValueError("AUC needs at least one positive and one negative score")
    labelled = sorted([(s, 1) for s in positive] + [(s, 0) for s in negative])
    rank_sum = 0.0
    i = 0
    while i < len(labelled):
        j = i
        while j + 1 < len(labelled) and labelled[j + 1][0] == labelled[i][0]:
            j += 1
        avg_rank = (i + j) / 2 + 1  # 1-based ranks i+1 .. j+1
        rank_sum += avg_rank * sum(lab for _, lab in labelled[i : j + 1])
        i = j + 1
    n_pos, n_neg = len(positive), len(negative)
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def edit_similarity(a: str, b: str) -> float:
    """``1 - levenshtein(a, b) / max(len(a), len(b))`` on normalized text (1 when both
    are empty)."""
    a, b = _normalize(a), _normalize(b)
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b))


# -- results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CanaryExposure:
    """One canary's exposure. No secret: the id says which canary it is."""

    id: str
    format: str
    repetitions: int
    exposure_bits: float
    rank: float
    space_size: int
    candidates_scored: int
    method: str  # "exact" | "sampled"
    extrapolated_bits: float | None = None


@dataclass(frozen=True, slots=True)
class RepetitionStats:
    repetitions: int
    canaries: int
    mean_bits: float
    max_bits: float
    min_bits: float
    chance_bits: float
    space_bits: float


@dataclass(frozen=True, slots=True)
class ExtractionStats:
    group: str
    records: int
    probed: int
    skipped_short: int
    verbatim: int
    near_verbatim: int
    prefix_tokens: int
    new_tokens: int
    near_threshold: float

    @property
    def verbatim_rate(self) -> float | None:
        return self.verbatim / self.probed if self.probed else None

    @property
    def near_verbatim_rate(self) -> float | None:
        return self.near_verbatim / self.probed if self.probed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "verbatim_rate": self.verbatim_rate,
            "near_verbatim_rate": self.near_verbatim_rate,
        }


@dataclass(frozen=True, slots=True)
class MembershipStats:
    group: str
    auc: float | None
    members: int
    non_members: int
    calibrated: bool  # True: score = target loss - reference loss


def repetition_stats(exposures: Iterable[CanaryExposure]) -> list[RepetitionStats]:
    """Mean, max and min exposure per repetition count (ascending), with chance."""
    by_rep: dict[int, list[CanaryExposure]] = {}
    for e in exposures:
        by_rep.setdefault(e.repetitions, []).append(e)
    out = []
    for rep in sorted(by_rep):
        group = by_rep[rep]
        bits = [e.exposure_bits for e in group]
        size = max(e.space_size for e in group)
        out.append(
            RepetitionStats(
                repetitions=rep,
                canaries=len(group),
                mean_bits=statistics.fmean(bits),
                max_bits=max(bits),
                min_bits=min(bits),
                chance_bits=chance_exposure(size),
                space_bits=math.log2(size),
            )
        )
    return out


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit measured. JSON-serializable; no record text, no secret."""

    canaries: tuple[CanaryExposure, ...] = ()
    extraction: Mapping[str, ExtractionStats] = field(default_factory=dict)
    membership: Mapping[str, MembershipStats] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def by_repetition(self) -> list[RepetitionStats]:
        return repetition_stats(self.canaries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "canaries": {
                "by_repetition": [asdict(r) for r in self.by_repetition],
                "each": [asdict(c) for c in self.canaries],
            },
            "extraction": {k: v.to_dict() for k, v in self.extraction.items()},
            "membership": {k: asdict(v) for k, v in self.membership.items()},
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditResult:
        ext_fields = ExtractionStats.__dataclass_fields__
        return cls(
            canaries=tuple(CanaryExposure(**c) for c in data["canaries"]["each"]),
            extraction={
                k: ExtractionStats(**{f: v[f] for f in ext_fields})
                for k, v in data["extraction"].items()
            },
            membership={k: MembershipStats(**v) for k, v in data["membership"].items()},
            settings=dict(data.get("settings", {})),
        )


# -- the policy check ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """One threshold: ``passed`` None when the audit did not measure it."""

    name: str
    limit: float
    measured: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.measured is None else self.measured <= self.limit


@dataclass(frozen=True)
class AuditVerdict:
    checks: tuple[AuditCheck, ...]

    @property
    def passed(self) -> bool:
        """No measured check exceeds its limit (unmeasured checks do not fail)."""
        return all(c.passed is not False for c in self.checks)

    @property
    def failures(self) -> list[AuditCheck]:
        return [c for c in self.checks if c.passed is False]

    @property
    def not_measured(self) -> list[AuditCheck]:
        return [c for c in self.checks if c.passed is None]

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [{**asdict(c), "passed": c.passed} for c in self.checks],
        }


def _rate(stats: ExtractionStats | None, near: bool) -> float | None:
    if stats is None:
        return None
    return stats.near_verbatim_rate if near else stats.verbatim_rate


def audit_passes(result: AuditResult, thresholds: AuditThresholds) -> AuditVerdict:
    """Check ``result`` against the policy's ``[audit]`` thresholds."""
    reps = {r.repetitions: r for r in result.by_repetition}
    checks: list[AuditCheck] = []
    for rep, limit in sorted(thresholds.max_exposure_bits.items()):
        measured = reps[rep].max_bits if rep in reps else None
        checks.append(AuditCheck(f"max_exposure_bits[{rep}]", limit, measured))
    for rep, limit in sorted(thresholds.max_mean_exposure_bits.items()):
        measured = reps[rep].mean_bits if rep in reps else None
        checks.append(AuditCheck(f"max_mean_exposure_bits[{rep}]", limit, measured))
    training = result.extraction.get("training")
    withdrawn = result.extraction.get("withdrawn")
    mia = result.membership.get("withdrawn")
    scalars: dict[str, float | None] = {
        "max_verbatim_rate": _rate(training, near=False),
        "max_near_verbatim_rate": _rate(training, near=True),
        "max_withdrawn_verbatim_rate": _rate(withdrawn, near=False),
        "max_withdrawn_near_verbatim_rate": _rate(withdrawn, near=True),
        "max_withdrawn_membership_auc": mia.auc if mia is not None else None,
    }
    for name, measured in scalars.items():
        limit = getattr(thresholds, name)
        if limit is not None:
            checks.append(AuditCheck(name, limit, measured))
    return AuditVerdict(tuple(checks))


def thresholds_to_dict(thresholds: AuditThresholds) -> dict[str, Any]:
    return {
        "max_exposure_bits": {str(k): v for k, v in thresholds.max_exposure_bits.items()},
        "max_mean_exposure_bits": {str(k): v for k, v in thresholds.max_mean_exposure_bits.items()},
        **{
            f: getattr(thresholds, f)
            for f in AuditThresholds.__dataclass_fields__
            if f not in ("max_exposure_bits", "max_mean_exposure_bits")
        },
    }


# -- scoring with a model (torch) ------------------------------------------------------


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised without the train extra
        raise DependencyMissingError("torch", "train") from None
    return torch


def _encode(tokenizer: Any, text: str) -> list[int]:
    """``text`` as the tokenizer encodes it by default (with whatever special tokens it
    adds itself, e.g. a BOS for Llama-style tokenizers, none for GPT-2's)."""
    return [int(i) for i in tokenizer(text)["input_ids"]]


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def _position_limit(model: Any) -> int | None:
    conf = model.config
    limit = getattr(conf, "n_positions", None) or getattr(conf, "max_position_embeddings", None)
    return int(limit) if limit else None


def _nll_rows(model: Any, rows: Sequence[Sequence[int]]) -> list[tuple[float, int]]:
    """(sum of -ln p, predicted tokens) of each token sequence, in order. A sequence
    longer than the model's context is scored on its first context-length tokens (what
    a trainer that truncates to the context saw)."""
    torch = _torch()
    limit = _position_limit(model)
    if limit is not None:
        rows = [r[:limit] for r in rows]
    vocab = int(model.config.vocab_size)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
    was_training = model.training
    model.eval()
    try:
        longest = max((len(r) for r in rows), default=1)
        size = max(1, _LOGIT_BUDGET // (max(longest, 1) * vocab))
        for i in range(0, len(order), size):
            batch = order[i : i + size]
            length = max(1, *(len(rows[j]) for j in batch))
            ids = torch.zeros((len(batch), length), dtype=torch.long)
            mask = torch.zeros((len(batch), length), dtype=torch.long)
            for r, j in enumerate(batch):
                ids[r, : len(rows[j])] = torch.tensor(rows[j], dtype=torch.long)
                mask[r, : len(rows[j])] = 1
            pos = torch.arange(length).unsqueeze(0).expand(len(batch), -1)
            dev = _device(model)
            with torch.no_grad():
                logits = model(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev)
                ).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            target = ids[:, 1:].to(dev)
            nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * mask[:, 1:].to(dev)
            sums = nll.sum(dim=1).tolist()
            counts = mask[:, 1:].sum(dim=1).tolist()
            for r, j in enumerate(batch):
                out[j] = (float(sums[r]), int(counts[r]))
    finally:
        model.train(was_training)
    return out


def log_perplexities(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[float]:
    """Each text's log-perplexity in bits: ``sum -log2 p(token | previous)`` over the
    tokens after the first."""
    rows = [_encode(tokenizer, t) for t in texts]
    return [s / math.log(2) for s, _ in _nll_rows(model, rows)]


def mean_token_losses(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[float | None]:
    """Each text's mean token loss (nats); None for a text with nothing to predict."""
    rows = [_encode(tokenizer, t) for t in texts]
    return [s / n if n else None for s, n in _nll_rows(model, rows)]


def exposure(
    model: Any,
    tokenizer: Any,
    canary: Canary | str,
    candidates: Sequence[str] | None = None,
    *,
    space_size: int | None = None,
    max_candidates: int = 1000,
    key: bytes = DEFAULT_CANDIDATE_KEY,
) -> CanaryExposure:
    """The exposure of ``canary`` (a :class:`Canary`, or a text with ``candidates``).

    ``candidates`` are the texts of the other members of its space (the canary's own
    text excluded); without them a :class:`Canary`'s space is enumerated, or sampled
    when larger than ``max_candidates`` + 1. ``space_size`` (default: the canary's
    ``|R|``, else ``len(candidates) + 1``) larger than ``len(candidates) + 1`` makes the
    rank the sampled-rank estimate."""
    if isinstance(canary, Canary):
        text = canary.text
        if candidates is None:
            indices, _ = candidate_indices(canary, key, max_candidates=max_candidates)
            candidates = [canary.candidate(i) for i in indices]
        size = space_size or canary.space_size
        meta = (canary.id, canary.format, canary.repetitions)
    else:
        if candidates is None:
            raise ValueError("a canary given as text needs its candidates")
        text = canary
        size = space_size or len(candidates) + 1
        meta = ("canary", "text", 0)
    if size < len(candidates) + 1:
        raise ValueError(f"space_size {size} < {len(candidates) + 1} texts scored")
    scores = log_perplexities(model, tokenizer, [text, *candidates])
    own, others = scores[0], scores[1:]
    rank = rank_among(own, others, size)
    return CanaryExposure(
        id=meta[0],
        format=meta[1],
        repetitions=meta[2],
        exposure_bits=exposure_from_rank(rank, size),
        rank=rank,
        space_size=size,
        candidates_scored=len(others),
        method="exact" if size == len(others) + 1 else "sampled",
        extrapolated_bits=normal_tail_exposure(own, others),
    )


def audit_canaries(
    model: Any,
    tokenizer: Any,
    canaries: Iterable[Canary],
    *,
    max_candidates: int = 1000,
    key: bytes = DEFAULT_CANDIDATE_KEY,
) -> list[CanaryExposure]:
    return [exposure(model, tokenizer, c, max_candidates=max_candidates, key=key) for c in canaries]


def greedy_continue(
    model: Any, prompts: Sequence[Sequence[int]], new_tokens: int
) -> list[list[int]]:
    """Greedy-decode ``new_tokens`` tokens after each prompt (prompts of equal length)."""
    torch = _torch()
    if not prompts:
        return []
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("prompts must have equal length")
    limit = _position_limit(model)
    if limit is not None and len(prompts[0]) + new_tokens > limit:
        raise ValueError(
            f"prompt {len(prompts[0])} + {new_tokens} new tokens exceeds the model's {limit}"
        )
    was_training = model.training
    model.eval()
    dev = _device(model)
    out: list[list[int]] = []
    try:
        for start in range(0, len(prompts), 64):
            ids = torch.tensor(prompts[start : start + 64], dtype=torch.long, device=dev)
            prompt_len = ids.shape[1]
            with torch.no_grad():
                for _ in range(new_tokens):
                    pos = torch.arange(ids.shape[1], device=dev).unsqueeze(0).expand(len(ids), -1)
                    logits = model(input_ids=ids, position_ids=pos).logits[:, -1]
                    ids = torch.cat([ids, logits.argmax(dim=-1, keepdim=True)], dim=1)
            out.extend(row[prompt_len:] for row in ids.tolist())
    finally:
        model.train(was_training)
    return out


def extraction_probe(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    group: str = "training",
    prefix_tokens: int = 16,
    new_tokens: int = 16,
    near_threshold: float = 0.9,
) -> ExtractionStats:
    """Prompt with each record's first ``prefix_tokens`` tokens, greedy-decode
    ``new_tokens`` and count verbatim and near-verbatim continuations."""
    if prefix_tokens < 1 or new_tokens < 1:
        raise ValueError("prefix_tokens and new_tokens must be >= 1")
    rows = [_encode(tokenizer, t) for t in texts]
    usable = [r for r in rows if len(r) >= prefix_tokens + new_tokens]
    prompts = [r[:prefix_tokens] for r in usable]
    truths = [r[prefix_tokens : prefix_tokens + new_tokens] for r in usable]
    outs = greedy_continue(model, prompts, new_tokens)
    verbatim = near = 0
    for got, want in zip(outs, truths, strict=True):
        if got == want:
            verbatim += 1
            near += 1
        elif edit_similarity(tokenizer.decode(got), tokenizer.decode(want)) >= near_threshold:
            near += 1
    return ExtractionStats(
        group=group,
        records=len(texts),
        probed=len(usable),
        skipped_short=len(texts) - len(usable),
        verbatim=verbatim,
        near_verbatim=near,
        prefix_tokens=prefix_tokens,
        new_tokens=new_tokens,
        near_threshold=near_threshold,
    )


def membership_scores(
    model: Any, tokenizer: Any, texts: Sequence[str], reference: Any | None = None
) -> list[float | None]:
    """Loss-attack scores, higher meaning "member": ``reference loss - target loss``
    (calibrated), or ``-target loss`` without a reference model."""
    target = mean_token_losses(model, tokenizer, texts)
    if reference is None:
        return [None if t is None else -t for t in target]
    ref = mean_token_losses(reference, tokenizer, texts)
    return [None if t is None or r is None else r - t for t, r in zip(target, ref, strict=True)]


def membership_inference(
    model: Any,
    tokenizer: Any,
    members: Sequence[str],
    non_members: Sequence[str],
    *,
    reference: Any | None = None,
    group: str = "training",
) -> MembershipStats:
    """AUC of the loss attack telling ``members`` from ``non_members``."""
    pos = [s for s in membership_scores(model, tokenizer, members, reference) if s is not None]
    neg = [s for s in membership_scores(model, tokenizer, non_members, reference) if s is not None]
    auc = roc_auc(pos, neg) if pos and neg else None
    return MembershipStats(group, auc, len(pos), len(neg), reference is not None)


# -- the model directory ---------------------------------------------------------------


@dataclass(frozen=True)
class AuditInputs:
    """What the model card points at, resolved to paths."""

    canaries: Path | None = None
    records: Mapping[str, Path] = field(default_factory=dict)
    reference_model: Path | None = None


@dataclass(frozen=True)
class AuditOptions:
    max_candidates: int = 1000
    prefix_tokens: int = 16
    new_tokens: int = 16
    near_threshold: float = 0.9
    candidate_key: bytes = DEFAULT_CANDIDATE_KEY


def read_model_card(model_dir: Path) -> dict[str, Any]:
    """The model card of ``model_dir`` ({} when there is none)."""
    path = Path(model_dir) / MODEL_CARD
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", file=str(path), line=e.lineno) from None
    if not isinstance(card, dict):
        raise InputError("must be a JSON object", file=str(path))
    return card


def _resolve(model_dir: Path, raw: Any, field_name: str, *, directory: bool = False) -> Path:
    where = str(Path(model_dir) / MODEL_CARD)
    if not isinstance(raw, str) or not raw:
        raise InputError("must be a path", file=where, field=field_name, value=raw)
    path = Path(raw) if Path(raw).is_absolute() else Path(model_dir) / raw
    if not (path.is_dir() if directory else path.is_file()):
        what = "directory" if directory else "file"
        raise InputError(f"no such {what}: {path}", file=where, field=field_name)
    return path


def audit_inputs(model_dir: Path, card: Mapping[str, Any]) -> AuditInputs:
    """Resolve the model card's ``canaries``, ``audit_records`` and ``reference_model``."""
    where = str(Path(model_dir) / MODEL_CARD)
    canaries = card.get("canaries")
    records_raw = card.get("audit_records", {})
    if not isinstance(records_raw, dict):
        raise InputError("must be an object", file=where, field="audit_records")
    records: dict[str, Path] = {}
    for name, raw in records_raw.items():
        if name not in RECORD_GROUPS:
            raise InputError(
                "unknown record group",
                file=where,
                field=f"audit_records.{name}",
                allowed=", ".join(RECORD_GROUPS),
            )
        records[name] = _resolve(model_dir, raw, f"audit_records.{name}")
    ref = card.get("reference_model")
    return AuditInputs(
        canaries=None if canaries is None else _resolve(model_dir, canaries, "canaries"),
        records=records,
        reference_model=None
        if ref is None
        else _resolve(model_dir, ref, "reference_model", directory=True),
    )


def read_records(path: Path) -> list[str]:
    """The ``text`` of each line of a records JSONL file."""
    out: list[str] = []
    for lineno, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", file=str(path), line=lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(
                "each line must be an object with a string 'text'",
                file=str(path),
                line=lineno,
                field="text",
            )
        out.append(obj["text"])
    return out


def load_model(model_dir: Path) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a ``save_pretrained`` directory (local files
    only; nothing is downloaded). A directory whose model card has ``"sharding"`` (the
    trainer's LoRA cohorts) is loaded by the trainer's own loader,
    ``optin.training.lm.load_model``, when that module is installed."""
    _torch()
    card = read_model_card(model_dir)
    if card.get("sharding"):
        try:
            lm = importlib.import_module("optin.training.lm")
        except ImportError:
            raise InputError(
                "a sharded model needs optin's training module to load it",
                file=str(Path(model_dir) / MODEL_CARD),
                field="sharding",
            ) from None
        model, tokenizer = lm.load_model(Path(model_dir))
        return model, tokenizer
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:  # pragma: no cover - exercised without the train extra
        raise DependencyMissingError("transformers", "train") from None
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise InputError(
            "not a model directory (no config.json)",
            file=str(path),
            allowed="a directory written by save_pretrained",
        )
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model, tokenizer


def run_audit(model_dir: Path, options: AuditOptions | None = None) -> AuditResult:
    """Audit the model in ``model_dir`` with what its model card points at."""
    opts = options or AuditOptions()
    model_dir = Path(model_dir)
    inputs = audit_inputs(model_dir, read_model_card(model_dir))
    model, tokenizer = load_model(model_dir)
    reference = load_model(inputs.reference_model)[0] if inputs.reference_model else None
    canaries = read_canaries(inputs.canaries) if inputs.canaries else []
    exposures = audit_canaries(
        model, tokenizer, canaries, max_candidates=opts.max_candidates, key=opts.candidate_key
    )
    texts = {name: read_records(p) for name, p in inputs.records.items()}
    extraction = {
        group: extraction_probe(
            model,
            tokenizer,
            texts[group],
            group=group,
            prefix_tokens=opts.prefix_tokens,
            new_tokens=opts.new_tokens,
            near_threshold=opts.near_threshold,
        )
        for group in ("training", "withdrawn")
        if texts.get(group)
    }
    membership = {
        group: membership_inference(
            model, tokenizer, texts[group], texts["non_members"], reference=reference, group=group
        )
        for group in ("training", "withdrawn")
        if texts.get(group) and texts.get("non_members")
    }
    settings = {
        "max_candidates": opts.max_candidates,
        "prefix_tokens": opts.prefix_tokens,
        "new_tokens": opts.new_tokens,
        "near_threshold": opts.near_threshold,
        "reference_model": inputs.reference_model is not None,
        "exposure_method": "exact rank when |R| - 1 <= max_candidates, else sampled-rank "
        "estimate; extrapolated_bits: normal fit",
    }
    return AuditResult(tuple(exposures), extraction, membership, settings)


def write_audit(
    model_dir: Path,
    result: AuditResult,
    verdict: AuditVerdict,
    *,
    thresholds: AuditThresholds,
    audited_at: datetime,
    policy_version: int | None,
) -> Path:
    """Put the audit into ``model_dir/model_card.json`` (atomically; other keys kept)."""
    card = read_model_card(model_dir)
    card["audit"] = {
        "result": result.to_dict(),
        "verdict": verdict.to_dict(),
        "thresholds": thresholds_to_dict(thresholds),
        "policy_version": policy_version,
        "audited_at": audited_at.isoformat(),
    }
    path = Path(model_dir) / MODEL_CARD
    atomic_write_json(path, card)
    return path


__all__ = [
    "DEFAULT_CANDIDATE_KEY",
    "MODEL_CARD",
    "RECORD_GROUPS",
    "AuditCheck",
    "AuditInputs",
    "AuditOptions",
    "AuditResult",
    "AuditVerdict",
    "CanaryExposure",
    "ExtractionStats",
    "MembershipStats",
    "RepetitionStats",
    "audit_canaries",
    "audit_inputs",
    "audit_passes",
    "chance_exposure",
    "edit_similarity",
    "exposure",
    "exposure_from_rank",
    "extraction_probe",
    "greedy_continue",
    "load_model",
    "log_perplexities",
    "mean_token_losses",
    "membership_inference",
    "membership_scores",
    "normal_tail_exposure",
    "rank_among",
    "read_model_card",
    "read_records",
    "repetition_stats",
    "roc_auc",
    "run_audit",
    "thresholds_to_dict",
    "write_audit",
]
