"""`ProbeRunner`: samples in, rows of the `probes` table out (a plain class; Ray only schedules it)."""

from __future__ import annotations

import json
import logging
import math
from typing import Sequence

import pyarrow as pa

from workbench.probes import scores as S
from workbench.probes.canaries import Canary, CanaryFormat, compute_exposure
from workbench.probes.config import ProbeSettings
from workbench.probes.engines import Engine
from workbench.probes.samples import Sample
from workbench.store.schema import PROBES

log = logging.getLogger(__name__)


def _f(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def empty_row(sample_id: str, model: str, engine: str, label: str | None) -> dict:
    row = {f.name: None for f in PROBES}
    row.update(sample_id=sample_id, model=model, engine=engine, label=label)
    return row


class ProbeRunner:
    """Runs the configured probes with `engine` (and `reference`, a second engine, for ref_ratio)."""

    def __init__(self, engine: Engine, settings: ProbeSettings | None = None, reference: Engine | None = None,
                 model_name: str | None = None):
        self.engine = engine
        self.reference = reference
        self.settings = settings or ProbeSettings()
        self.model_name = model_name or engine.model_path

    # -- samples: scores + extraction ---------------------------------------------------------
    def __call__(self, samples: Sequence[Sample]) -> pa.Table:
        return pa.Table.from_pylist(self.rows(samples), schema=PROBES)

    def rows(self, samples: Sequence[Sample]) -> list[dict]:
        cfg = self.settings
        do_scores, do_extract = "scores" in cfg.probes, "extraction" in cfg.probes
        rows = [empty_row(s.id, self.model_name, self.engine.name, s.label) for s in samples]
        extras: list[dict] = [{} for _ in samples]
        ok = [i for i, s in enumerate(samples) if s.error is None]
        for i, s in enumerate(samples):
            if s.error is not None:
                extras[i]["error"] = s.error
        texts = [samples[i].text for i in ok]
        ids = self.engine.encode(texts)
        lower_idx = [j for j, t in enumerate(texts) if t.lower() != t] if do_scores else []
        lower_ids = self.engine.encode([texts[j].lower() for j in lower_idx])
        main = self.engine.token_stats(ids, full_vocab=do_scores)
        # the lowercase pass only needs the loss: no full-vocabulary statistics
        lower = dict(zip(lower_idx, self.engine.token_stats(lower_ids, full_vocab=False))) if lower_ids else {}
        off = self.engine.offset
        ref_loss: dict[int, float] = {}
        if do_scores and self.reference is not None:
            for j, st in enumerate(self.reference.token_stats(self.reference.encode(texts), full_vocab=False)):
                ref_loss[j] = S.loss(st.logprob)
        cross_prefixes, cross_rows = [], []
        for j, i in enumerate(ok):
            st, row, ex = main[j], rows[i], extras[i]
            n = len(st.token_ids) - off
            row["n_tokens"] = n
            if self.engine.max_length and len(st.token_ids) >= self.engine.max_length:
                ex["truncated_at_tokens"] = self.engine.max_length  # scores cover the first max_length tokens
            if st.logprob.size == 0:
                ex["error"] = "too short to score (needs 2 tokens, or 1 with a BOS token)"
                continue
            if do_scores:
                loss = S.loss(st.logprob)
                zb = S.zlib_bits(texts[j])
                row["loss"] = loss
                row["zlib_ratio"] = loss / zb
                row["min_k"] = S.min_k(st.logprob, cfg.min_k_fraction)
                row["min_k_fraction"] = cfg.min_k_fraction
                row["min_k_pp"] = _f(S.min_k_pp(st.logprob, st.mean, st.var, cfg.min_k_fraction))
                lower_loss = S.loss(lower[j].logprob) if j in lower else loss
                row["lowercase_ratio"] = _f(lower_loss / loss) if loss > 0 else None
                ex.update(perplexity=math.exp(min(loss, 700)), zlib_bits=zb)
                if j in ref_loss:
                    ex["ref_loss"] = ref_loss[j]
                    row["ref_ratio"] = _f(loss / ref_loss[j]) if ref_loss[j] > 0 else None
            if do_extract:
                ext = S.extraction_from_ranks(st.rank, st.margin, off, cfg.prefix_len, cfg.suffix_len)
                if ext is None:
                    ex["extraction"] = f"skipped: fewer than {cfg.prefix_len}+{cfg.suffix_len} tokens"
                else:
                    row.update(prefix_len=ext.prefix_len, suffix_len=ext.suffix_len,
                               extractable=ext.extractable, matched_suffix_tokens=ext.matched_suffix_tokens)
                    ex["min_margin"] = _f(ext.min_margin)
                    if cfg.cross_check:
                        p = off + cfg.prefix_len
                        cross_prefixes.append(st.token_ids[:p])
                        cross_rows.append((i, st.token_ids[p : p + cfg.suffix_len]))
        if cross_prefixes:
            gens = self.engine.greedy(cross_prefixes, cfg.suffix_len)
            disagree = 0
            for (i, target), gen in zip(cross_rows, gens):
                matched = S.matched_prefix(gen, target)
                agrees = matched == rows[i]["matched_suffix_tokens"]
                disagree += not agrees
                extras[i].update(generate_matched=matched, generate_agrees=agrees)
            if disagree:
                log.warning("cross-check: greedy generation disagrees with the one-pass verdict on %d of %d "
                            "samples (ties or numerics; see extra.min_margin)", disagree, len(gens))
        for row, ex in zip(rows, extras):
            row["extra"] = json.dumps(ex, sort_keys=True) if ex else None
        return rows

    # -- canaries: exposure ---------------------------------------------------------------------
    def exposure_rows(self, canaries: Sequence[Canary]) -> list[dict]:
        opts = self.settings.exposure
        exps = compute_exposure(canaries, self.engine.nll, max_enumerate=opts.max_enumerate,
                                n_samples=opts.n_samples, seed=opts.seed)
        # Extraction of each canary: prefix = the format's text before the first placeholder,
        # suffix = the rest (the secret and any trailing text).
        off = self.engine.offset
        ids = self.engine.encode([c.text for c in canaries])
        stats = self.engine.token_stats(ids, full_vocab=False)
        rows, cross = [], []
        for c, e, st in zip(canaries, exps, stats):
            row = empty_row(c.id, self.model_name, self.engine.name, "member" if c.repeats > 0 else "non-member")
            row["exposure"] = e.exposure
            row["n_tokens"] = len(st.token_ids) - off
            extra = {"probe": "exposure", "repeats": c.repeats, "method": e.method, "rank": e.rank,
                     "n_candidates": e.n_candidates, "log2_space": e.log2_space, "log_perplexity": e.log_perplexity,
                     "format": c.format}
            if e.fit:
                extra["skewnorm"] = e.fit
            prefix = self.engine.encode([CanaryFormat.parse(c.format).prefix])[0] if c.format else []
            k = len(prefix) - off
            if k >= 1 and st.token_ids[: len(prefix)] == prefix:
                ext = S.extraction_from_ranks(st.rank, st.margin, off, k, len(st.token_ids) - len(prefix))
                if ext is not None:
                    row.update(prefix_len=ext.prefix_len, suffix_len=ext.suffix_len, extractable=ext.extractable,
                               matched_suffix_tokens=ext.matched_suffix_tokens)
                    extra["min_margin"] = _f(ext.min_margin)
                    if self.settings.cross_check:
                        cross.append((len(rows), prefix, st.token_ids[len(prefix):]))
            rows.append((row, extra))
        if cross:
            gens = self.engine.greedy([p for _, p, _ in cross], max(len(t) for _, _, t in cross))
            for (i, _, target), gen in zip(cross, gens):
                matched = S.matched_prefix(gen, target)
                rows[i][1].update(generate_matched=matched,
                                  generate_agrees=(matched == rows[i][0]["matched_suffix_tokens"]))
        out = []
        for row, extra in rows:
            row["extra"] = json.dumps(extra, sort_keys=True)
            out.append(row)
        return out

    def exposure_table(self, canaries: Sequence[Canary]) -> pa.Table:
        return pa.Table.from_pylist(self.exposure_rows(canaries), schema=PROBES)

    def close(self) -> None:
        self.engine.close()
        if self.reference is not None:
            self.reference.close()


