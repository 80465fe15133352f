"""The documents written next to the shards: ``croissant.json`` (Croissant 1.0 + RAI,
with optin's consent facts under the ``optin:`` prefix) and ``datasheet.md``."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from optin.domain.model import PolicyVersion, Regime
from optin.pipeline.io import atomic_write_bytes, atomic_write_json

OPTIN_NS = "https://optin.dev/ns/snapshot#"

_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "optin": OPTIN_NS,
}

_FIELDS = (
    (
        "record_id",
        "sc:Text",
        "Opaque record id: a keyed hash of the content id; meaningless outside the platform.",
    ),
    ("text", "sc:Text", "The post, article or comment with personal data replaced by tags."),
    ("kind", "sc:Text", "Content kind: post, article or comment."),
    ("language", "sc:Text", "Language tag of the content (BCP 47)."),
    ("created_month", "sc:Text", "Month the content was created (YYYY-MM)."),
)

WITHDRAWAL = (
    "A member's content is included only if the member was eligible for the purpose at "
    "the as-of time and still at build time (a withdrawal or erasure in between excludes "
    "it). A withdrawal after the build makes `optin snapshot verify` report the affected "
    "records as no longer eligible; the platform then rebuilds the snapshot and stops "
    "using the old one for new training runs."
)


_MD_ACTIVE = re.compile(r"([\\`*_\[\]|~!#])")


def md_text(value: object) -> str:
    """``value`` (a policy or admin-written string) as inert Markdown inline text: one
    line, HTML-active ``& < >`` as entities, Markdown-active punctuation backslashed.
    Rendered, it shows exactly the original characters."""
    text = " ".join(str(value).split())
    return _MD_ACTIVE.sub(r"\\\1", html.escape(text, quote=False))


def plain_text(value: object) -> str:
    """``value`` for a Croissant description (rendered as HTML by some hubs): one line,
    ``& < >`` as entities."""
    return html.escape(" ".join(str(value).split()), quote=False)


def regime_table(pv: PolicyVersion) -> dict[str, Any]:
    rules = pv.jurisdictions
    by: dict[str, list[str]] = {r.value: [] for r in Regime}
    for country, regime in sorted(rules.regimes.items()):
        by[regime.value].append(country)
    return {
        "policy_version": pv.version,
        "default_regime": rules.default_regime.value,
        "excluded": by[Regime.EXCLUDED.value],
        "opt_in": by[Regime.OPT_IN.value],
        "opt_out": by[Regime.OPT_OUT.value],
        "minimum_age": rules.minimum_age,
        "minimum_age_overrides": dict(sorted(rules.minimum_age_overrides.items())),
    }


def _excluded_lines(m: dict[str, Any]) -> list[str]:
    lines = []
    for step in m["counts"]["steps"]:
        total = sum(step["dropped"].values())
        detail = ", ".join(f"{k}: {v:,}" for k, v in step["dropped"].items()) or "none"
        lines.append(f"| {step['step']} | {step['in']:,} | {total:,} | {detail} |")
    return lines


NOT_AUDITED = (
    "Not audited: no sample of this snapshot has been reviewed for personal data left "
    "after redaction, so no leak rate has been measured."
)


def audit_sentence(audit: dict[str, Any] | None) -> str:
    """What a document says about the measured leak rate: the audit's result with its
    95% interval, sample and source, or that none was measured."""
    if not audit:
        return NOT_AUDITED
    lo, hi = audit["ci95"]
    source = {
        "people": "reviewed by people",
        "ground_truth": "marked from the demo platform's ground truth (the personal data "
        "its generator planted)",
        "mixed": "reviewed partly by people, partly from the demo platform's ground truth",
    }.get(audit["source"], str(audit["source"]))
    return (
        f"Measured leak rate: {audit['records_with_personal_data']:,} of "
        f"{audit['records_reviewed']:,} sampled records ({audit['leak_rate']:.1%}) still "
        f"hold personal data; 95% Wilson interval {lo:.1%} to {hi:.1%}. Sample: "
        f"{audit['sample_size']:,} of {audit['population']:,} records drawn with seed "
        f"{audit['seed']} by a keyed hash of the record ids, {source}, completed "
        f"{audit['completed_at']} (audit.json, digest {audit['sha256_digest']})."
    )


def croissant(
    m: dict[str, Any], pv: PolicyVersion, audit: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``audit``: the leak audit's summary (:func:`optin.services.snapshot_audit.summary`),
    or None: the documents then say "not audited"."""
    sid = m["snapshot_id"]
    files = m["files"]
    steps = "; ".join(
        f"{s['step']}: {s['in']:,} in, {s['out']:,} out" for s in m["counts"]["steps"]
    )
    findings = ", ".join(f"{k} {v:,}" for k, v in m["findings_by_label"].items()) or "none"
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": f["path"],
            "name": f["path"],
            "contentUrl": f["path"],
            "encodingFormat": "application/x-parquet",
            "sha256": f["sha256"],
            "contentSize": f"{f['bytes']} B",
        }
        for f in files
    ]
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "parquet-shards",
            "name": "parquet-shards",
            "description": "The zstd Parquet shards of the snapshot.",
            "encodingFormat": "application/x-parquet",
            "includes": "data/*.parquet",
        }
    )
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"records/{name}",
            "name": name,
            "description": desc,
            "dataType": dtype,
            "source": {"fileSet": {"@id": "parquet-shards"}, "extract": {"column": name}},
        }
        for name, dtype, desc in _FIELDS
    ]
    return {
        "@context": _CONTEXT,
        "@type": "sc:Dataset",
        "name": sid,
        "description": (
            f"Consent-gated, redacted and deduplicated member content for the purpose "
            f"'{plain_text(m['purpose'])}' ({plain_text(m['purpose_title'])}) as of {m['as_of']}: "
            f"{m['record_count']:,} records."
        ),
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "citeAs": f"optin snapshot {sid}",
        "datePublished": m["built_at"][:10],
        "license": "https://optin.dev/licenses/member-consent-restricted",
        "url": f"https://optin.dev/snapshots/{sid}",
        "version": "1.0.0",
        "isLiveDataset": False,
        "rai:dataCollection": (
            "Public posts, articles and comments written by members of the platform; "
            "only content of members who had opted in to this purpose (or, in an opt-out "
            "regime, had not objected) is included, decided per member from the hash-"
            "chained consent ledger."
        ),
        "rai:dataCollectionTimeframe": [
            f"content created at or before {m['as_of']}",
            f"built {m['built_at']}",
        ],
        "rai:dataPreprocessingProtocol": [
            "select: allowed kinds and visibility, created at or before the as-of time, "
            "not deleted at build time",
            "consent gate: author eligible at the as-of time and at build time",
            f"redaction with the '{m['config']['profile']}' profile, operator "
            f"'{m['config']['operator']}'; records dropped when {_drop_rule(m)}",
            "quality filters: language tag, minimum length, boilerplate, repetition",
            "exact and MinHash-LSH near-duplicate removal (earliest record kept)",
            f"counts: {steps}",
        ],
        "rai:personalSensitiveInformation": (
            f"Personal data of the redacted kinds was replaced by {_replacement(m)} "
            f"(findings: {findings}). No author ids or content ids are in the shards; the mapping "
            f"stays in the platform's database. {plain_text(audit_sentence(audit))}"
        ),
        "rai:dataUseCases": (
            f"Only the purpose the members consented to: {plain_text(m['purpose_title'])}."
        ),
        "rai:dataLimitations": (
            "Covers only consenting members in permitted jurisdictions and adults; "
            "redaction is automatic and may miss or over-mask some personal data. "
            + plain_text(audit_sentence(audit))
        ),
        "rai:dataBiases": (
            "Opt-in consent and jurisdiction exclusions skew the set toward members who "
            "chose to share and toward non-excluded regions; language and length filters "
            "remove some voices."
        ),
        "rai:dataReleaseMaintenancePlan": (
            "Rebuilt when consent changes; `optin snapshot verify` re-checks eligibility "
            "against the ledger. Members can withdraw at any time in Settings & Privacy."
        ),
        "optin:snapshotId": sid,
        "optin:purpose": m["purpose"],
        "optin:asOf": m["as_of"],
        "optin:builtAt": m["built_at"],
        "optin:policyVersion": m["policy"]["in_force_at_as_of"],
        "optin:ledgerHeadHash": m["ledger"]["head_hash"],
        "optin:ledgerLength": m["ledger"]["length"],
        "optin:merkleRoot": m["merkle"]["root"],
        "optin:regimeTable": {"@type": "@json", "@value": regime_table(pv)},
        "optin:withdrawalHandling": WITHDRAWAL,
        "optin:leakAudit": {"@type": "@json", "@value": audit} if audit else "not audited",
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "records",
                "name": "records",
                "description": "One record per included post, article or comment.",
                "field": fields,
            }
        ],
    }


