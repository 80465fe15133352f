"""The model card: one JSON document (``model_card.json``) and its rendering
(``README.md``, with the Hugging Face metadata block), written next to the weights.

The JSON is the record; the README says the same in words and claims nothing the JSON
does not hold. Plain Python (no torch), so the registry can render and check cards
anywhere.
"""

from __future__ import annotations

import json
from typing import Any


def privacy_statement(privacy: dict[str, Any]) -> str:
    """The guarantee in one paragraph, honest about its unit."""
    text = _statement(privacy)
    if privacy.get("composition"):
        text += f" Shards: {privacy['composition']}."
    return text


def _statement(privacy: dict[str, Any]) -> str:
    unit = privacy.get("unit")
    if unit == "member":
        return (
            f"Member-level differential privacy: ({privacy['epsilon']}, {privacy['delta']})-DP "
            "with the member as the privacy unit. Whatever a member posted (all their "
            "records in the snapshot together) changes the distribution of this model by "
            f"at most that much. Each step sampled members (Poisson, q={privacy['sample_rate']}), "
            f"took at most {privacy['max_examples_per_member']} examples per sampled member, "
            f"clipped each member's summed gradient to L2 norm {privacy['clip_norm']} and "
            f"added Gaussian noise (σ={privacy['noise_multiplier']} × clip norm), "
            f"for {privacy['steps']} steps; accounted with {privacy['accountant']}."
        )
    if unit == "example":
        return (
            f"Example-level differential privacy only: ({privacy['epsilon']}, "
            f"{privacy['delta']})-DP per record, NOT per member. A member with m records is "
            "protected only by group privacy (roughly m times the ε, and a much weaker δ). "
            f"Poisson sampling of examples (q={privacy['sample_rate']}), per-example "
            f"clipping to {privacy['clip_norm']}, noise σ={privacy['noise_multiplier']} × "
            f"clip norm, {privacy['steps']} steps; accounted with {privacy['accountant']}."
        )
    return (
        "No differential privacy: this model was trained without noise or clipping, so it "
        "can memorise and reproduce its training records. Only the snapshot's redaction "
        "of personal data protects the members whose content it holds."
    )


def data_statement(card: dict[str, Any]) -> str:
    snap = card["snapshot"]
    text = (
        f"Trained on snapshot {snap['id']} (purpose {snap['purpose']}, content as of "
        f"{snap['as_of']}): {card['training']['records']} records of "
        f"{card['training']['members']} members who had switched on this purpose; every "
        "record's eligibility is provable with `optin snapshot verify`. Texts were redacted "
        "of personal data before the snapshot was written; the model never saw author or "
        "content ids."
    )
    stale = card.get("allow_stale")
    if stale:
        text += (
            f" The snapshot was stale at training time ({stale['stale_records']} records no "
            f"longer eligible) and was used anyway: {stale['reason']}"
        )
    return text


def render_readme(card: dict[str, Any]) -> str:
    """README.md for a model directory."""
    privacy = card.get("privacy") or {}
    lines = [
        "---",
        "library_name: transformers",
        "tags: [optin, consent-gated]",
        "---",
        "",
        f"# {card['model_id']} (version {card['version']})",
        "",
        "## Data",
        "",
        card["data_statement"],
        "",
        f"- snapshot: `{card['snapshot']['id']}` (manifest sha256 "
        f"`{card['snapshot']['manifest_sha256']}`)",
        f"- ledger when the snapshot was built: length {card['ledger']['snapshot']['length']}, "
        f"head `{card['ledger']['snapshot']['head_hash']}`",
        f"- ledger when trained: length {card['ledger']['at_training']['length']}, head "
        f"`{card['ledger']['at_training']['head_hash']}`",
    ]
    cp = card["ledger"].get("checkpoint")
    if cp:
        lines.append(f"- transparency-log checkpoint (tree size {cp['tree_size']}):")
        lines += ["", "```", cp["checkpoint"].rstrip("\n"), "```"]
    lines += ["", "## Privacy", "", card["privacy_statement"], ""]
    if privacy:
        lines.append("```json")
        lines.append(json.dumps(privacy, indent=2, sort_keys=True))
        lines.append("```")
        lines.append("")
    lines += ["## Model", ""]
    base = card["base"]
    lines.append(f"- base: {base['description']}")
    lines.append(f"- tokenizer: {card['tokenizer']}")
    t = card["training"]
    lines.append(
        f"- training: {t['steps']} steps, {t['tokens']} tokens, "
        f"{t['tokens_per_s']} tokens/s, loss {t['first_loss']} → {t['last_loss']}"
    )
    lines.append(f"- checkpoints: {card['checkpoints']}")
    shard = card.get("sharding")
    if shard:
        lines += [
            "",
            "## Shards (unlearning)",
            "",
            f"{shard['shards']} cohorts; a member's cohort is {shard['assignment']}. "
            f"{shard['combine']}",
            "",
            "| cohort | adapter | records | members | trained in version |",
            "|---|---|---|---|---|",
        ]
        for c in shard["cohorts"]:
            lines.append(
                f"| {c['cohort']} | {c.get('adapter') or '(no members)'} | {c['records']} | "
                f"{c['members']} | {c['trained_in']} |"
            )
        for r in shard.get("retired", []):
            lines.append(f"\nRetired: {r['component']} ({r['reason']}; files destroyed {r['at']}).")
    lines += ["", "## Audits", ""]
    kit = card.get("audit_inputs") or {}
    if kit.get("canaries"):
        c = kit["canaries"]
        lines.append(
            f"- canaries: {c['per_repetition_count']} per repetition count {c['repetitions']} "
            f"({c['inserted']} inserted, {c['digits']} free digits); {c['privacy_unit']}"
        )
    if kit.get("held_out"):
        h = kit["held_out"]
        lines.append(
            f"- held out of training: {h['members']} members' {h['records']} records "
            f"(fraction {h['fraction']}): the membership-inference attack's non-members"
        )
    if kit.get("withdrawn"):
        lines.append(
            f"- withdrawn: {kit['withdrawn']['records']} records; {kit['withdrawn']['note']}"
        )
    if kit:
        lines += [f"- reference model: {kit.get('reference_model')}", ""]
    audit = card.get("audit")
    if audit:
        lines.append("```json")
        lines.append(json.dumps(audit, indent=2, sort_keys=True))
        lines.append("```")
    else:
        lines.append("Not audited yet (`optin audit MODEL` fills this section).")
    return "\n".join(lines) + "\n"


__all__ = ["data_statement", "privacy_statement", "render_readme"]
