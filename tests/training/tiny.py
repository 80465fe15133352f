"""A tiny GPT-2 and a local tokenizer, trained in-test (no downloads): for the audits.

``corpus(n)`` gives ``n`` filler sentences of a member-post shape; ``tokenizer_for``
trains a byte-level BPE (digits split one per token) on some texts; ``train`` fits a
2-layer, 64-wide GPT-2 on texts for a number of steps, deterministically (seeded,
one thread).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

ACTIVITIES = ("hiking", "baking bread", "painting", "cycling", "reading", "gardening",
              "fishing", "climbing", "sketching", "running", "swimming", "writing")  # fmt: skip
PLACES = ("the hills", "Lisbon", "the old harbour", "my kitchen", "the park", "Osaka",
          "the library", "the coast", "Nairobi", "the forest", "the lake", "Quito")  # fmt: skip
PEOPLE = ("my sister", "two friends", "the team", "my dad", "a neighbour", "the kids",
          "my cousin", "old classmates")  # fmt: skip
FEELINGS = ("It was wonderful", "Never again", "Highly recommended", "So tired now",
            "Best day this month", "Can't wait to go back")  # fmt: skip


def corpus(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct short posts."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        text = (
            f"Spent the weekend {rng.choice(ACTIVITIES)} in {rng.choice(PLACES)} with "
            f"{rng.choice(PEOPLE)}. {rng.choice(FEELINGS)}!"
        )
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def tokenizer_for(texts: Sequence[str], vocab_size: int = 400) -> Any:
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
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def new_model(tokenizer: Any, seed: int = 0) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return GPT2LMHeadModel(config)


def train(
    tokenizer: Any, texts: Sequence[str], *, steps: int = 300, batch: int = 16, seed: int = 0
) -> Any:
    """A tiny GPT-2 fitted to ``texts`` (encoded as ``tokenizer(text)``) with AdamW."""
    import torch

    torch.set_num_threads(1)
    model = new_model(tokenizer, seed)
    rows = [list(tokenizer(t)["input_ids"])[:64] for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        pick = [rows[rng.randrange(len(rows))] for _ in range(batch)]
        length = max(len(r) for r in pick)
        ids = torch.full((batch, length), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((batch, length), -100, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.long)
        for i, r in enumerate(pick):
            ids[i, : len(r)] = torch.tensor(r)
            labels[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        pos = torch.arange(length).unsqueeze(0).expand(batch, -1)
        loss = model(input_ids=ids, attention_mask=mask, position_ids=pos, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model
