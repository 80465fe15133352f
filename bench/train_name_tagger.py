"""Train the person-name tagger of the ``accurate`` profile (development time only).

Averaged perceptron over the features of :mod:`optin.privacy.detect.tagger`, trained on
the PERSON spans of the DEV splits of ../shared/benchmarks/pii (tab, wnut17,
presidio_synth, panorama_spia); test splits are never read. Deterministic for a seed.

    .venv/bin/python bench/train_name_tagger.py --cv      # k-fold CV on dev, write nothing
    .venv/bin/python bench/train_name_tagger.py           # train on all dev, write the model

Thresholds, one per :func:`~optin.privacy.detect.tagger.genre` (social / short / long),
are chosen by k-fold cross-validation on dev: out-of-fold token scores give the
best F-beta threshold (beta = ``--beta``) of the social and short genres (long
documents, too few in dev, use the pooled one); for the ``social`` genre the
span-level out-of-fold figures of the whole ``accurate`` profile (overlap mode of the
benchmark's score.py) then pick the lowest threshold of a grid whose wnut17 precision
stays >= ``--social-min-precision``. Writes ``src/optin/privacy/data/name_tagger.json.gz``
(atomically).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import random
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from optin.privacy.detect.analyzer import resolve_overlaps  # noqa: E402
from optin.privacy.detect.base import create  # noqa: E402
from optin.privacy.detect.recognizers.person_model import (  # noqa: E402
    default_rules,
    join_marked,
    rule_tags,
)
from optin.privacy.detect.tagger import (  # noqa: E402
    MODEL_FILE,
    Token,
    candidate,
    doc_case,
    features,
    genre,
    lexicon_info,
    tokenize,
)
from optin.privacy.findings import Finding  # noqa: E402
from optin.privacy.profiles import get_profile  # noqa: E402

DATASETS = ("tab", "wnut17", "presidio_synth", "panorama_spia")
CORE = "PERSON,HANDLE,EMAIL,PHONE,GOV_ID,URL,IP_ADDRESS,CREDIT_CARD,IBAN"
LABELS = {"panorama_spia": CORE, "presidio_synth": CORE, "wnut17": "PERSON", "tab": "PERSON"}
STYLES = ("social", "short", "long")
OUT = ROOT / "src/optin/privacy/data" / MODEL_FILE

Example = tuple[list[str], int, str]  # features, label (+1/-1), genre


@dataclass
class Doc:
    ds: str
    doc_id: str
    gold: dict[str, Any]
    style: str
    tokens: list[Token]
    cand: list[int]  # token index of every example
    examples: list[Example]
    others: list[Finding]  # findings of the accurate profile's other recognizers


def bench_dir() -> Path:
    env = os.environ.get("OPTIN_SHARED")
    path = (Path(env) if env else ROOT.parent / "shared") / "benchmarks/pii"
    if not (path / "score.py").exists():
        sys.exit(f"benchmark not found under {path} (set OPTIN_SHARED)")
    return path


def scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pii_score", bench_dir() / "score.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_docs() -> list[Doc]:
    """Every dev document with its tagger examples and the other recognizers' findings."""
    rules = default_rules()
    prof = get_profile("accurate")
    others = [create(n) for n in prof.recognizers if n != "person_model"]
    out = []
    for ds in DATASETS:
        with (bench_dir() / ds / "dev.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                text = doc["text"]
                gold = [(g["start"], g["end"]) for g in doc["spans"] if g["label"] == "PERSON"]
                tokens = tokenize(text)
                info = lexicon_info(tokens)
                tags = rule_tags(text, tokens, rules)
                style = genre(text)
                case = doc_case(tokens)
                exs: list[Example] = []
                cand: list[int] = []
                for i, tok in enumerate(tokens):
                    if not candidate(tok.text, info[i][0]):
                        continue
                    inside = any(s < tok.end and tok.start < e for s, e in gold)
                    feats = features(tokens, i, info, tags, style, case)
                    exs.append((feats, 1 if inside else -1, style))
                    cand.append(i)
                found = [
                    f
                    for r in others
                    for f in r.find(text)
                    if f.score >= prof.min_score and 0 <= f.start < f.end <= len(text)
                ]
                out.append(Doc(ds, doc["id"], doc, style, tokens, cand, exs, found))
    return out


def train(examples: list[Example], epochs: int, seed: int) -> dict[str, float]:
    """Averaged perceptron (binary)."""
    w: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    stamp: dict[str, int] = defaultdict(int)
    rng = random.Random(seed)
    order = list(range(len(examples)))
    c = 1
    for _ in range(epochs):
        rng.shuffle(order)
        for k in order:
            feats, y, _ = examples[k]
            if y * sum(w[f] for f in feats) <= 0:
                for f in feats:
                    total[f] += (c - stamp[f]) * w[f]
                    stamp[f] = c
                    w[f] += y
            c += 1
    return {f: (total[f] + (c - stamp[f]) * w[f]) / c for f in w}


def train_bag(examples: list[Example], epochs: int, seed: int, bag: int) -> dict[str, float]:
    """Mean weights of ``bag`` perceptrons trained with seeds ``seed .. seed + bag - 1``
    (a linear ensemble: less variance from the shuffling order)."""
    total: dict[str, float] = defaultdict(float)
    for b in range(bag):
        for f, v in train(examples, epochs, seed + b).items():
            total[f] += v / bag
    return dict(total)


def score(w: dict[str, float], feats: list[str]) -> float:
    return sum(w.get(f, 0.0) for f in feats)


def best_threshold(scored: list[tuple[float, int]], beta: float) -> tuple[float, float, float]:
    scored.sort(key=lambda x: -x[0])
    pos = sum(1 for _, y in scored if y > 0)
    tp = fp = 0
    best = (0.0, 0.0, 0.0, 0.0)  # fbeta, threshold, p, r
    for s, y in scored:
        if y > 0:
            tp += 1
        else:
            fp += 1
        p, r = tp / (tp + fp), tp / max(pos, 1)
        f = (1 + beta**2) * p * r / max(beta**2 * p + r, 1e-9)
        if f > best[0]:
            best = (f, s, p, r)
    return best[1] - 1e-6, best[2], best[3]


def fold(doc_id: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:4], "big") % k


