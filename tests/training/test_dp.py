"""Member-level DP mechanics (needs the ``train`` extra; CI installs it): each member's
summed gradient is clipped to C, Opacus's per-example gradients on the tiny GPT-2 (with
explicit position_ids) equal gradients computed one example at a time, and a short DP
run reports the guarantee it was calibrated for."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from optin.training.accountant import epsilon  # noqa: E402
from optin.training.dp import (  # noqa: E402
    PrivateGradients,
    example_losses,
    pad_batch,
    unit_clipped_sum,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    from optin.training.lm import TinyConfig, train_tokenizer

    texts = [f"post number {i} about gardens and rivers and {i * 7} birds" for i in range(60)]
    tok = train_tokenizer(texts, 300)
    cfg = TinyConfig(layers=1, width=32, heads=2, context=32, vocab=300)
    return tok, cfg, texts


def test_each_members_summed_gradient_is_clipped_to_c() -> None:
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(12, 5, 3, generator=gen) * 4, torch.randn(12, 7, generator=gen) * 4]
    units = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 3])  # member 0 has 8 examples
    clip = 1.0
    total, norms, factors = unit_clipped_sum(grads, units, clip)
    for u in range(4):
        mine = units == u
        summed = [g[mine].sum(0) for g in grads]
        norm = torch.sqrt(sum((s.double() ** 2).sum() for s in summed))
        assert norms[u].item() == pytest.approx(norm.item(), rel=1e-6)
        clipped = torch.sqrt(sum(((s * factors[u]).double() ** 2).sum() for s in summed))
        assert clipped.item() <= clip + 1e-6  # the bound, per member
    # the total is the sum of the clipped member sums: one member moves it by <= C
    expected = [sum(g[units == u].sum(0) * factors[u] for u in range(4)) for g in grads]
    for t, e in zip(total, expected, strict=True):
        assert torch.allclose(t, e, atol=1e-5)
    without_0 = [sum(g[units == u].sum(0) * factors[u] for u in range(1, 4)) for g in grads]
    delta = torch.sqrt(
        sum(((t - w).double() ** 2).sum() for t, w in zip(total, without_0, strict=True))
    )
    assert delta.item() <= clip + 1e-6


def test_opacus_per_example_gradients_match_one_at_a_time(tiny) -> None:  # type: ignore[no-untyped-def]
    from optin.training.lm import encode, tiny_gpt2

    tok, cfg, texts = tiny
    model = tiny_gpt2(tok, cfg, seed=0)
    examples = encode(tok, texts[:5], cfg.context)
    pad = int(tok.eos_token_id)
    # one at a time
    ref = []
    for e in examples:
        model.zero_grad()
        b = pad_batch([e], pad)
        labels = b.pop("labels")
        example_losses(model(**b).logits, labels).sum().backward()
        ref.append([p.grad.detach().clone() for p in model.parameters()])
    # Opacus, all at once (padded; members 0,0,1,2,2), noise off, no clipping in effect
    engine = PrivateGradients(
        model, clip_norm=1e9, noise_multiplier=0.0, expected_units=1.0, seed=0
    )
    engine.compute(examples, [0, 0, 1, 2, 2], pad)
    params = [p for p in model.parameters() if p.requires_grad]
    for j, p in enumerate(params):
        want = sum(r[j] for r in ref)
        assert torch.allclose(p.grad, want, atol=1e-4, rtol=1e-3), f"param {j}"
    engine.module._close()


def test_a_member_level_run_meets_its_guarantee(tiny) -> None:  # type: ignore[no-untyped-def]
    from optin.training.lm import encode, tiny_gpt2
    from optin.training.trainer import DPSettings, TrainSettings, train

    tok, cfg, texts = tiny
    model = tiny_gpt2(tok, cfg, seed=0)
    examples = encode(tok, texts, cfg.context)
    units = [i % 12 for i in range(len(examples))]  # 12 members, 5 posts each
    dp = DPSettings(
        epsilon=8.0, delta=1e-5, unit="member", clip_norm=1.0, max_examples_per_member=2
    )
    stats = train(model, examples, units, TrainSettings(steps=4, batch=4, dp=dp))
    g = stats.guarantee
    assert g is not None and g.unit == "member" and g.max_examples_per_member == 2
    assert g.sample_rate == pytest.approx(4 / 12)
    assert epsilon(g.sample_rate, g.noise_multiplier, 4, 1e-5)[0] == pytest.approx(g.epsilon)
    assert g.epsilon <= 8.0 and stats.tokens > 0
    assert not any(
        hasattr(p, "grad_sample") and p.grad_sample is not None for p in model.parameters()
    )
