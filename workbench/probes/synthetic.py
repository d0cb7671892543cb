"""A tiny memorizing language model built from scratch, offline: for tests, demos and benchmarks.

`build_fixture(root)` writes, under `root`:

- `tokenizer` trained on the synthetic corpus (byte-level BPE, every digit its own token) inside
  both model folders;
- `trained/`: a small GPT-2 trained for a few seconds on member sentences plus canaries planted
  at the given repeat counts;
- `untrained/`: the same architecture with its initial weights (the negative control);
- `samples.jsonl`: member sentences, non-member sentences of the same distribution, and every
  canary (planted ones labelled member, held-out ones non-member);
- `canaries/manifest.json` + `canaries/canaries.jsonl` (as `workbench canary make` writes them).

Nothing is downloaded. Sentences are random draws of pseudo-words, so members and non-members
come from the same distribution (no temporal shift to inflate membership AUC).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.probes.canaries import make_canaries

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
DEFAULT_FORMATS = ("my account number is {9 digits}", "the door code of lab seven is {6 digits}")


def _pseudo_words(rng: random.Random, n: int) -> list[str]:
    cons, vows = "bdfgklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < n:
        syl = rng.randint(1, 3)
        words.add("".join(rng.choice(cons) + rng.choice(vows) for _ in range(syl)))
    return sorted(words)


def sentences(n: int, seed: int, n_words: int = 300, min_len: int = 8, max_len: int = 14) -> list[str]:
    """`n` distinct random sentences over a fixed pseudo-word vocabulary (fixed by seed 1234)."""
    vocab = _pseudo_words(random.Random(1234), n_words)
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        words = [rng.choice(vocab) for _ in range(rng.randint(min_len, max_len))]
        s = " ".join(words).capitalize() + "."
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS)
    fast.save_pretrained(out_dir)
    return fast


def new_model(vocab_size: int, eos_id: int, n_layer: int = 2, n_embd: int = 128, n_head: int = 4,
              n_positions: int = 64, seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                     n_head=n_head, bos_token_id=eos_id, eos_token_id=eos_id, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(cfg)


def train(model, tokenizer, texts: list[str], epochs: int, batch_size: int = 32, lr: float = 3e-3,
          seed: int = 0, max_seconds: float | None = None, device: str = "cpu") -> dict:
    """Plain next-token training on whole lines (`<eos> text <eos>`), padded per batch."""
    import torch

    model.to(device)
    eos = tokenizer.eos_token_id
    encoded = [[eos] + tokenizer.encode(t) + [eos] for t in texts]
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    steps_total = epochs * math.ceil(len(encoded) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * max(0.05, 1 - s / max(1, steps_total)))
    model.train()
    t0, step, loss_v = time.perf_counter(), 0, float("nan")
    for _ in range(epochs):
        perm = torch.randperm(len(encoded), generator=g).tolist()
        for i in range(0, len(perm), batch_size):
            rows = [encoded[j] for j in perm[i : i + batch_size]]
            width = max(map(len, rows))
            ids = torch.full((len(rows), width), eos, dtype=torch.long)
            labels = torch.full((len(rows), width), -100, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                ids[r, : len(row)] = torch.tensor(row)
                labels[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_v = loss.item()
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    model.eval()
    model.to("cpu")
    return {"steps": step, "final_loss": loss_v, "seconds": time.perf_counter() - t0}


@dataclass
class Fixture:
    root: Path
    trained: Path
    untrained: Path
    samples: Path
    canary_manifest: Path
    canary_lines: Path
    info: dict


def build_fixture(root: str | Path, n_members: int = 200, n_nonmembers: int = 200, epochs: int = 30,
                  formats: tuple[str, ...] = DEFAULT_FORMATS, repeats: tuple[int, ...] = (1, 4, 16, 64),
                  seed: int = 0, n_layer: int = 2, n_embd: int = 128, max_seconds: float | None = 90,
                  device: str = "cpu", lr: float | None = None) -> Fixture:
    import torch

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    members = sentences(n_members, seed=seed + 1)
    pool = set(members)
    nonmembers = [s for s in sentences(n_nonmembers + n_members, seed=seed + 2) if s not in pool][:n_nonmembers]
    cset = make_canaries(formats, repeats=repeats, per_repeat=1, holdout=2, seed=seed + 3)
    planted = cset.planting_lines(shuffle_seed=seed)

    canary_dir = root / "canaries"
    canary_dir.mkdir(exist_ok=True)
    (canary_dir / "manifest.json").write_text(json.dumps(cset.to_manifest(), indent=2))
    (canary_dir / "canaries.jsonl").write_text("".join(json.dumps(x) + "\n" for x in planted))

    tok_texts = members + nonmembers + [c.text for c in cset.canaries]
    trained_dir, untrained_dir = root / "trained", root / "untrained"
    tok = train_tokenizer(tok_texts, trained_dir)
    tok.save_pretrained(untrained_dir)

    torch.manual_seed(seed)
    model = new_model(len(tok), tok.eos_token_id, n_layer=n_layer, n_embd=n_embd, seed=seed)
    model.save_pretrained(untrained_dir)
    train_texts = members + [x["text"] for x in planted]
    stats = train(model, tok, train_texts, epochs=epochs, seed=seed, max_seconds=max_seconds, device=device,
                  **({"lr": lr} if lr else {}))
    model.save_pretrained(trained_dir)

    rows = [{"id": f"member-{i:04d}", "text": t, "label": "member"} for i, t in enumerate(members)]
    rows += [{"id": f"nonmember-{i:04d}", "text": t, "label": "non-member"} for i, t in enumerate(nonmembers)]
    rows += [{"id": c.id, "text": c.text, "label": "member" if c.repeats else "non-member"}
             for c in cset.canaries]
    samples = root / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = {"train": stats, "n_members": len(members), "n_nonmembers": len(nonmembers),
            "n_train_lines": len(train_texts), "vocab_size": len(tok)}
    (root / "fixture.json").write_text(json.dumps(info, indent=2))
    log.info("synthetic fixture built in %s: %s", root, info)
    return Fixture(root, trained_dir, untrained_dir, samples, canary_dir / "manifest.json",
                   canary_dir / "canaries.jsonl", info)
