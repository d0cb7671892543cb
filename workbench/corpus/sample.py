"""Generate the bundled sample corpus: synthetic records with PII planted at known offsets.

`python -m workbench.corpus.sample DIR [--records N] [--seed S]` writes

- `support_tickets.jsonl`   records {id, text, meta: {summary}} with planted PII
- `web_forms.parquet`       the same shape as Parquet
- `chat_logs.jsonl.gz`      chat logs {id, messages: [{role, content}]}
- `bad_records.jsonl`       a few bad rows (malformed JSON, invalid UTF-8, a non-string field)
- `../<DIR>-labels/labels.jsonl` ground truth {record_id, field, entity_type, start, end},
  kept outside DIR so scanning DIR scans only the corpus

All values are synthetic (reserved example domains, test card numbers, documentation IP ranges).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

FIRST = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena"]
LAST = ["Smith", "Okafor", "Nguyen", "Garcia", "Kowalski", "Haddad", "Larsen", "Tanaka", "Moreau", "Silva"]
CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4012888888881881"]
IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300"]
SNIPPETS = [
    "Customer reported that the invoice total looked wrong after the upgrade.",
    "The device restarts every few hours; logs attached.",
    "Please escalate: the refund has not arrived yet.",
    "User cannot log in since the password reset.",
    "Shipping was delayed by the carrier, no action needed.",
    "The export to CSV drops the last column.",
]


def _pii(rng: random.Random) -> list[tuple[str, str]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return [
        ("EMAIL_ADDRESS", f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com"),
        ("PHONE_NUMBER", f"(212) 555-{rng.randint(1000, 9999)}"),
        ("CREDIT_CARD", rng.choice(CARDS)),
        ("IBAN_CODE", rng.choice(IBANS)),
        ("IP_ADDRESS", f"192.0.2.{rng.randint(1, 254)}"),
        ("US_SSN", f"{rng.choice([123, 234, 345, 456])}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"),
    ]


_TEMPLATES = {
    "EMAIL_ADDRESS": "Contact me at {} please.",
    "PHONE_NUMBER": "My phone number is {}.",
    "CREDIT_CARD": "I paid with credit card {} yesterday.",
    "IBAN_CODE": "Refund to IBAN {} instead.",
    "IP_ADDRESS": "The request came from IP {} this morning.",
    "US_SSN": "My social security number is {} for the form.",
}


def _planted_text(rng: random.Random, k: int) -> tuple[str, list[tuple[str, int, int]]]:
    parts: list[str] = []
    labels: list[tuple[str, int, int]] = []
    pos = 0
    chosen = rng.sample(_pii(rng), k)
    for ent, value in chosen:
        filler = rng.choice(SNIPPETS) + " "
        parts.append(filler)
        pos += len(filler)
        tmpl = _TEMPLATES[ent]
        before, after = tmpl.split("{}")
        parts.append(before)
        pos += len(before)
        labels.append((ent, pos, pos + len(value)))
        parts.append(value)
        pos += len(value)
        parts.append(after + " ")
        pos += len(after) + 1
    return "".join(parts).rstrip(), labels


def generate(out_dir: str | Path, records: int = 400, seed: int = 7) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = []

    def record(prefix: str, i: int) -> dict:
        text, lab = _planted_text(rng, rng.randint(0, 3))
        summary, lab2 = _planted_text(rng, rng.randint(0, 1))
        rid = f"{prefix}-{i:05d}"
        for ent, s, e in lab:
            labels.append({"record_id": rid, "field": "text", "entity_type": ent, "start": s, "end": e})
        for ent, s, e in lab2:
            labels.append({"record_id": rid, "field": "meta.summary", "entity_type": ent, "start": s, "end": e})
        return {"id": rid, "text": text, "meta": {"summary": summary, "priority": rng.choice(["low", "high"])}}

    with open(out / "support_tickets.jsonl", "w") as f:
        for i in range(records):
            f.write(json.dumps(record("ticket", i)) + "\n")
    rows = [record("form", i) for i in range(records)]
    pq.write_table(pa.Table.from_pylist(rows), out / "web_forms.parquet", row_group_size=max(1, records // 4))
    with gzip.open(out / "chat_logs.jsonl.gz", "wt") as f:
        for i in range(records // 2):
            rid = f"chat-{i:05d}"
            messages = []
            for j in range(rng.randint(2, 4)):
                text, lab = _planted_text(rng, rng.randint(0, 2))
                for ent, s, e in lab:
                    labels.append(
                        {"record_id": rid, "field": f"messages[{j}].content", "entity_type": ent, "start": s, "end": e}
                    )
                messages.append({"role": "user" if j % 2 == 0 else "assistant", "content": text})
            f.write(json.dumps({"id": rid, "messages": messages}) + "\n")
    with open(out / "bad_records.jsonl", "wb") as f:
        f.write(json.dumps({"id": "bad-00000", "text": "A fine record, call (212) 555-0147."}).encode() + b"\n")
        f.write(b'{"id": "bad-00001", "text": "unterminated\n')
        f.write(b'{"id": "bad-00002", "text": "invalid utf-8 \xff\xfe here"}\n')
        f.write(json.dumps({"id": "bad-00003", "text": 12345}).encode() + b"\n")
        f.write(json.dumps({"id": "bad-00004", "text": None}).encode() + b"\n")
        f.write(json.dumps({"id": "bad-00005", "body": "no text field"}).encode() + b"\n")
    labels_dir = out.parent / (out.name + "-labels")
    labels_dir.mkdir(exist_ok=True)
    with open(labels_dir / "labels.jsonl", "w") as f:
        for lab in labels:
            f.write(json.dumps(lab) + "\n")
    return {"records": records * 2 + records // 2 + 6, "labels": len(labels)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    stats = generate(a.out_dir, a.records, a.seed)
    print(f"wrote {stats['records']} records with {stats['labels']} planted values to {a.out_dir}")


if __name__ == "__main__":
    main()
