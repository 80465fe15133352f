"""PII redaction speed: MB/s, docs/s and peak RSS per profile, one core.

The corpus concatenates the dev+test texts of every dataset under
``../shared/benchmarks/pii`` (panorama_spia, presidio_synth, tab, wnut17), repeated until
it holds at least ``--mb`` MB of UTF-8 text. Each profile runs in a fresh subprocess so
its peak RSS (``resource.getrusage``) is its own. Rates are per CPU-second of the worker
(``time.process_time``), i.e. per core, unaffected by other load on the machine; the baseline RSS (interpreter + corpus,
before the analyzer is built) is printed too. Every worker times the analyzer alone,
analyze + anonymize (``Redactor.redact``), and anonymize alone over precomputed
findings (the operator's own cost). Presidio and
scrubadub are timed too when they happen to be installed (never required).

That corpus repeats every text, so per-text caches (word lookups, phone validation) are
warm after the first round: a steady-state figure. ``--corpus novel`` measures what a
snapshot build sees instead: every text exactly once, in a fresh process, caches cold.
Its texts are ``--posts`` demo posts (``optin.demo``'s composer, seeded, the PII-dense
posts optin exists for) followed by every benchmark document once; it times
``Redactor.redact`` in one pass and prints a digest of every finding, so two runs (for
example ``--compare-src`` of an older checkout's ``src``) show whether the findings are
identical, not just the speed.

    .venv/bin/python bench/pii_speed.py                 # default: 20 MB, all profiles
    .venv/bin/python bench/pii_speed.py --mb 2 --profiles default
    .venv/bin/python bench/pii_speed.py --corpus novel --profiles default
    .venv/bin/python bench/pii_speed.py --corpus novel --profiles default \
        --compare-src /tmp/optin-before/src           # before/after in one run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(
    os.environ.get("OPTIN_PII_BENCH", Path(__file__).resolve().parents[2] / "shared/benchmarks/pii")
)
DATASETS = ("panorama_spia", "presidio_synth", "tab", "wnut17")


def corpus(min_mb: float) -> list[str]:
    base: list[str] = []
    for ds in DATASETS:
        for split in ("dev", "test"):
            with open(DATA / ds / f"{split}.jsonl", encoding="utf-8") as f:
                base += [json.loads(line)["text"] for line in f if line.strip()]
    size = sum(len(t.encode()) for t in base)
    reps = max(1, -(-int(min_mb * 1e6) // size))
    return base * reps  # the same string objects: RSS stays the detector's, not the corpus's


def demo_posts(n: int, seed: int = 0, members: int = 2000) -> list[str]:
    """``n`` demo posts, each drawn once (the demo's members, templates and PII fakes)."""
    import random
    from datetime import UTC, datetime, timedelta

    from optin.demo.countries import BY_CODE
    from optin.demo.people import Timeline, make_member
    from optin.demo.text import compose

    now = datetime(2026, 6, 1, tzinfo=UTC)
    tl = Timeline(
        start=now - timedelta(days=3 * 365),
        now=now,
        consent_from=now - timedelta(days=400),
        v2_effective=now - timedelta(days=100),
    )
    rng = random.Random(seed)
    taken: set[str] = set()
    ms = [make_member(i + 1, rng, tl, taken) for i in range(members)]
    people = [m.person for m in ms]
    out: list[str] = []
    for _ in range(n):
        m = ms[int(len(ms) * rng.random() ** 1.7)]
        country = BY_CODE[m.countries[0][1]]
        lang = country.language if rng.random() < country.lang_share else "en"
        text, _spans = compose(
            "post", lang, rng, m.person, lambda: people[rng.randrange(len(people))]
        )
        out.append(text)
    return out


def novel_corpus(posts: int, seed: int, split: str = "both") -> dict[str, list[str]]:
    """Every text once: demo posts, then every benchmark document of ``split`` ("dev",
    "test" or "both": dev + test)."""
    docs: list[str] = []
    for ds in DATASETS:
        for part in ("dev", "test") if split == "both" else (split,):
            with open(DATA / ds / f"{part}.jsonl", encoding="utf-8") as f:
                docs += [json.loads(line)["text"] for line in f if line.strip()]
    name = "benchmark docs" if split == "both" else f"benchmark docs ({split})"
    return {"demo posts": demo_posts(posts, seed), name: docs}


# one compiled ``re`` alternation (e-mail, URL, phone-like digit runs), one pass per text:
# the floor of any regex-based redactor, for scale
ONE_RE = (
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
    r"|(?:https?://|www\.)[^\s<>\"']+"
    r"|\+?\d[\d \-().]{6,}\d"
)


def one_re_worker(posts: int, seed: int, split: str) -> dict[str, object]:
    import re

    corp = novel_corpus(posts, seed, split)
    pattern = re.compile(ONE_RE)
    parts = []
    for name, texts in corp.items():
        mb = sum(len(t.encode()) for t in texts) / 1e6
        t0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            pattern.sub("[X]", t)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        parts.append({"corpus": name, "docs": len(texts), "mb": mb, "cpu_s": cpu,
                      "wall_s": wall, "mb_s": mb / cpu, "docs_s": len(texts) / cpu,
                      "findings": "-"})  # fmt: skip
    return {"engine": "one re pass", "profile": "-", "parts": parts, "build_cpu_s": 0.0,
            "peak_rss_mb": rss_mb()}  # fmt: skip


def presidio_novel_worker(posts: int, seed: int, split: str) -> dict[str, object]:
    from presidio_analyzer import AnalyzerEngine  # type: ignore[import-not-found]
    from presidio_anonymizer import AnonymizerEngine  # type: ignore[import-not-found]

    corp = novel_corpus(posts, seed, split)
    t0 = time.process_time()
    analyzer, anonymizer = AnalyzerEngine(), AnonymizerEngine()
    build = time.process_time() - t0
    parts = []
    for name, texts in corp.items():
        mb = sum(len(t.encode()) for t in texts) / 1e6
        t0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            anonymizer.anonymize(t, analyzer.analyze(t, language="en"))
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        parts.append({"corpus": name, "docs": len(texts), "mb": mb, "cpu_s": cpu,
                      "wall_s": wall, "mb_s": mb / cpu, "docs_s": len(texts) / cpu,
                      "findings": "-"})  # fmt: skip
    return {"engine": "presidio", "profile": "-", "parts": parts, "build_cpu_s": build,
            "peak_rss_mb": rss_mb()}  # fmt: skip


def cli_rows(profile: str, posts: int, seed: int, split: str) -> dict[str, object]:
    """``optin redact`` end to end (a fresh process per corpus part: start-up, JSONL in
    and out included), CPU of the child process."""
    import tempfile

    corp = novel_corpus(posts, seed, split)
    exe = Path(sys.executable).with_name("optin")
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, texts) in enumerate(corp.items()):
            src, dst = Path(tmp) / f"in{k}.jsonl", Path(tmp) / f"out{k}.jsonl"
            with src.open("w", encoding="utf-8") as f:
                for i, t in enumerate(texts):
                    f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
            mb = sum(len(t.encode()) for t in texts) / 1e6
            cmd = [str(exe), "redact", "-i", str(src), "-o", str(dst), "-p", profile,
                   "--no-progress", "--drop-density", "1"]  # fmt: skip
            env = {**os.environ, "OPTIN_HOME": str(Path(tmp) / "home")}
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            w0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            wall = time.perf_counter() - w0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            digest = hashlib.sha256()
            with dst.open(encoding="utf-8") as f:
                for line in f:
                    spans = json.loads(line)["spans"]
                    digest.update(
                        repr([(s["start"], s["end"], s["label"]) for s in spans]).encode()
                    )
            parts.append({"corpus": name, "docs": len(texts), "mb": mb, "cpu_s": cpu,
                          "wall_s": wall, "mb_s": mb / cpu, "docs_s": len(texts) / cpu,
                          "findings": digest.hexdigest()[:12]})  # fmt: skip
    return {"engine": "optin redact (CLI)", "profile": profile, "parts": parts,
            "build_cpu_s": float("nan"), "peak_rss_mb": float("nan")}  # fmt: skip


