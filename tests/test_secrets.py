"""Secrets detector: labelled set (recall floor per rule, no finding on negatives), rule files,
hyperscan prefilter consistency, profile and registry integration."""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from workbench.config import ConfigError, load_profile
from workbench.detectors.registry import build_detectors, validate_detector_config
from workbench.detectors.secrets import (
    RuleFileError,
    SecretsConfig,
    SecretsDetector,
    load_rules,
    resolve_overlaps,
    shannon_entropy,
    validate_jwt,
)
from workbench.store.secrets import mask

DATA = Path(__file__).parent / "data" / "secrets"
sys.path.insert(0, str(DATA))
import synth  # noqa: E402


@pytest.fixture(scope="module")
def detector() -> SecretsDetector:
    return SecretsDetector()


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return [json.loads(line) for line in (DATA / "cases.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def results(detector, cases):
    return detector([c["text"] for c in cases])


def test_labelled_set_is_current(cases):
    """cases.jsonl is what make_cases.py generates (so the committed data and generator agree)."""
    import make_cases

    assert cases == make_cases.cases()


def test_every_builtin_rule_has_positives_and_negatives(cases, detector):
    pos = {c["rule"] for c in cases if c["label"] == "positive"}
    neg = {c["rule"] for c in cases if c["label"] == "negative"}
    rule_ids = {r.id for r in detector.rules}
    assert rule_ids == pos
    assert rule_ids <= neg
    cats = {c["rule"] for c in cases if c["rule"].startswith("any:")}
    assert {"any:hash", "any:uuid", "any:base64", "any:docs", "any:templated", "any:js"} <= cats


def test_recall_per_rule_at_least_95_percent(cases, results):
    found: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for c, spans in zip(cases, results):
        if c["label"] != "positive":
            continue
        total[c["rule"]] += 1
        if any(s.rule == c["rule"] and s.entity_type == c["entity"] and (s.start, s.end) == (c["start"], c["end"]) for s in spans):
            found[c["rule"]] += 1
    low = {r: f"{found[r]}/{total[r]}" for r in total if found[r] < 0.95 * total[r]}
    assert not low, f"rules under 95% recall: {low}"


def test_positives_have_no_extra_findings(cases, results):
    extra = []
    for c, spans in zip(cases, results):
        if c["label"] == "positive":
            others = [s.rule for s in spans if (s.start, s.end) != (c["start"], c["end"])]
            if others:
                extra.append((c["rule"], others))
    assert not extra, extra[:5]


def test_negatives_produce_no_finding(cases, results):
    bad = [(c["rule"], [s.rule for s in spans]) for c, spans in zip(cases, results) if c["label"] == "negative" and spans]
    assert not bad, bad


def test_offsets_are_python_string_indices_with_non_ascii_text(detector):
    rng = random.Random(7)
    key = synth.github_token(rng)
    text = "Müller’s clé 🔑 — " + key + " 日本語"
    [spans] = detector([text])
    assert [(s.entity_type, text[s.start : s.end]) for s in spans] == [("GITHUB_TOKEN", key)]


def test_invalid_utf8_surrogates_do_not_break_the_scan(detector):
    rng = random.Random(8)
    key = synth.npm_token(rng)
    text = b"bad \xff\xfe bytes ".decode("utf-8", "surrogateescape") + key
    [spans] = detector([text])
    assert [text[s.start : s.end] for s in spans] == [key]


def test_hyperscan_prefilter_never_hides_a_python_match(detector, cases):
    """For every case, the rules confirmed by re on ALL rules equal those found via the prefilter."""
    rs = detector.ruleset
    for c in cases:
        direct = {
            r.id for r in rs.rules if any(True for _ in r.candidates(c["text"], rs.allowlist))
        }
        via = {rs.rules[i].id for i in rs.candidate_rules(c["text"])}
        assert direct <= via, (c["rule"], direct - via)


def test_empty_and_clean_texts(detector):
    assert detector(["", "hello world", "x" * 10000]) == [[], [], []]


def test_generic_assignment_is_suppressed_by_a_specific_rule(detector):
    key = synth.stripe_key(random.Random(3))
    [spans] = detector([f'api_key = "{key}"'])
    assert [(s.entity_type, s.rule) for s in spans] == [("STRIPE_KEY", "stripe-secret-key")]


def test_preview_of_a_secret_shows_at_most_four_characters(detector):
    rng = random.Random(11)
    for rule in synth.POSITIVES:
        case = synth.positive(rng, rule)
        secret = case["text"][case["start"] : case["end"]]
        shown = [a for a, b in zip(secret, mask(secret)) if a == b and a.isalnum()]
        assert len(shown) <= 4, rule


def test_entropy_and_jwt_validator():
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert abs(shannon_entropy("abcd") - 2.0) < 1e-9
    assert validate_jwt(synth.jwt(random.Random(1)))
    assert validate_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")  # {"alg":"HS256"}.{"sub":"1"}
    assert not validate_jwt("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig")  # payload is not JSON
    assert not validate_jwt("eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.sig")  # header without alg
    assert not validate_jwt("a.b.c")


def test_resolve_overlaps_keeps_longest_same_entity():
    from workbench.detectors.base import Span

    a = Span("PASSWORD", 0, 10, 0.9, "secrets", "r1")
    b = Span("PASSWORD", 2, 6, 0.9, "secrets", "r2")
    c = Span("GENERIC_SECRET", 0, 12, 0.6, "secrets", "g")
    d = Span("JWT", 20, 30, 0.9, "secrets", "j")
    assert resolve_overlaps([b, a, c, d], {"g"}) == [a, d]


# ---- rule files ---------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_user_rule_file_adds_a_rule_without_code_changes(tmp_path):
    p = _write(
        tmp_path,
        """
rules:
  - id: acme-token
    entity: ACME_TOKEN
    regex: '\\b(?P<secret>acme_[a-z0-9]{24})\\b'
    keywords: [acme_]
    entropy: 3.0
    allowlist: ['^acme_0+$']
""",
    )
    det = SecretsDetector(SecretsConfig(rule_files=[str(p)]))
    text = "token acme_k3j4h5g6f7d8s9a0q1w2e3r4 and acme_000000000000000000000000"
    [spans] = det([text])
    assert [(s.entity_type, s.rule, text[s.start : s.end]) for s in spans] == [
        ("ACME_TOKEN", "acme-token", "acme_k3j4h5g6f7d8s9a0q1w2e3r4")
    ]
    # the built-in rules are still there
    assert "github-token" in {r.id for r in det.rules}


def test_user_rule_that_hyperscan_rejects_falls_back_to_keywords(tmp_path):
    # a conditional group: valid Python re, rejected by hyperscan even in prefilter mode
    p = _write(
        tmp_path,
        """
rules:
  - id: odd-rule
    entity: ODD_TOKEN
    regex: '(<)?odd_(?P<secret>[0-9]{6})(?(1)>)'
    keywords: [odd_]
""",
    )
    det = SecretsDetector(SecretsConfig(rule_files=[str(p)], builtin_rules=False))
    [spans] = det(["x <odd_123456> y"])
    assert [(s.rule, s.start, s.end) for s in spans] == [("odd-rule", 7, 13)]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("rules:\n  - id: bad-re\n    entity: X_KEY\n    regex: 'abc(('\n", "rule 'bad-re': invalid regex"),
        ("rules:\n  - id: typo\n    entity: X_KEY\n    regex: 'abc'\n    keyword: [a]\n", "rule 'typo': unknown key 'keyword'"),
        ("rules:\n  - id: noregex\n    entity: X_KEY\n", "rule 'noregex': missing field 'regex'"),
        ("rules:\n  - entity: X_KEY\n    regex: 'abc'\n", "rule #1: missing field 'id'"),
        ("rules:\n  - id: lower\n    entity: x_key\n    regex: 'abc'\n", "rule 'lower': entity must be UPPER_SNAKE_CASE"),
        ("rules:\n  - id: ent\n    entity: X_KEY\n    regex: 'abc'\n    entropy: 12\n", "rule 'ent': entropy must be"),
        ("rules:\n  - id: val\n    entity: X_KEY\n    regex: 'abc'\n    validator: luhn\n", "rule 'val': unknown validator 'luhn'"),
        ("rules:\n  - id: empty\n    entity: X_KEY\n    regex: 'a*'\n", "rule 'empty': regex matches the empty string"),
        ("rules:\n  - id: al\n    entity: X_KEY\n    regex: 'abc'\n    allowlist: ['(']\n", "rule 'al': allowlist: invalid regex"),
        ("rules: []\n", "missing field 'rules'"),
        ("rulez: []\n", "unknown key 'rulez'"),
        ("rules: [\n", "invalid YAML"),
        ("rules:\n  - id: github-token\n    entity: X_KEY\n    regex: 'abc'\n", "rule 'github-token': duplicate id"),
    ],
)
def test_bad_rule_file_is_one_clear_line(tmp_path, body, expected):
    p = _write(tmp_path, body)
    with pytest.raises(RuleFileError) as e:
        SecretsConfig(rule_files=[str(p)])
    msg = str(e.value)
    assert "\n" not in msg
    assert str(p) in msg
    assert expected in msg