def datasheet(m: dict[str, Any], pv: PolicyVersion, audit: dict[str, Any] | None = None) -> str:
    reg = regime_table(pv)
    findings = "\n".join(f"| {k} | {v:,} |" for k, v in m["findings_by_label"].items())
    files = "\n".join(f"| `{f['path']}` | {f['rows']:,} | `{f['sha256']}` |" for f in m["files"])
    cfg = m["config"]
    return f"""# Datasheet: snapshot `{m["snapshot_id"]}`

## What is in it

{m["record_count"]:,} records of member content for the purpose **{md_text(m["purpose"])}**
({md_text(m["purpose_title"])}), as of **{m["as_of"]}**, built {m["built_at"]}.
Columns: `record_id` (opaque keyed hash), `text` (redacted), `kind`, `language`,
`created_month`. No author ids, no content ids.

Policy version in force at the as-of time: {m["policy"]["in_force_at_as_of"]}; at build
time: {m["policy"]["in_force_at_build"]}. Consent ledger pinned at length
{m["ledger"]["length"]}, head hash `{m["ledger"]["head_hash"]}`.
Merkle root over the record ids: `{m["merkle"]["root"]}` ({m["merkle"]["construction"]}).

| file | rows | sha256 |
|---|---|---|
{files}

## What was excluded, and why

| step | in | excluded | by reason |
|---|---|---|---|
{chr(10).join(_excluded_lines(m))}

Consent rule: a member's content is included only if the member was eligible at the
as-of time **and** at build time. Jurisdictions: default regime
`{reg["default_regime"]}`; excluded: {md_text(", ".join(reg["excluded"]) or "none")}; opt-out:
{md_text(", ".join(reg["opt_out"]) or "none")}; minimum age {reg["minimum_age"]}.
Reasons ending in `_AFTER_AS_OF` are members who were eligible at the as-of time but
withdrew, were erased or otherwise stopped being eligible before the build.

## How personal data was handled

Profile `{cfg["profile"]}`, operator `{cfg["operator"]}`: detected personal data
(names of members and private individuals, handles, e-mails, phones, profile URLs,
street addresses, government ids, cards, IBANs, IPs) is replaced by {_replacement(m)}.
Records are dropped when {_drop_rule(m)}.
Findings replaced, by label:

| label | count |
|---|---|
{findings or "| none | 0 |"}

Every shard is re-scanned for residual personal data by `optin snapshot verify`.

### Measured leak rate

{md_text(audit_sentence(audit))}

## Deduplication and quality

Exact duplicates (normalised text) and near duplicates (MinHash, {cfg["num_perm"]}
permutations, {cfg["bands"]} bands, word {cfg["shingle_words"]}-shingles, seed
{cfg["seed"]}) are removed; the earliest record of each cluster is kept. Quality
filters: at least {cfg["min_chars"]} characters and {cfg["min_words"]} words, a known
language tag, no boilerplate phrases, not repetitive.{_view_note(m)}

## How to request removal

Members switch the purpose off in *Settings & Privacy → Data privacy → Data for
Generative AI Improvement*, or ask the platform to erase their data. {WITHDRAWAL}
"""


