"""A build worker's directory load: the members' JSONL vs the compiled directory.

Every snapshot-build worker process loads the members' directory (display names,
handles, profile URLs) to redact mentions of members (issue 15: a build's fixed cost).
This bench generates ``--members`` members (the demo's name lists of ~20 cultures; 40 %
of the Japanese and Chinese members written in their own script, middle names,
initials, hyphenated surnames, one-word names; handles in the demo's styles, some with
digits or ``_``, some plain first names that do not count bare) and ``--erased`` of them
erased (keyed-hash markers, :func:`optin.privacy.detect.erasure_marker`), writes the
JSONL exactly as the build's driver does (``optin.services.snapshots._write_directory``),
compiles it (:func:`optin.privacy.detect.compile_directory`, once per build, on one
worker) and loads it in fresh processes:

* ``load JSONL``: ``Directory.from_jsonl`` (what every worker did);
* ``load compiled``: ``Directory.from_compiled`` (what every worker does now; it checks
  the compiled file's SHA-256 and the source JSONL's digest, both included);
* with ``--compare-src SRC``: ``Directory.from_jsonl`` of another checkout's ``src``
  (the code before a change), in the same run.

Each process imports what a worker has imported anyway (pyarrow, the detectors, the
name lexicon) before the clock starts; it prints the CPU seconds (``time.process_time``,
honest on a shared machine) and wall seconds of the load, its RSS before and its peak
RSS after (``VmHWM``), then runs ``Directory.find`` over ``--texts`` generated texts
that mention members (full names as written, lower-cased, first + last of longer names,
"Dr. Surname", @handles, bare handles, profile URLs, CJK names alone and inside CJK
runs, erased members, near misses) and prints a digest of every finding: the digests
must be equal (the bench exits 1 when they are not).

    .venv/bin/python bench/directory_load.py                       # 1M members
    .venv/bin/python bench/directory_load.py --members 100000 --texts 2000
    git archive HEAD src | tar -x -C /tmp/optin-before             # the code before
    .venv/bin/python bench/directory_load.py --compare-src /tmp/optin-before/src
    .venv/bin/python bench/directory_load.py --members 200000 --profile   # where it goes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEY = bytes(range(32))  # the bench's directory key (erased members' keyed hashes)


def rss_mb() -> float:
    """Peak RSS of this process: ``VmHWM`` (Linux; reset by exec, unlike ``ru_maxrss``,
    which a child inherits from the parent that forked it), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- members ---------------------------------------------------------------------------


