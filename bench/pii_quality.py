"""PII detection quality on ../shared/benchmarks/pii, every dataset and profile.

For each dataset split and profile, runs ``Analyzer(profile)`` on every document, keeps
the findings the profile REDACTS (what ``optin redact`` would output as spans), writes
them as benchmark JSONL to a temp dir and scores them with the benchmark's own
``score.py --json`` (overlap mode). Prints the issue's target table with measured figures,
then a per-profile detail table.

    python bench/pii_quality.py                # test split (report)
    python bench/pii_quality.py --split dev    # tune on dev only
    python bench/pii_quality.py --profiles default --datasets presidio_synth --split dev

shared/ is found at ``$OPTIN_SHARED`` or ``../shared`` relative to the repository root.
The Presidio column holds the anchors measured for the issue (Presidio 2.2 + spaCy
en_core_web_sm); a live Presidio run is added when ``presidio_analyzer`` is importable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from optin.privacy.detect import Analyzer  # noqa: E402
from optin.privacy.profiles import profile_names  # noqa: E402

CORE = "PERSON,HANDLE,EMAIL,PHONE,GOV_ID,URL,IP_ADDRESS,CREDIT_CARD,IBAN"
QUASI = CORE + ",LOCATION,DATE_TIME,ORG"
STRUCT = ("EMAIL", "URL", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "GOV_ID")
DATASETS = ("panorama_spia", "presidio_synth", "wnut17", "tab")
LABELS = {
    "panorama_spia": CORE,
    "presidio_synth": CORE,
    "wnut17": "PERSON",
    "tab": "PERSON",
}


def shared_dir() -> Path:
    env = os.environ.get("OPTIN_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "benchmarks/pii/score.py").exists():
        sys.exit(f"benchmark not found under {path} (set OPTIN_SHARED)")
    return path / "benchmarks/pii"


def predict(analyzer: Analyzer, gold: Path, out: Path) -> tuple[int, float]:
    nbytes = 0
    t0 = time.perf_counter()
    lines = []
    with gold.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            text = doc["text"]
            nbytes += len(text.encode("utf-8"))
            spans = [f.to_span() for f in analyzer.redactable(analyzer.analyze(text))]
            lines.append(json.dumps({"id": doc["id"], "spans": spans}))
    elapsed = time.perf_counter() - t0
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return nbytes, elapsed


def score(bench: Path, gold: Path, pred: Path, labels: str) -> dict[str, Any]:
    res = subprocess.run(
        [
            sys.executable,
            str(bench / "score.py"),
            str(gold),
            str(pred),
            "--json",
            "--labels",
            labels,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout)


def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("dev", "test"), default="test")
    ap.add_argument("--profiles", default=",".join(profile_names()))
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--keep", help="write predictions to this folder instead of a temp dir")
    a = ap.parse_args(argv)
    bench = shared_dir()
    profiles = [p for p in a.profiles.split(",") if p]
    datasets = [d for d in a.datasets.split(",") if d]
    results: dict[tuple[str, str, str], dict[str, Any]] = {}
    speed: dict[tuple[str, str], tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        outdir = Path(a.keep) if a.keep else Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        for prof in profiles:
            analyzer = Analyzer(prof)
            for ds in datasets:
                gold = bench / ds / f"{a.split}.jsonl"
                pred = outdir / f"{ds}.{a.split}.{prof}.jsonl"
                speed[(prof, ds)] = predict(analyzer, gold, pred)
                results[(prof, ds, "core")] = score(bench, gold, pred, LABELS[ds])
                if ds in ("panorama_spia", "presidio_synth", "tab"):
                    results[(prof, ds, "quasi")] = score(bench, gold, pred, QUASI)

    def ov(prof: str, ds: str, kind: str = "core", label: str | None = None) -> dict[str, Any]:
        r = results.get((prof, ds, kind))
        if r is None:
            return {}
        o = r["overlap"]
        return o["overall"] if label is None else o["per_label"].get(label, {})

    def leak(prof: str, ds: str, kind: str = "core") -> float | None:
        r = results.get((prof, ds, kind))
        return None if r is None else r["leak"]["overall"]["leak_rate"]

    print(f"\nPII quality, split={a.split}, overlap mode of score.py (>=50% coverage)\n")
    print("Target table (measured per profile; Presidio = issue anchors on test):")
    hdr = f"{'row':<44} {'Presidio':<22} {'target':<28} " + " ".join(f"{p:<22}" for p in profiles)
    print(hdr)
    print("-" * len(hdr))

    def row(name: str, presidio: str, target: str, cell: Any) -> None:
        print(
            f"{name:<44} {presidio:<22} {target:<28} "
            + " ".join(f"{cell(p):<22}" for p in profiles)
        )

    if "panorama_spia" in datasets:
        row(
            "panorama_spia core P / R / leak",
            "0.75 / 0.65 / 0.34",
            "P>=.80 R>=.90 leak<=.10",
            lambda p: (
                f"{fmt(ov(p, 'panorama_spia').get('precision'))} / "
                f"{fmt(ov(p, 'panorama_spia').get('recall'))} / {fmt(leak(p, 'panorama_spia'))}"
            ),
        )
    if "presidio_synth" in datasets:
        for lab in STRUCT:
            row(
                f"presidio_synth {lab} R",
                "0.97-1.00",
                "R>=.99",
                lambda p, lab=lab: fmt(ov(p, "presidio_synth", label=lab).get("recall")),
            )
        row("presidio_synth PHONE R", "0.76", "R>=.95",
            lambda p: fmt(ov(p, "presidio_synth", label="PHONE").get("recall")))  # fmt: skip
        row(
            "presidio_synth PERSON P / R",
            "0.87 / 0.81",
            "P>=.85 R>=.90",
            lambda p: (
                f"{fmt(ov(p, 'presidio_synth', label='PERSON').get('precision'))} / "
                f"{fmt(ov(p, 'presidio_synth', label='PERSON').get('recall'))}"
            ),
        )
    if "wnut17" in datasets:
        row(
            "wnut17 PERSON P / R",
            "0.42 / 0.57",
            "P>=.50 R>=.70 (any profile)",
            lambda p: (
                f"{fmt(ov(p, 'wnut17').get('precision'))} / {fmt(ov(p, 'wnut17').get('recall'))}"
            ),
        )
    if "tab" in datasets:
        row(
            "tab PERSON P / R",
            "0.67 / 0.94",
            "R>=.94",
            lambda p: f"{fmt(ov(p, 'tab').get('precision'))} / {fmt(ov(p, 'tab').get('recall'))}",
        )

    print(
        "\nDetail: overlap P / R / leak per dataset (core labels; quasi = + LOCATION,DATE_TIME,ORG)"
    )
    for prof in profiles:
        for ds in datasets:
            for kind in ("core", "quasi"):
                if (prof, ds, kind) not in results:
                    continue
                o = ov(prof, ds, kind)
                nbytes, secs = speed[(prof, ds)]
                print(
                    f"  {prof:<9} {ds:<15} {kind:<6} P {fmt(o.get('precision'))} "
                    f"R {fmt(o.get('recall'))} leak {fmt(leak(prof, ds, kind))}   "
                    f"({nbytes / 1e6 / secs:.2f} MB/s incl. JSON)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
