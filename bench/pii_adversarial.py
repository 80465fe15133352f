"""Redaction time per MB on adversarial inputs, at two sizes (linear time shows as a
flat s/MB column). Prints wall and process CPU seconds; run on a quiet machine or say
the load.

    .venv/bin/python bench/pii_adversarial.py            # 0.1 and 0.4 MB per input
    .venv/bin/python bench/pii_adversarial.py --mb 1
"""

from __future__ import annotations

import argparse
import os
import time

from optin.privacy.api import Redactor, RedactorConfig

PATTERNS = {
    "x@ repeated": "x@",
    "digits and letters": "1x",
    "dotted digits": "1.",
    "a.b@ repeated": "a.b@",
    "capitalised words": "Ab ",
    "zero-width inside x@": "\u200bx@",
    "Cyrillic a + @": "а@x",
    "NBSP inside x@": "\u00a0x@",
    "fullwidth x＠": "ｘ＠",
    "NUL inside x@": "x@\x00",
    "lone surrogate + @": "\ud800@x",
    "digits and spaces": "1 ",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=0.1, help="small size; the large is 4x")
    args = ap.parse_args()
    red = Redactor(RedactorConfig(profile="default", drop_density=None))
    red.redact("warm up Jane Doe jane@example.com")
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print("| input | MB | CPU s | wall s | CPU s/MB | MB (4x) | CPU s | CPU s/MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pat in PATTERNS.items():
        cells = []
        for mb in (args.mb, 4 * args.mb):
            text = pat * max(1, int(mb * 1e6) // len(pat.encode("utf-8", "surrogatepass")))
            t0, w0 = time.process_time(), time.perf_counter()
            red.redact(text)
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
            cells.append((mb, cpu, wall))
        (m1, c1, w1), (m2, c2, _) = cells
        print(f"| {name} | {m1:.2f} | {c1:.2f} | {w1:.2f} | {c1 / m1:.2f} | {m2:.2f} | {c2:.2f} "
              f"| {c2 / m2:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