def members(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (display name, handle) pairs, handles unique."""
    from optin.demo.people import names
    from optin.demo.pii import ascii_fold

    def slug(s: str) -> str:
        return "".join(ch for ch in ascii_fold(s).lower() if ch.isalnum())

    rng = random.Random(seed)
    table = names()
    cultures = sorted(table)
    taken: set[str] = set()
    out: list[tuple[str, str]] = []
    for _ in range(n):
        culture = rng.choice(cultures)
        ns = table[culture]
        first, last = rng.choice(ns["first"]), rng.choice(ns["last"])
        natives = ns.get("native")
        r = rng.random()
        if natives and r < 0.4:  # written in the native script
            nf, nl = rng.choice(natives)
            display = f"{nl}{nf}" if culture in ("jp", "cn") else f"{nf} {nl}"
        elif r < 0.52:
            display = f"{first} {rng.choice(ns['first'])} {last}"  # middle name
        elif r < 0.57:
            display = f"{first} {rng.choice(ns['first'])[0]}. {last}"  # initial
        elif r < 0.60:
            display = f"{first} {last}-{rng.choice(ns['last'])}"  # double-barrelled
        elif r < 0.62:
            display = rng.choice((first, last))  # one word
        else:
            display = f"{first} {last}"
        f, la = slug(first) or "member", slug(last) or "x"
        style = rng.randrange(6)
        base = (f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la[:4]}", f"{la}{f[:3]}", f, f"{f}{la}")[style][
            :30
        ]
        h = base
        while h in taken:
            h = f"{base}{rng.randrange(2, 9999)}"
        taken.add(h)
        out.append((display, h))
    return out


def write_directory(path: Path, rows: list[tuple[str, str]], erased: list[dict[str, Any]]) -> None:
    """The JSONL exactly as ``_write_directory`` writes it (members, then markers)."""
    quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for name, handle in rows:
            if name and name.strip() and handle:
                out.write(f'{{"display_name": {quote(name)}, "handle": {quote(handle)}}}\n')
        for m in erased:
            out.write(json.dumps({"erased": m}, sort_keys=True) + "\n")
        if not rows and not erased:
            out.write("\n")


#: how a text mentions a member (``fl``: first + last word; ``cjk``: a CJK member's name)
MENTIONS = (
    "Thanks {name}!",
    "i met {lower} yesterday",
    "{fl} wrote this, {upper} said",
    "ask Dr. {last} about it",
    "ping @{handle} please",
    "cc {handle}, {handle}.",
    "profile https://example.social/in/{handle}/ and example.social/@{handle}",
    "mail {handle}@example.com or #{first}",
    "({name}) {name}'s post, {name}.jr",
    "my {handle}-ish idea, {handle}_x, x{handle}",
    "今天{cjk}说了 and {cjk} and {cjk}先生",
    "{first}.{last} {first}\n{last} {first}  {last}",
    "Mr {last}, ms. {lastl}, Prof.{last}",
    "https://www.example.social/u/{handle}?tab=posts www.example.social/{handle}",
    "the admin panel {first}",
    "Grace under pressure, a rose by any name {first}",
)


def texts(rows: list[tuple[str, str]], gone: list[tuple[str, str]], n: int, seed: int) -> list[str]:
    """``n`` texts mentioning members (alive and erased) in many ways, with near misses."""
    rng = random.Random(seed + 1)
    cjk = [r[0] for r in rows if not r[0].isascii()] or ["山本"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randrange(1, 5)):
            pool = gone if gone and rng.random() < 0.2 else rows
            name, handle = pool[rng.randrange(len(pool))]
            toks = name.split()
            fields = {"name": name, "lower": name.lower(), "upper": name.upper(),
                      "handle": handle, "first": toks[0], "last": toks[-1],
                      "lastl": toks[-1].lower(), "fl": f"{toks[0]} {toks[-1]}",
                      "cjk": rng.choice(cjk).replace(" ", "")}  # fmt: skip
            parts.append(rng.choice(MENTIONS).format(**fields))
        out.append(" ".join(parts))
    return out


# -- one process: one load -------------------------------------------------------------


def child(mode: str, work: Path, profile: bool) -> dict[str, Any]:
    import pyarrow  # noqa: F401  - a worker has it imported already

    from optin.privacy.detect import Directory, lexicon

    lexicon.names()  # the analyzer's recognizers load it in every worker anyway
    meta = json.loads((work / "meta.json").read_text())
    corpus = json.loads((work / "texts.json").read_text())
    key = bytes.fromhex(meta["key"])
    jsonl, compiled = work / "directory.jsonl", work / "directory.arrow"
    base = rss_mb()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0, w0 = time.process_time(), time.perf_counter()
    if mode == "compile":
        from optin.privacy.detect import compile_directory

        sha = compile_directory(jsonl, compiled)
        meta["sha256"] = sha
        (work / "meta.json").write_text(json.dumps(meta))
        d = None
    elif mode == "compiled":
        d = Directory.from_compiled(compiled, jsonl, sha256=meta["sha256"], erased_key=key)
    else:
        d = Directory.from_jsonl(jsonl, erased_key=key)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    peak = rss_mb()
    row: dict[str, Any] = {"cpu_s": cpu, "wall_s": wall, "base_rss_mb": base, "peak_rss_mb": peak}
    if prof is not None:
        import io
        import pstats

        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        row["profile"] = buf.getvalue()
    if d is not None:
        digest = hashlib.sha256()
        found = 0
        t0 = time.process_time()
        for t in corpus:
            fs = [(f.start, f.end, str(f.label), f.score, f.recognizer, f.explanation)
                  for f in d.find(t)]  # fmt: skip
            found += len(fs)
            digest.update(repr(fs).encode())
        row.update(find_cpu_s=time.process_time() - t0, findings=found,
                   digest=digest.hexdigest()[:16], size=len(d))  # fmt: skip
    return row


def run_child(mode: str, work: Path, src: str | None, profile: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--work", str(work)]
    if profile:
        cmd.append("--profile")
    env = dict(os.environ)
    if src is not None:  # import optin from another checkout's src (before/after)
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare(work: Path, n: int, erased_share: float, n_texts: int, seed: int) -> dict[str, Any]:
    from optin.privacy.detect import DirectoryEntry, erasure_marker

    t0 = time.perf_counter()
    rows = members(n, seed)
    rng = random.Random(seed + 2)
    k = int(n * erased_share)
    gone_at = set(rng.sample(range(n), k)) if k else set()
    gone = [r for i, r in enumerate(rows) if i in gone_at]
    alive = [r for i, r in enumerate(rows) if i not in gone_at]
    markers = [erasure_marker(DirectoryEntry(name, h), KEY) for name, h in gone]
    write_directory(work / "directory.jsonl", alive, markers)
    (work / "texts.json").write_text(json.dumps(texts(alive, gone, n_texts, seed)))
    meta = {"key": KEY.hex(), "members": n, "erased": k, "texts": n_texts}
    (work / "meta.json").write_text(json.dumps(meta))
    meta["generate_s"] = time.perf_counter() - t0
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--erased", type=float, default=0.001, help="share of members erased")
    ap.add_argument("--texts", type=int, default=3000, help="texts whose findings are compared")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--compare-src", default=None,
        help="also load the JSONL with optin imported from this src folder (an older "
        "checkout), in the same run",
    )  # fmt: skip
    ap.add_argument(
        "--repeat", type=int, default=1,
        help="fresh processes per load, alternating; the least CPU is shown",
    )  # fmt: skip
    ap.add_argument("--profile", action="store_true", help="cProfile the JSONL load(s)")
    ap.add_argument("--keep", default=None, help="keep (or reuse) the generated files here")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.work), args.profile)))
        return
    tmp = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="optin-dirload-")
        work = Path(tmp)
    try:
        main_run(args, work)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main_run(args: argparse.Namespace, work: Path) -> None:
    load0 = os.getloadavg()
    meta_path = work / "meta.json"
    reuse = meta_path.exists() and json.loads(meta_path.read_text()).get("members") == args.members
    meta = json.loads(meta_path.read_text()) if reuse else prepare(
        work, args.members, args.erased, args.texts, args.seed
    )  # fmt: skip
    compile_row = run_child("compile", work, None)
    loads: list[tuple[str, str, str | None]] = []
    if args.compare_src:
        loads.append(("load JSONL", "before", args.compare_src))
    loads += [("load JSONL", "this checkout", None), ("load compiled", "this checkout", None)]
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(args.repeat):
        for step, code, src in loads:
            r = run_child(step.split()[1].lower(), work, src, args.profile and "JSONL" in step)
            if (step, code) not in best or r["cpu_s"] < best[step, code]["cpu_s"]:
                best[step, code] = r
    rows = [("compile (one worker, once)", "this checkout", compile_row)]
    rows += [(s, c, best[s, c]) for s, c, _ in loads]
    load1 = os.getloadavg()
    digests = {r["digest"] for _, _, r in rows if "digest" in r}
    if args.json:
        print(json.dumps([{"step": s, "code": c, **r} for s, c, r in rows], indent=2))
    else:
        jsonl_mb = (work / "directory.jsonl").stat().st_size / 1e6
        arrow_mb = (work / "directory.arrow").stat().st_size / 1e6
        print(
            f"directory load: {meta['members']:,} members ({meta['erased']:,} erased), "
            f"JSONL {jsonl_mb:.1f} MB, compiled {arrow_mb:.1f} MB; findings over "
            f"{meta['texts']:,} texts; fresh process per row, least CPU of {args.repeat}"
        )
        print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} ({os.cpu_count()} CPUs)\n")
        head = ("step", "code", "CPU s", "wall s", "RSS before MB", "peak RSS MB",
                "RSS growth MB", "find CPU s", "findings", "digest")  # fmt: skip
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for step, code, r in rows:
            find = f"{r['find_cpu_s']:.2f}" if "find_cpu_s" in r else "-"
            print(
                f"| {step} | {code} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} "
                f"| {r['base_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} "
                f"| {r['peak_rss_mb'] - r['base_rss_mb']:.0f} | {find} "
                f"| {r.get('findings', '-')} | {r.get('digest', '-')} |"
            )
        for step, code, r in rows:
            if "profile" in r:
                print(f"\n## cProfile: {step}, {code}\n{r['profile']}")
        print(f"\nfindings identical: {'yes' if len(digests) == 1 else 'NO'}")
    if len(digests) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