def oof_scores(docs: list[Doc], k: int, epochs: int, seed: int, bag: int = 1) -> list[list[float]]:
    """Out-of-fold tagger score of every example of every document."""
    out: list[list[float]] = [[] for _ in docs]
    for part in range(k):
        tr = [ex for d in docs if fold(d.doc_id, k) != part for ex in d.examples]
        w = train_bag(tr, epochs, seed, bag)
        for n, d in enumerate(docs):
            if fold(d.doc_id, k) == part:
                out[n] = [score(w, feats) for feats, _, _ in d.examples]
    return out


def span_figures(
    docs: list[Doc], scores: list[list[float]], thr: dict[str, float], ev: ModuleType
) -> dict[str, tuple[float, float]]:
    """Overlap P / R per dataset of the accurate profile with these thresholds."""
    prof = get_profile("accurate")
    gold: dict[str, dict[str, Any]] = defaultdict(dict)
    pred: dict[str, dict[str, Any]] = defaultdict(dict)
    for d, sc in zip(docs, scores, strict=True):
        t = thr[d.style]
        marked = [(i, s - t) for i, s in zip(d.cand, sc, strict=True) if s > t]
        text = d.gold["text"]
        found = resolve_overlaps(d.others + list(join_marked(text, d.tokens, marked)))
        spans = [f.to_span() for f in found if prof.redacts(f)]
        gold[d.ds][d.doc_id] = d.gold
        pred[d.ds][d.doc_id] = {"id": d.doc_id, "spans": spans}
    out = {}
    for ds in gold:
        o = ev.evaluate(gold[ds], pred[ds], set(LABELS[ds].split(",")))["overlap"]["overall"]
        out[ds] = (o["precision"] or 0.0, o["recall"] or 0.0)
    return out


def show(name: str, figs: dict[str, tuple[float, float]]) -> str:
    return f"{name:<22}" + "  ".join(f"{ds} {p:.3f}/{r:.3f}" for ds, (p, r) in sorted(figs.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--beta", type=float, default=2.0, help="recall weight of the threshold")
    ap.add_argument("--social-min-precision", type=float, default=0.62)
    ap.add_argument("--cv", action="store_true", help="k-fold CV on dev only; write nothing")
    a = ap.parse_args(argv)
    docs = load_docs()
    ev = scorer()
    scores = oof_scores(docs, a.folds, a.epochs, a.seed)
    pooled: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for d, sc in zip(docs, scores, strict=True):
        for s, (_, y, _) in zip(sc, d.examples, strict=True):
            pooled[d.style].append((s, y))
            pooled["all"].append((s, y))
    base, _, _ = best_threshold(list(pooled["all"]), a.beta)
    # too few long documents in dev to tune their own threshold: they use the pooled one
    thr = {st: best_threshold(list(pooled[st]), a.beta)[0] for st in ("social", "short")}
    thr["long"] = base
    n_style = {st: sum(1 for d in docs if d.style == st) for st in STYLES}
    print(f"{a.folds}-fold CV on dev; documents per genre {n_style}")
    print(
        f"F{a.beta:g} token thresholds: pooled {base:.3f}, "
        + ", ".join(f"{st} {t:.3f}" for st, t in thr.items())
    )
    print(show("pooled threshold", span_figures(docs, scores, dict.fromkeys(STYLES, base), ev)))
    print(show("per-genre thresholds", span_figures(docs, scores, thr, ev)))
    # social: the lowest threshold whose out-of-fold wnut17 precision stays high enough
    best_social = thr["social"]
    for step in range(-12, 7):
        t = thr["social"] + step * 0.5
        figs = span_figures(docs, scores, {**thr, "social": t}, ev)
        print(show(f"social {t:+.2f}", figs))
        if figs["wnut17"][0] >= a.social_min_precision and t < best_social:
            best_social = t
    thr["social"] = best_social
    print(show("chosen", span_figures(docs, scores, thr, ev)))
    print("chosen thresholds: " + ", ".join(f"{st} {t:.3f}" for st, t in thr.items()))
    if a.cv:
        return 0
    w = train([ex for d in docs for ex in d.examples], a.epochs, a.seed)
    weights = {f: round(v, 4) for f, v in sorted(w.items()) if abs(v) >= 1e-3}
    payload = json.dumps(
        {
            "threshold": round(base, 4),
            "thresholds": {st: round(t, 4) for st, t in thr.items()},
            "epochs": a.epochs,
            "seed": a.seed,
            "weights": weights,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(gzip.compress(payload, mtime=0))
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB, {len(weights)} weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