def _replacement(m: dict[str, Any]) -> str:
    """How the manifest's operator replaced personal data, in words."""
    op = m["config"].get("operator", "mask")
    red = m.get("redaction")
    tagged = sorted(red.get("per_label") or {}) if isinstance(red, dict) else []
    if op == "surrogate":
        return (
            "realistic fake values (e-mails at example.com, phones in the fictional "
            "555-01xx range, made-up names that the member directory does not recognize as a "
            "member's; never the original value)"
            + (f", and {', '.join(tagged)} by type tags such as `[IBAN]`" if tagged else "")
        )
    if op == "pseudonym":
        return "keyed pseudonym tags such as `<PERSON_3f2a>`"
    return "type tags such as `[EMAIL]`"


def _view_note(m: dict[str, Any]) -> str:
    """How quality and duplicates were judged (manifests with a ``redaction`` block)."""
    if not isinstance(m.get("redaction"), dict):
        return ""
    return (
        "\nBoth are judged on the text with every redacted span as its type tag, so the "
        "operator\nnever changes which records are kept."
    )


def _drop_rule(m: dict[str, Any]) -> str:
    """The record-drop rule of the manifest, in words (older manifests: the density)."""
    red = m.get("redaction")
    if isinstance(red, dict) and red.get("drop_rule"):
        return str(red["drop_rule"])
    return f"pii_density: personal-data density over {m['config'].get('drop_density')}"


def write_documents(
    sdir: Path, manifest: dict[str, Any], pv: PolicyVersion, audit: dict[str, Any] | None = None
) -> None:
    atomic_write_json(sdir / "croissant.json", croissant(manifest, pv, audit))
    atomic_write_bytes(sdir / "datasheet.md", datasheet(manifest, pv, audit).encode("utf-8"))