def test_missing_rule_file_and_profile_error(tmp_path):
    with pytest.raises(RuleFileError, match="not found"):
        SecretsConfig(rule_files=[str(tmp_path / "nope.yaml")])
    bad = _write(tmp_path, "rules:\n  - id: bad-re\n    entity: X_KEY\n    regex: '(('\n")
    prof = _write(tmp_path, f"name: p\ndetectors:\n  secrets:\n    rule_files: ['{bad}']\n", "profile.yaml")
    with pytest.raises(ConfigError) as e:
        load_profile(str(prof))
    assert str(prof) in str(e.value) and "rule 'bad-re': invalid regex" in str(e.value)


def test_config_selects_and_disables_rules():
    det = SecretsDetector(SecretsConfig(rules=["GITHUB_TOKEN", "jwt"], disabled=["github-fine-grained-pat"]))
    assert {r.id for r in det.rules} == {"github-token", "jwt"}
    with pytest.raises(ValueError, match="unknown rule id or entity NOPE"):
        SecretsConfig(rules=["NOPE"])


def test_builtin_profile_and_registry():
    prof = load_profile("secrets")
    assert "secrets" in prof.detectors
    [det] = build_detectors(prof.detectors)
    assert isinstance(det, SecretsDetector)
    assert validate_detector_config("secrets", {})["builtin_rules"] is True
    with pytest.raises(ConfigError, match="unknown key"):
        validate_detector_config("secrets", {"rule_file": []})


def test_builtin_rules_cover_the_issue_list():
    rules, allow = load_rules()
    entities = {r.entity for r in rules}
    assert {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "SLACK_WEBHOOK",
        "STRIPE_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TWILIO_API_KEY", "SENDGRID_API_KEY",
        "AZURE_STORAGE_KEY", "NPM_TOKEN", "PYPI_TOKEN", "JWT", "PRIVATE_KEY", "PASSWORD", "GENERIC_SECRET",
        "HUGGINGFACE_TOKEN",
    } <= entities
    placeholders = ["EXAMPLE", "xxxx", "<token>", "${VAR}", "your_api_key_here"]
    assert all(any(a.search(p) for a in allow) for p in placeholders)


def test_without_hyperscan_the_results_are_the_same(monkeypatch, cases, results):
    monkeypatch.setitem(sys.modules, "hyperscan", None)  # `import hyperscan` raises ImportError
    det = SecretsDetector()
    assert det.ruleset._db is None
    sample = cases[::7]
    expected = [results[i] for i in range(0, len(cases), 7)]
    assert det([c["text"] for c in sample]) == expected
