"""Dump every finding of a profile on the dev splits plus novel demo posts, one line per
text, so two checkouts' findings can be compared exactly (``cmp`` the two files).

    .venv/bin/python bench/pii_findings_dump.py default /tmp/after.txt
    PYTHONPATH=/tmp/before/src .venv/bin/python bench/pii_findings_dump.py default /tmp/before.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pii_speed import novel_corpus


def main() -> None:
    profile, dst = sys.argv[1], sys.argv[2]
    posts = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    from optin.privacy.api import Redactor, RedactorConfig

    cfg = RedactorConfig(
        profile=profile, operator="mask", key=b"bench-key-0123456789", drop_density=None
    )
    redactor = Redactor(cfg)
    t0 = time.process_time()
    with open(dst, "w", encoding="utf-8") as out:
        for name, texts in novel_corpus(posts, 0, "dev").items():
            for t in texts:
                found = redactor.analyze(t)
                r = redactor.redact(t)
                out.write(
                    repr(
                        [
                            (
                                name,
                                [
                                    (
                                        f.start,
                                        f.end,
                                        str(f.label),
                                        f.score,
                                        f.recognizer,
                                        f.explanation,
                                    )
                                    for f in found
                                ],
                                [(f.start, f.end, str(f.label)) for f in r.applied],
                                r.text,
                            )
                        ]
                    )
                )
                out.write("\n")
    print(f"{profile}: {time.process_time() - t0:.2f} CPU s", file=sys.stderr)


if __name__ == "__main__":
    main()
