"""Train the person-name tagger of the ``accurate`` profile (development time only).

Averaged perceptron over the features of :mod:`optin.privacy.detect.tagger`, trained on
the PERSON spans of the DEV splits of ../shared/benchmarks/pii (tab, wnut17,
presidio_synth, panorama_spia); test splits are never read. Deterministic for a seed.

    .venv/bin/python bench/train_name_tagger.py --cv      # 2-fold CV on dev: pick threshold
    .venv/bin/python bench/train_name_tagger.py           # train on all dev, write the model

Writes ``src/optin/privacy/data/name_tagger.json.gz`` (atomically), with the threshold
chosen by cross-validation (best F-beta, beta = ``--beta``, on pooled dev tokens).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from optin.privacy.detect.recognizers.person_model import default_rules, rule_tags  # noqa: E402
from optin.privacy.detect.tagger import (  # noqa: E402
    MODEL_FILE,
    candidate,
    features,
    genre,
    lexicon_info,
    tokenize,
)

DATASETS = ("tab", "wnut17", "presidio_synth", "panorama_spia")
OUT = ROOT / "src/optin/privacy/data" / MODEL_FILE

Example = tuple[list[str], int, str]  # features, label (+1/-1), dataset


def bench_dir() -> Path:
    env = os.environ.get("OPTIN_SHARED")
    path = (Path(env) if env else ROOT.parent / "shared") / "benchmarks/pii"
    if not (path / "score.py").exists():
        sys.exit(f"benchmark not found under {path} (set OPTIN_SHARED)")
    return path


def load_docs() -> list[tuple[str, str, list[list[Example]]]]:
    """(dataset, doc id, examples) for every dev document."""
    rules = default_rules()
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
                exs: list[Example] = []
                for i, tok in enumerate(tokens):
                    if not candidate(tok.text, info[i][0]):
                        continue
                    inside = any(s < tok.end and tok.start < e for s, e in gold)
                    feats = features(tokens, i, info, tags, style)
                    exs.append((feats, 1 if inside else -1, ds))
                out.append((ds, doc["id"], [exs]))
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


def fold(doc_id: str) -> int:
    return hashlib.sha256(doc_id.encode()).digest()[0] % 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--beta", type=float, default=2.0, help="recall weight of the threshold")
    ap.add_argument("--cv", action="store_true", help="2-fold CV on dev only; write nothing")
    a = ap.parse_args(argv)
    docs = load_docs()
    # threshold by 2-fold cross-validation on dev (pooled out-of-fold scores)
    scored: list[tuple[float, int]] = []
    per_ds: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for k in (0, 1):
        tr = [ex for _, did, (exs,) in docs if fold(did) != k for ex in exs]
        w = train(tr, a.epochs, a.seed)
        for ds, did, (exs,) in docs:
            if fold(did) == k:
                for feats, y, _ in exs:
                    scored.append((score(w, feats), y))
                    per_ds[ds].append((score(w, feats), y))
    thr, p, r = best_threshold(list(scored), a.beta)
    print(f"2-fold CV on dev, pooled tokens: threshold {thr:.3f}  token P {p:.3f} R {r:.3f}")
    for ds, sc in sorted(per_ds.items()):
        tp = sum(1 for s, y in sc if s > thr and y > 0)
        fp = sum(1 for s, y in sc if s > thr and y < 0)
        pos = sum(1 for _, y in sc if y > 0)
        print(f"  {ds:<15} token P {tp / max(tp + fp, 1):.3f} R {tp / max(pos, 1):.3f}")
    if a.cv:
        return 0
    w = train([ex for _, _, (exs,) in docs for ex in exs], a.epochs, a.seed)
    weights = {f: round(v, 4) for f, v in sorted(w.items()) if abs(v) >= 1e-3}
    payload = json.dumps(
        {"threshold": round(thr, 4), "epochs": a.epochs, "seed": a.seed, "weights": weights},
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
