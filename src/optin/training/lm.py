"""Tokenizers, models and adapters (torch, transformers, tokenizers, peft).

* :func:`train_tokenizer` - a byte-level BPE tokenizer trained locally on the given
  texts (``texts=[]`` gives the data-free byte alphabet: 256 symbols, no merges);
* :func:`tiny_gpt2` - a small GPT-2 (2 layers, 128 wide, 128 tokens of context by
  default), randomly initialised;
* :func:`load_base` - a local Hugging Face model directory (never downloads:
  ``local_files_only``);
* :func:`lora` - a LoRA adapter (peft) on a copy of a base, for one cohort;
* :class:`CohortEnsemble` - a sharded model at inference: the base with every cohort's
  adapter, **the mean of the adapters' logits** (each adapter saw one cohort only; the
  mean is what makes it one model, and dropping a cohort's adapter removes exactly what
  that cohort taught it);
* :func:`load_model` - a model directory written by optin (whole or sharded) as
  ``(model, tokenizer)``: what ``optin.training.audit`` takes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from torch import nn

EOS = "<|endoftext|>"
#: The LoRA settings of every cohort adapter.
LORA_TARGETS = ("c_attn", "c_proj", "c_fc")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No transformers progress bars (ours reports training) and no deprecation
    warning that peft triggers in transformers 5 (nothing for us to change)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        yield


def save(model: Any, tokenizer: Any | None, path: Path) -> None:
    """``save_pretrained`` of the model (or adapter) and the tokenizer, quietly."""
    with quiet():
        model.save_pretrained(str(path))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(path))


@dataclass(frozen=True)
class TinyConfig:
    layers: int = 2
    width: int = 128
    heads: int = 4
    context: int = 128
    vocab: int = 2048

    def to_dict(self) -> dict[str, int]:
        return {
            "layers": self.layers,
            "width": self.width,
            "heads": self.heads,
            "context": self.context,
            "vocab": self.vocab,
        }


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A GPT-2 style byte-level BPE tokenizer trained on ``texts`` (locally)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts),
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        show_progress=False,
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS)
    tok.pad_token = EOS
    return tok


def tiny_gpt2(tokenizer: Any, cfg: TinyConfig, seed: int) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    conf = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=cfg.context,
        n_embd=cfg.width,
        n_layer=cfg.layers,
        n_head=cfg.heads,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    conf._attn_implementation = "eager"
    return GPT2LMHeadModel(conf)


def load_base(path: Path) -> tuple[Any, Any]:
    """A local model directory and its tokenizer (no network)."""
    with quiet():
        return _load_base(path)


def _load_base(path: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        str(path), local_files_only=True, attn_implementation="eager"
    )
    return model, tok


def context_of(model: Any) -> int:
    conf = model.config
    n = getattr(conf, "n_positions", None) or getattr(conf, "max_position_embeddings", None)
    return int(n or 128)


def lora(base: Any, *, rank: int = 8, seed: int = 0) -> Any:
    """A fresh LoRA adapter on a copy of ``base`` (the base's weights stay frozen)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    names = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names] or ["q_proj", "v_proj"]
    conf = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=targets,
        lora_dropout=0.0,
        fan_in_fan_out="c_attn" in targets,
        bias="none",
    )
    with quiet():
        return get_peft_model(copy.deepcopy(base), conf)


def encode(tokenizer: Any, texts: Sequence[str], context: int) -> list[list[int]]:
    """Each text as token ids ending in EOS, truncated to ``context``."""
    eos = int(tokenizer.eos_token_id)
    out = []
    for t in texts:
        ids = list(tokenizer(t, add_special_tokens=False)["input_ids"])[: context - 1]
        out.append([*ids, eos])
    return out


class CohortEnsemble(nn.Module):
    """The cohorts' adapted models as one causal LM: the mean of their logits."""

    def __init__(self, members: Sequence[Any]) -> None:
        super().__init__()
        self.members = nn.ModuleList(list(members))
        self.config = members[0].config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kw: Any,
    ) -> Any:
        from transformers.modeling_outputs import CausalLMOutput

        logits = torch.stack(
            [
                m(input_ids=input_ids, attention_mask=attention_mask, **kw).logits
                for m in self.members
            ]
        ).mean(0)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
        return CausalLMOutput(loss=loss, logits=logits)


def load_model(path: Path) -> tuple[Any, Any]:
    """A model directory written by optin as ``(model, tokenizer)`` in eval mode: the
    model itself, or for a sharded model the :class:`CohortEnsemble` of its adapters."""

    with quiet():
        return _load_model(path)


def _load_model(path: Path) -> tuple[Any, Any]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    card = json.loads((path / "model_card.json").read_text("utf-8"))
    sharding = card.get("sharding")
    if not sharding:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        return model.eval(), tok
    tok = AutoTokenizer.from_pretrained(str(path / "base"), local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(str(path / "base"), local_files_only=True)
    members = [
        PeftModel.from_pretrained(copy.deepcopy(base), str(path / c["adapter"]))
        for c in sharding["cohorts"]
        if c.get("adapter")
    ]
    return CohortEnsemble(members).eval(), tok


__all__ = [
    "EOS",
    "LORA_TARGETS",
    "CohortEnsemble",
    "TinyConfig",
    "context_of",
    "encode",
    "load_base",
    "load_model",
    "lora",
    "quiet",
    "save",
    "tiny_gpt2",
    "train_tokenizer",
]