def novel_worker(
    profile: str, operator: str, posts: int, seed: int, split: str = "both"
) -> dict[str, object]:
    corp = novel_corpus(posts, seed, split)
    base_rss = rss_mb()
    from optin.privacy.api import Redactor, RedactorConfig

    t0, w0 = time.process_time(), time.perf_counter()
    cfg = RedactorConfig(
        profile=profile, operator=operator, key=b"bench-key-0123456789", drop_density=None
    )
    redactor = Redactor(cfg)
    out: dict[str, object] = {"engine": "optin", "profile": profile}
    out["build_cpu_s"] = time.process_time() - t0
    out["build_wall_s"] = time.perf_counter() - w0
    parts = []
    for name, texts in corp.items():
        mb = sum(len(t.encode()) for t in texts) / 1e6
        digest = hashlib.sha256()
        t0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            r = redactor.redact(t)
            digest.update(repr([(f.start, f.end, str(f.label)) for f in r.applied]).encode())
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        parts.append(
            {"corpus": name, "docs": len(texts), "mb": mb, "cpu_s": cpu, "wall_s": wall,
             "mb_s": mb / cpu, "docs_s": len(texts) / cpu, "findings": digest.hexdigest()[:12]}
        )  # fmt: skip
    out.update(parts=parts, base_rss_mb=base_rss, peak_rss_mb=rss_mb())
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _timed(fn, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of this process (one core), so a busy machine does not skew the rate."""
    t0 = time.process_time()
    for t in texts:
        fn(t)
    return time.process_time() - t0


def worker(engine: str, profile: str, operator: str, min_mb: float) -> dict[str, object]:
    texts = corpus(min_mb)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    base_rss = rss_mb()
    out: dict[str, object] = {"engine": engine, "profile": profile, "docs": len(texts), "mb": mb}
    if engine == "optin":
        from optin.privacy.api import Redactor, RedactorConfig

        t0 = time.process_time()
        cfg = RedactorConfig(
            profile=profile, operator=operator, key=b"bench-key-0123456789", drop_density=None
        )
        redactor = Redactor(cfg)
        redactor.redact("warm up Jane Doe jane@example.com")
        out["build_s"] = time.process_time() - t0
        analyze_s = _timed(redactor.analyze, texts)
        full_s = _timed(redactor.redact, texts)
        from optin.privacy.anonymize import anonymize

        found = {t: redactor.analyze(t) for t in dict.fromkeys(texts)}
        anon_s = _timed(lambda t: anonymize(t, found[t], redactor.policy), texts)
        out["anonymize_only_mb_s"] = mb / anon_s
    elif engine == "presidio":
        from presidio_analyzer import AnalyzerEngine  # type: ignore[import-not-found]
        from presidio_anonymizer import AnonymizerEngine  # type: ignore[import-not-found]

        analyzer, anonymizer = AnalyzerEngine(), AnonymizerEngine()
        analyze_s = _timed(lambda t: analyzer.analyze(t, language="en"), texts)
        full_s = _timed(
            lambda t: anonymizer.anonymize(t, analyzer.analyze(t, language="en")), texts
        )
    elif engine == "scrubadub":
        import scrubadub  # type: ignore[import-not-found]

        scrubber = scrubadub.Scrubber()
        analyze_s = _timed(lambda t: list(scrubber.iter_filth(t)), texts)
        full_s = _timed(scrubber.clean, texts)
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    out.update(
        analyze_mb_s=mb / analyze_s,
        full_mb_s=mb / full_s,
        full_docs_s=len(texts) / full_s,
        anonymize_share=max(0.0, (full_s - analyze_s) / full_s),
        base_rss_mb=base_rss,
        peak_rss_mb=rss_mb(),
    )
    return out


def run_one(
    engine: str, profile: str, operator: str, min_mb: float, extra: tuple[str, ...] = (),
    src: str | None = None,
) -> dict[str, object] | None:  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", engine, "--profiles", profile,
           "--operator", operator, "--mb", str(min_mb), *extra]  # fmt: skip
    env = dict(os.environ)
    if src is not None:  # import optin from another checkout's src (before/after)
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"# {engine}/{profile} failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def importable(module: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=float, default=20.0, help="minimum corpus size in MB")
    from optin.privacy.profiles import profile_names

    ap.add_argument("--profiles", default=",".join(profile_names()))
    ap.add_argument("--operator", default="mask")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument(
        "--corpus", choices=("repeated", "novel"), default="repeated",
        help="repeated: the benchmark texts repeated to --mb (steady state); novel: every "
        "text once (demo posts + benchmark docs), caches cold",
    )  # fmt: skip
    ap.add_argument("--posts", type=int, default=20000, help="novel: demo posts to draw")
    ap.add_argument("--seed", type=int, default=0, help="novel: seed of the demo posts")
    ap.add_argument(
        "--repeat", type=int, default=1,
        help="novel: fresh processes per code, alternating; the fastest is shown",
    )  # fmt: skip
    ap.add_argument(
        "--compare-src", default=None,
        help="novel: also run each profile with optin imported from this src folder "
        "(an older checkout), first, in the same run",
    )  # fmt: skip
    ap.add_argument(
        "--split", choices=("dev", "test", "both"), default="both",
        help="novel: which split of the benchmark documents (test for reports, dev to "
        "develop on)",
    )  # fmt: skip
    ap.add_argument(
        "--others", action="store_true",
        help="novel: also time one compiled re pass, Presidio when installed, and the "
        "CLI (optin redact, end to end) of this checkout on the same texts",
    )  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.corpus == "novel" and args.worker == "one-re":
            row = one_re_worker(args.posts, args.seed, args.split)
        elif args.corpus == "novel" and args.worker == "presidio":
            row = presidio_novel_worker(args.posts, args.seed, args.split)
        elif args.corpus == "novel":
            row = novel_worker(args.profiles, args.operator, args.posts, args.seed, args.split)
        else:
            row = worker(args.worker, args.profiles, args.operator, args.mb)
        print(json.dumps(row))
        return
    if args.corpus == "novel":
        main_novel(args)
        return
    jobs = [("optin", p) for p in args.profiles.split(",")]
    for engine, module in (("presidio", "presidio_analyzer"), ("scrubadub", "scrubadub")):
        if importable(module):
            jobs.append((engine, "-"))
    rows = [r for e, p in jobs if (r := run_one(e, p, args.operator, args.mb))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"corpus: {rows[0]['mb']:.1f} MB, {rows[0]['docs']} docs" if rows else "no results")
    print(f"operator: {args.operator}; one process; rates per CPU-second (one core)\n")
    head = ("engine", "profile", "analyze MB/s", "redact MB/s", "redact docs/s",
            "anonymize-only MB/s", "build s", "base RSS MB", "peak RSS MB")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['profile']} | {r['analyze_mb_s']:.2f} | {r['full_mb_s']:.2f} "
            f"| {r['full_docs_s']:.0f} | {r.get('anonymize_only_mb_s', float('nan')):.1f} | {r.get('build_s', 0):.2f} "
            f"| {r['base_rss_mb']:.0f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )


def _cpu(row: dict[str, object]) -> float:
    parts: list[dict[str, float]] = row["parts"]  # type: ignore[assignment]
    return sum(float(p["cpu_s"]) for p in parts)


def main_novel(args: argparse.Namespace) -> None:
    extra = ("--corpus", "novel", "--posts", str(args.posts), "--seed", str(args.seed),
             "--split", args.split)  # fmt: skip
    load0 = os.getloadavg()
    rows: list[tuple[str, dict[str, object]]] = []
    for profile in args.profiles.split(","):
        sources = [("before", args.compare_src)] if args.compare_src else []
        best: dict[str, dict[str, object]] = {}
        for _ in range(args.repeat):  # alternate the codes; keep each one's fastest run
            for label, src in [*sources, ("this checkout", None)]:
                r = run_one("optin", profile, args.operator, 0, extra, src)
                if r is not None and (label not in best or _cpu(r) < _cpu(best[label])):
                    best[label] = r
        rows += [(label, best[label]) for label, _ in [*sources, ("this checkout", None)]
                 if label in best]  # fmt: skip
        if args.others:
            cli = min((cli_rows(profile, args.posts, args.seed, args.split)
                       for _ in range(args.repeat)), key=_cpu)  # fmt: skip
            rows.append(("this checkout, CLI", cli))
    if args.others:
        one = run_one("one-re", "-", args.operator, 0, extra)
        if one is not None:
            rows.append(("one compiled re pass", one))
        if importable("presidio_analyzer"):
            pres = run_one("presidio", "-", args.operator, 0, extra)
            if pres is not None:
                rows.append(("Presidio", pres))
        else:
            print("# Presidio: presidio_analyzer is not installed; no Presidio row")
    load1 = os.getloadavg()
    if args.json:
        print(json.dumps([{"code": c, **r} for c, r in rows], indent=2))
        return
    print(
        f"novel text: each text once, fresh process per run; operator {args.operator}; "
        f"best of {args.repeat} alternating run(s) per code"
    )
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} ({os.cpu_count()} CPUs); "
          "MB/s per CPU-second of the worker (one core), wall seconds shown too\n")  # fmt: skip
    head = ("code", "profile", "corpus", "docs", "MB", "MB/s (CPU)", "docs/s", "CPU s",
            "wall s", "build s", "peak RSS MB", "findings digest")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for code, r in rows:
        for p in r["parts"]:  # type: ignore[attr-defined]
            print(
                f"| {code} | {r['profile']} | {p['corpus']} | {p['docs']} | {p['mb']:.2f} "
                f"| {p['mb_s']:.2f} | {p['docs_s']:.0f} | {p['cpu_s']:.2f} | {p['wall_s']:.2f} "
                f"| {r['build_cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {p['findings']} |"
            )


if __name__ == "__main__":
    main()
