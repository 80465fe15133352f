"""Canary exposure at repetition 1 / 4 / 16: a tiny GPT-2 trained without DP and with
DP-SGD (Opacus) at epsilon 8 and 1, side by side.

Everything is local and small: a synthetic corpus of short posts, canaries from
:func:`optin.training.canaries.make_canaries` (phone / e-mail / id shapes, ``--digits``
free digits, so ``|R| = 10 ** digits``) inserted 1, 4 and 16 times, a byte-level BPE
tokenizer trained on the corpus (digits one per token), and a 2-layer, 64-wide GPT-2.
Exposure is measured by :func:`optin.training.audit.audit_canaries` (exact rank when
``|R| - 1 <= --max-candidates``, else the sampled-rank estimate).

Two kinds of DP run, side by side:

* **example-level DP-SGD** (Opacus ``make_private_with_epsilon``: Poisson sampling of
  examples, per-example clipping, RDP accounting): each repetition of a canary is a
  separate example, so a canary repeated 16 times is protected by group privacy only
  (about 16 epsilon), not by epsilon;
* **member-level DP** (optin's trainer, :func:`optin.training.trainer.train` with
  ``unit="member"``, what ``optin train --dp-epsilon`` runs): the posts belong to
  ``--members`` synthetic members (``posts / members`` each), every canary is its own
  pseudo-member holding all its repetitions, each step samples members (Poisson) and at
  most ``--max-examples-per-member`` of their examples, clips each member's summed
  gradient and adds noise; the RDP accountant is the trainer's. Here the guarantee covers
  a canary as a whole, however often it is repeated.

    python bench/audit_exposure.py                    # small config, a few minutes on CPU
    python bench/audit_exposure.py --steps 200 --canaries 2 --no-dp-only
    python bench/audit_exposure.py --modes member     # member-level runs only (+ no DP)

:func:`exposure_runs` returns the rows; :func:`format_table` prints them (for
``bench/train.py`` to call).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from optin.training.audit import (
    audit_canaries,
    chance_exposure,
    mean_token_losses,
    repetition_stats,
)
from optin.training.canaries import Canary, make_canaries

ACTIVITIES = ("hiking", "baking bread", "painting", "cycling", "reading", "gardening",
              "fishing", "climbing", "sketching", "running", "swimming", "writing")  # fmt: skip
PLACES = ("the hills", "Lisbon", "the old harbour", "my kitchen", "the park", "Osaka",
          "the library", "the coast", "Nairobi", "the forest", "the lake", "Quito")  # fmt: skip
PEOPLE = ("my sister", "two friends", "the team", "my dad", "a neighbour", "the kids",
          "my cousin", "old classmates")  # fmt: skip
FEELINGS = ("It was wonderful", "Never again", "Highly recommended", "So tired now",
            "Best day this month", "Can't wait to go back")  # fmt: skip


@dataclass
class Config:
    posts: int = 200
    heldout: int = 50  # posts never trained on: their loss shows what a model learned
    canaries: int = 3  # per repetition count
    digits: int = 4
    max_candidates: int = 300
    steps: int = 400  # optimizer steps of the non-DP run
    batch: int = 16
    dp_batch: int = 32  # expected (Poisson) batch of the DP runs
    dp_epochs: int = 20
    epsilons: tuple[float, ...] = (8.0, 1.0)
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    members: int = 50  # synthetic authors of the posts (member-level runs)
    member_batch: int = 8  # expected members per step (member-level runs)
    member_steps: int = 160
    max_examples_per_member: int = 4
    lr: float = 3e-3
    seed: int = 0
    threads: int = 1


@dataclass
class Run:
    label: str
    epsilon: float | None
    seconds: float
    steps: int
    by_rep: dict[int, tuple[float, float]] = field(default_factory=dict)  # rep -> (mean, max)
    heldout_loss: float = math.nan  # mean token loss (nats) on held-out posts
    note: str = ""


def posts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        t = (
            f"Spent the weekend {rng.choice(ACTIVITIES)} in {rng.choice(PLACES)} with "
            f"{rng.choice(PEOPLE)}. {rng.choice(FEELINGS)}!"
        )
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def tokenizer_for(texts: Sequence[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    eot = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=eot, eos_token=eot, pad_token=eot
    )


def new_model(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=64,
            n_embd=64,
            n_layer=2,
            n_head=2,
            tie_word_embeddings=False,  # Opacus: one module per parameter
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def encode(tokenizer: Any, texts: Sequence[str], length: int = 48) -> tuple[Any, Any]:
    """Fixed-length rows (``tokenizer(text)``, padded), labels -100 on padding (the
    encoding the audit scores with)."""
    import torch

    ids = torch.full((len(texts), length), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(texts), length), -100, dtype=torch.long)
    for i, t in enumerate(texts):
        row = list(tokenizer(t)["input_ids"])[:length]
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, : len(row)] = torch.tensor(row)
    return ids, labels


def _loss(model: Any, ids: Any, labels: Any) -> Any:
    import torch

    pos = torch.arange(ids.shape[1]).unsqueeze(0).expand(ids.shape[0], -1)  # explicit: Opacus
    mask = (labels != -100).long()
    return model(input_ids=ids, attention_mask=mask, position_ids=pos, labels=labels).loss


def train_plain(tokenizer: Any, texts: Sequence[str], cfg: Config) -> tuple[Any, int]:
    import torch

    model = new_model(tokenizer, cfg.seed)
    ids, labels = encode(tokenizer, texts)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for _ in range(cfg.steps):
        pick = torch.randint(len(texts), (cfg.batch,), generator=gen)
        loss = _loss(model, ids[pick], labels[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), cfg.steps


def train_dp(
    tokenizer: Any, texts: Sequence[str], cfg: Config, epsilon: float
) -> tuple[Any, int, str]:
    """Example-level DP-SGD with Opacus (Poisson sampling, RDP accountant)."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    model = new_model(tokenizer, cfg.seed)
    model.train()
    ids, labels = encode(tokenizer, texts)
    loader = DataLoader(TensorDataset(ids, labels), batch_size=cfg.dp_batch, shuffle=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    engine = PrivacyEngine(accountant="rdp")
    model, opt, loader = engine.make_private_with_epsilon(
        module=model,
        optimizer=opt,
        data_loader=loader,
        target_epsilon=epsilon,
        target_delta=cfg.delta,
        epochs=cfg.dp_epochs,
        max_grad_norm=cfg.max_grad_norm,
        poisson_sampling=True,
    )
    steps = 0
    for _ in range(cfg.dp_epochs):
        for batch_ids, batch_labels in loader:
            if len(batch_ids) == 0:
                continue
            loss = _loss(model, batch_ids, batch_labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    spent = engine.get_epsilon(cfg.delta)
    note = (
        f"example-level DP-SGD: sigma={opt.noise_multiplier:.3f}, C={cfg.max_grad_norm}, "
        f"q={cfg.dp_batch / len(texts):.3f}, RDP epsilon spent {spent:.2f} at delta={cfg.delta:g}"
    )
    return model._module.eval(), steps, note


def train_member_dp(
    tokenizer: Any,
    texts: Sequence[str],
    units: Sequence[int],
    cfg: Config,
    epsilon: float,
) -> tuple[Any, int, str]:
    """Member-level DP with optin's trainer (the code ``optin train --dp-epsilon`` runs)."""
    from optin.training.lm import encode as encode_examples
    from optin.training.trainer import DPSettings, TrainSettings, train

    model = new_model(tokenizer, cfg.seed)
    examples = encode_examples(tokenizer, texts, 48)
    dp = DPSettings(
        epsilon=epsilon,
        delta=cfg.delta,
        unit="member",
        clip_norm=cfg.max_grad_norm,
        max_examples_per_member=cfg.max_examples_per_member,
    )
    settings = TrainSettings(
        steps=cfg.member_steps, lr=cfg.lr, batch=cfg.member_batch, seed=cfg.seed, dp=dp
    )
    stats = train(model, examples, units, settings)
    g = stats.guarantee
    assert g is not None
    note = (
        f"member-level DP: {len(set(units))} units ({cfg.members} members + one per canary), "
        f"k={cfg.max_examples_per_member}, sigma={g.noise_multiplier:.3f}, "
        f"C={cfg.max_grad_norm}, q={g.sample_rate:.3f}, {g.accountant} epsilon "
        f"{g.epsilon:.2f} at delta={cfg.delta:g}"
    )
    return model.eval(), stats.steps, note


def _measure(
    run: Run,
    model: Any,
    tokenizer: Any,
    canaries: Sequence[Canary],
    heldout: Sequence[str],
    cfg: Config,
) -> Run:
    exposures = audit_canaries(model, tokenizer, canaries, max_candidates=cfg.max_candidates)
    run.by_rep = {r.repetitions: (r.mean_bits, r.max_bits) for r in repetition_stats(exposures)}
    losses = [x for x in mean_token_losses(model, tokenizer, heldout) if x is not None]
    run.heldout_loss = sum(losses) / len(losses)
    return run


def exposure_runs(
    cfg: Config, *, dp: bool = True, modes: Sequence[str] = ("example", "member")
) -> list[Run]:
    """Train without DP (and at each epsilon with example-level DP-SGD and member-level
    DP, as ``modes`` asks) and measure exposure."""
    import torch

    torch.set_num_threads(cfg.threads)
    canaries = make_canaries(cfg.canaries, f"bench-{cfg.seed}", digits=cfg.digits)
    everything = posts(cfg.posts + cfg.heldout, cfg.seed)
    corpus, heldout = everything[: cfg.posts], everything[cfg.posts :]
    # member-level: post i belongs to member i mod members; each canary is one more unit
    pairs = [(t, i % cfg.members) for i, t in enumerate(corpus)]
    for j, c in enumerate(canaries):
        pairs += [(c.text, cfg.members + j)] * c.repetitions
    random.Random(cfg.seed).shuffle(pairs)
    texts = [t for t, _ in pairs]
    units = [u for _, u in pairs]
    tokenizer = tokenizer_for(everything + [c.text for c in canaries])
    t0 = time.perf_counter()
    model, steps = train_plain(tokenizer, texts, cfg)
    run = Run("no DP", None, time.perf_counter() - t0, steps)
    runs = [_measure(run, model, tokenizer, canaries, heldout, cfg)]
    for eps in cfg.epsilons if dp else ():
        if "example" in modes:
            t0 = time.perf_counter()
            model, steps, note = train_dp(tokenizer, texts, cfg, eps)
            label = f"example-level DP-SGD eps={eps:g}"
            run = Run(label, eps, time.perf_counter() - t0, steps, note=note)
            runs.append(_measure(run, model, tokenizer, canaries, heldout, cfg))
        if "member" in modes:
            t0 = time.perf_counter()
            model, steps, note = train_member_dp(tokenizer, texts, units, cfg, eps)
            label = f"member-level DP eps={eps:g}"
            run = Run(label, eps, time.perf_counter() - t0, steps, note=note)
            runs.append(_measure(run, model, tokenizer, canaries, heldout, cfg))
    return runs


def format_table(runs: Sequence[Run], cfg: Config) -> str:
    size = 10**cfg.digits
    chance = chance_exposure(size)
    reps = sorted({r for run in runs for r in run.by_rep})
    head = ["run", "steps", "train s", "held-out loss"] + [f"rep {r} mean/max" for r in reps]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for run in runs:
        cells = [run.label, str(run.steps), f"{run.seconds:.1f}", f"{run.heldout_loss:.3f}"]
        cells += [f"{run.by_rep[r][0]:.2f} / {run.by_rep[r][1]:.2f}" for r in reps]
        lines.append(" | ".join(cells))
    lines.append(
        f"exposure in bits; |R| = 10^{cfg.digits} (log2 |R| = {math.log2(size):.2f}); "
        f"chance (uniform rank) = {chance:.2f}; target with DP at eps <= 8: mean at rep 16 "
        f"<= {chance + 2:.2f}"
    )
    lines += [f"{run.label}: {run.note}" for run in runs if run.note]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cfg = Config()
    for name, value in vars(cfg).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--epsilons", default=",".join(f"{e:g}" for e in cfg.epsilons))
    p.add_argument("--no-dp-only", action="store_true", help="Skip the DP runs.")
    p.add_argument("--modes", default="example,member", help="DP kinds: example, member.")
    args = p.parse_args(argv)
    for name in vars(cfg):
        if name != "epsilons":
            setattr(cfg, name, getattr(args, name))
    cfg.epsilons = tuple(float(e) for e in args.epsilons.split(","))
    wall, cpu = time.perf_counter(), time.process_time()
    runs = exposure_runs(cfg, dp=not args.no_dp_only, modes=args.modes.split(","))
    print(format_table(runs, cfg))
    print(
        f"wall {time.perf_counter() - wall:.1f} s, process CPU {time.process_time() - cpu:.1f} s "
        f"(threads {cfg.threads})"
    )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
