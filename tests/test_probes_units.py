"""Unit tests of the probe maths, canaries, configuration and CLI errors (no model needed)."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import zlib

import numpy as np
import pytest

from workbench.probes import metrics
from workbench.probes import scores as S
from workbench.probes.canaries import (CanaryError, CanaryFormat, CanarySet, compute_exposure, exposure_exact,
                                       make_canaries)
from workbench.probes.config import ConfigError, build_config
from workbench.probes.samples import read_samples



def test_min_k_and_loss():
    lp = np.array([-0.1, -5.0, -0.2, -3.0, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8])
    assert S.loss(lp) == pytest.approx(-lp.mean())
    assert S.min_k(lp, 0.2) == pytest.approx((-5.0 - 3.0) / 2)  # ceil(0.2 * 10) = 2 lowest
    assert S.min_k(lp, 0.05) == pytest.approx(-5.0)  # at least one
    assert S.min_k(lp, 1.0) == pytest.approx(lp.mean())


def test_min_k_pp_matches_definition():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(12, 30))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = rng.integers(0, 30, size=12)
    lp = logp[np.arange(12), targets]
    p = np.exp(logp)
    mu = (p * logp).sum(-1)
    var = (p * logp**2).sum(-1) - mu**2
    z = (lp - mu) / np.sqrt(var)
    expected = np.sort(z)[: math.ceil(0.2 * 12)].mean()
    assert S.min_k_pp(lp, mu, var, 0.2) == pytest.approx(expected)
    assert math.isnan(S.min_k_pp(lp, None, None, 0.2))


def test_zlib_bits_form():
    text = "the quick brown fox " * 5
    assert S.zlib_bits(text) == 8 * len(zlib.compress(text.encode(), 9))


def test_extraction_from_ranks():
    # offset 1 (BOS): predictions index tokens 1..; prefix 3 text tokens -> first suffix prediction index 3
    rank = np.array([5, 1, 2, 1, 1, 1, 3, 1])
    margin = np.array([-1, 2, -1, 0.5, 0.25, 0.75, -0.1, 1.0])
    e = S.extraction_from_ranks(rank, margin, offset=1, prefix_len=3, suffix_len=3)
    assert (e.extractable, e.matched_suffix_tokens, e.min_margin) == (True, 3, 0.25)
    e = S.extraction_from_ranks(rank, margin, offset=1, prefix_len=3, suffix_len=4)
    assert (e.extractable, e.matched_suffix_tokens, e.min_margin) == (False, 3, -0.1)
    assert S.extraction_from_ranks(rank, margin, offset=1, prefix_len=3, suffix_len=6) is None
    assert S.matched_prefix([1, 2, 9, 4], [1, 2, 3, 4]) == 2


def _auc_pairs(s, y):
    pos, neg = s[y], s[~y]
    return np.mean([(1.0 if a > b else 0.5 if a == b else 0.0) for a in pos for b in neg])


def test_auc_and_tpr_against_brute_force():
    rng = np.random.default_rng(1)
    s = np.round(rng.normal(size=300), 1)  # ties on purpose
    y = rng.random(300) < 0.4
    s[y] += 0.8
    assert metrics.roc_auc(s, y) == pytest.approx(_auc_pairs(s, y))
    for fpr in (0.01, 0.05, 0.2):
        best = 0.0
        for thr in np.unique(s):
            pred = s >= thr
            if pred[~y].mean() <= fpr:
                best = max(best, pred[y].mean())
        assert metrics.tpr_at_fpr(s, y, fpr) == pytest.approx(best)


def test_evaluate_orientation_and_missing():
    labels = ["member"] * 5 + ["non-member"] * 5 + [None]
    loss = [0.1, 0.2, 0.3, 0.4, 0.5, 1.1, 1.2, 1.3, 1.4, 1.5, 9.0]
    out = metrics.evaluate({"loss": loss, "min_k_pp": [None] * 11}, labels)
    assert out["scores"]["loss"]["auc"] == 1.0 and out["scores"]["loss"]["direction"] == "lower"
    assert out["scores"]["loss"]["tpr_at_1pct_fpr"] == 1.0
    assert "min_k_pp" not in out["scores"]  # no finite values: no metric
    assert (out["n_members"], out["n_nonmembers"]) == (5, 5)


def test_canary_format_and_make():
    f = CanaryFormat.parse("pin {4 digits} and {2 letters}!")
    assert f.space_size == 10**4 * 26**2 and f.prefix == "pin "
    assert f.fill("123456") == "pin 1234 and 56!"
    assert f.log2_space == pytest.approx(math.log2(10**4 * 26**2))
    with pytest.raises(CanaryError):
        CanaryFormat.parse("no placeholder")
    with pytest.raises(CanaryError):
        CanaryFormat.parse("bad {3 emoji}")
    cs = make_canaries(["code {3 digits}"], repeats=(1, 4), per_repeat=2, holdout=3, seed=5)
    assert [c.repeats for c in cs.canaries] == [1, 1, 4, 4, 0, 0, 0]
    assert len({c.secret for c in cs.canaries}) == 7
    lines = cs.planting_lines()
    assert len(lines) == 10 and all(json.dumps(x) for x in lines)
    assert CanarySet.from_manifest(json.loads(json.dumps(cs.to_manifest()))).canaries == cs.canaries
    again = make_canaries(["code {3 digits}"], repeats=(1, 4), per_repeat=2, holdout=3, seed=5)
    assert [c.text for c in again.canaries] == [c.text for c in cs.canaries]


def _fake_nll(favourite: dict[str, float]):
    """A deterministic 'model': log-perplexity ~ Normal(20, 2) from a hash of the text; fixed for favourites."""
    from scipy.stats import norm

    def nll(texts):
        out = []
        for t in texts:
            h = (zlib.crc32(t.encode()) + 0.5) / 2**32
            out.append(favourite.get(t, 20.0 + 2.0 * float(norm.ppf(h))))
        return np.array(out)
    return nll


def test_exposure_exact_enumeration():
    cs = make_canaries(["id {3 digits}"], repeats=(1,), holdout=1, seed=3)
    planted, held = cs.canaries
    nll = _fake_nll({planted.text: 1.0})
    out = compute_exposure(cs.canaries, nll, max_enumerate=10_000)
    assert out[0].method == "exact" and out[0].n_candidates == 1000
    assert out[0].rank == 1 and out[0].exposure == pytest.approx(math.log2(1000))
    # the held-out canary's rank by brute force over all 1000 candidates
    all_nll = nll([f"id {a}{b}{c}" for a, b, c in itertools.product("0123456789", repeat=3)])
    own = nll([held.text])[0]
    rank = 1 + int(np.sum(all_nll < own))
    assert out[1].rank == rank and out[1].exposure == pytest.approx(math.log2(1000) - math.log2(rank))


def test_exposure_skewnorm_close_to_exact():
    cs = make_canaries(["code {4 digits}"], repeats=(1, 2, 3), holdout=0, seed=9)
    rng = random.Random(0)
    from scipy.stats import norm

    # canaries at the 0.2%, 5% and 30% quantiles of the candidates' distribution
    fav = {c.text: 20.0 + 2.0 * float(norm.ppf(q)) for c, q in zip(cs.canaries, (0.002, 0.05, 0.3))}
    nll = _fake_nll(fav)
    exact = compute_exposure(cs.canaries, nll, max_enumerate=10**4)
    approx = compute_exposure(cs.canaries, nll, max_enumerate=10, n_samples=3000, seed=rng.randint(0, 99))
    for e, a in zip(exact, approx):
        assert e.method == "exact" and a.method == "skewnorm"
        assert abs(e.exposure - a.exposure) < 0.5, (e, a)


def test_exposure_exact_rank_counts_strictly_lower():
    e, rank = exposure_exact(2.0, np.array([1.0, 2.0, 2.0, 3.0]), math.log2(4))
    assert rank == 2 and e == pytest.approx(1.0)


def test_read_samples_bad_lines(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"id": "a", "text": "hello", "label": "member"}\n\nnot json\n{"id": "b"}\n'
                 '{"id": "c", "text": "x", "label": "maybe"}\n[1]\n{"text": "no id"}\n')
    got = read_samples(p)
    assert [(s.id, s.error is None) for s in got] == [
        ("a", True), ("s.jsonl:1", False), ("s.jsonl:2", False), ("b", False), ("c", False), ("s.jsonl:5", False),
        ("s.jsonl:6", True)]
    assert [s.id for s in read_samples(p, 3, 5)] == ["b", "c"]


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="exposure probe needs a canary manifest"):
        build_config({"model": "m", "store": "s", "probes": ["exposure"]})
    with pytest.raises(ConfigError, match="min_k_fraction"):
        build_config({"model": "m", "store": "s", "inputs": ["x"], "min_k_fraction": 2})
    with pytest.raises(ConfigError, match="bogus"):
        build_config({"model": "m", "store": "s", "inputs": ["x"], "bogus": 1})


def _run(*args):
    """The real CLI app, in-process (the console script itself is exercised in test_probes_model)."""
    from typer.testing import CliRunner

    from workbench.cli import app

    r = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_cli_user_errors(tmp_path):
    p = _run("probe", str(tmp_path / "missing.jsonl"), "--model", str(tmp_path), "--out", str(tmp_path / "st"))
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr
    s = tmp_path / "s.jsonl"
    s.write_text('{"id": "a", "text": "hi"}\n')
    p = _run("probe", str(s), "--model", str(tmp_path / "nomodel"), "--out", str(tmp_path / "st"))
    assert p.returncode == 2 and "not a local directory" in p.stderr and "Traceback" not in p.stderr
    p = _run("probe", str(s), "--model", str(tmp_path), "--out", str(tmp_path / "st"), "--engine", "tpu")
    assert p.returncode == 2 and "engine" in p.stderr and "Traceback" not in p.stderr
    p = _run("canary", "make", "--format", "no placeholder", "--out", str(tmp_path / "c"))
    assert p.returncode == 2 and "no placeholder" in p.stderr and "Traceback" not in p.stderr


def test_cli_canary_make(tmp_path):
    p = _run("canary", "make", "--format", "my account number is {9 digits}", "--format", "pin {4 digits}",
             "--repeats", "1,4", "--holdout", "2", "--seed", "7", "--out", str(tmp_path / "c"))
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert len(m["canaries"]) == 2 * (2 + 2)
    lines = [json.loads(x) for x in (tmp_path / "c" / "canaries.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * (1 + 4)
    held = {c["text"] for c in m["canaries"] if c["repeats"] == 0}
    assert not held & {x["text"] for x in lines}
    for c in m["canaries"]:
        assert sum(x["text"] == c["text"] for x in lines) == c["repeats"]
