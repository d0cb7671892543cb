"""Model artifact scanner: every malicious technique flagged, benign library output clean,
nothing from a scanned file ever runs, and the parsers survive broken input."""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from workbench.supply import pickle_scan, testdata
from workbench.supply.chat_template import analyze
from workbench.supply.gguf_check import GGML_TYPES
from workbench.supply.policy import DANGEROUS, SAFE, UNKNOWN, PolicyError, load_policy
from workbench.supply.scanner import _sha256, scan_file

SRC = Path(__file__).resolve().parents[1] / "workbench" / "supply"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("model-corpus")
    sentinel = root / "SENTINEL-payload-ran"
    expected = testdata.write_malicious(root / "malicious", sentinel)
    benign = testdata.write_benign(root / "benign")
    return root, sentinel, expected, benign


@pytest.fixture(scope="session")
def scanned(corpus):
    root, sentinel, expected, benign = corpus
    mal = {rel: scan_file(root / "malicious" / rel) for rel in expected}
    ben = {rel: scan_file(root / "benign" / rel) for rel in benign}
    return mal, ben


def test_every_malicious_file_is_flagged_with_the_expected_kinds(corpus, scanned):
    _, _, expected, _ = corpus
    mal, _ = scanned
    assert len([k for k in expected.values() if k]) >= 85
    problems = []
    for rel, kinds in expected.items():
        r = mal[rel]
        got = {i.kind for i in r.issues}
        if r.error:
            problems.append(f"{rel}: error {r.error}")
        elif kinds and not kinds <= got:
            problems.append(f"{rel}: expected {sorted(kinds)}, got {sorted(got)}")
        elif not kinds and got:
            problems.append(f"{rel}: expected clean, got {sorted(got)}")
    assert not problems, "\n".join(problems)


def test_benign_files_from_real_libraries_scan_clean(corpus, scanned):
    _, _, _, benign = corpus
    _, ben = scanned
    assert {"pytorch_model.bin", "legacy_state_dict.pt", "model.safetensors", "array_f32.npy", "tiny.gguf",
            "scripted.pt", "onnx_model/model.onnx", "estimator.joblib"} <= set(benign)
    dirty = {rel: [(i.kind, i.rule, i.member, i.detail) for i in r.issues] for rel, r in ben.items()
             if r.issues or r.error}
    assert not dirty
    formats = {rel: r.format for rel, r in ben.items()}
    assert formats["pytorch_model.bin"] == "pytorch-zip"
    assert formats["legacy_state_dict.pt"] == "pytorch-legacy"
    assert formats["scripted.pt"] == "torchscript"
    assert formats["model.safetensors"] == "safetensors"
    assert formats["tiny.gguf"] == "gguf"


def test_payloads_never_ran(corpus, scanned):
    _, sentinel, _, _ = corpus
    assert not sentinel.exists()


def test_scanner_never_calls_a_loader(corpus, monkeypatch):
    """Loaders are booby-trapped while scanning the whole malicious corpus."""
    root, sentinel, expected, _ = corpus

    def trap(*a, **k):
        raise AssertionError("a loader was called during a scan")

    import torch

    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(pickle, "Unpickler", trap)
    monkeypatch.setattr(torch, "load", trap)
    monkeypatch.setattr(np, "load", trap)
    for rel in expected:
        r = scan_file(root / "malicious" / rel)
        assert r.error is None, r.error
    assert not sentinel.exists()


def test_source_has_no_loader_calls():
    forbidden = ["pickle.load(", "pickle.loads(", "torch.load(", "allow_pickle=True", "load_model(",
                 "np.load(", "numpy.load(", "joblib.load(", "dill.load", "marshal.loads(", "keras.models"]
    import re

    for path in SRC.glob("*.py"):
        text = path.read_text()
        for f in forbidden:
            assert f not in text, f"{path.name} contains {f}"
        if path.name != "testdata.py":  # the fixture writer holds payload *text*, written as bytes
            assert not re.search(r"(?<![\w.])(eval|exec|__import__)\(", text), path.name


# ---- the pickle walker ------------------------------------------------------------------


class _Point:
    pass


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_walker_finds_exactly_the_globals_of_known_objects(protocol):
    import collections
    import datetime
    import decimal
    import pickletools

    obj = {"od": collections.OrderedDict(a=1), "when": datetime.date(2024, 1, 2), "d": decimal.Decimal("1.5"),
           "c": complex(1, 2), "s": {1, 2}, "fs": frozenset({3}), "nested": [[1, "x"] * 3, ("t", b"by")]}
    data = pickle.dumps(obj, protocol=protocol)
    rep = pickle_scan.walk(data)
    assert rep.complete and rep.error is None and rep.end == len(data)
    names = [g.full for g in rep.globals]
    if protocol < 4:  # pickletools names GLOBAL operands itself: an independent oracle
        oracle = [arg.replace(" ", ".") for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"]
        assert names == oracle
    else:
        assert {"collections.OrderedDict", "datetime.date", "decimal.Decimal", "builtins.complex"} == set(names)
    policy = load_policy()
    assert all(policy.classify(g.module, g.name) == SAFE for g in rep.globals), names


def test_walker_resolves_memo_indirection_and_reports_missing_keys():
    rep = pickle_scan.walk(testdata.p4_memo_call("subprocess", "getoutput", "id"))
    assert [g.full for g in rep.globals] == ["subprocess.getoutput"]
    assert rep.globals[0].opcode == "STACK_GLOBAL"
    assert [c.opcode for c in rep.calls] == ["REDUCE"] and rep.calls[0].func is rep.globals[0]
    rep = pickle_scan.walk(testdata.p4_missing_memo("id"))
    assert {e.kind for e in rep.events} == {"missing_memo", "unresolved_global"}


def test_walker_obj_and_inst_resolution():
    rep = pickle_scan.walk(testdata.p2_obj("os", "system", "id"))
    assert rep.calls[0].opcode == "OBJ" and rep.calls[0].func.full == "os.system"
    assert rep.calls[0].args == ("id",)
    rep = pickle_scan.walk(testdata.p2_inst("os", "system", "id"))
    assert rep.calls[0].opcode == "INST" and rep.calls[0].args == ("id",)


def test_every_truncation_of_a_payload_is_handled(tmp_path):
    data = testdata.p0_call("os", "system", "touch /nonexistent/x")
    line_end = data.index(b"\n", data.index(b"\n") + 1) + 1  # after 'cos\nsystem\n'
    for cut in range(1, len(data)):
        p = tmp_path / "cut.pkl"
        p.write_bytes(data[:cut])
        r = scan_file(p)
        kinds = {i.kind for i in r.issues}
        assert r.error is None
        assert "MALFORMED_PICKLE" in kinds
        if cut >= line_end:
            assert "UNSAFE_GLOBAL" in kinds, cut


def test_stacked_pickles_are_all_scanned(tmp_path):
    p = tmp_path / "stack.pkl"
    p.write_bytes(testdata.benign_pickle() * 3 + testdata.p4_call("os", "system", "id") + testdata.benign_pickle())
    r = scan_file(p)
    idx = [i.extra.get("pickle_index") for i in r.issues if i.kind == "UNSAFE_GLOBAL"]
    assert idx == [3]


def test_random_corruption_never_crashes_the_scanner(corpus, tmp_path):
    root, _, _, benign = corpus
    rng = random.Random(1234)
    for rel in ["pytorch_model.bin", "model.safetensors", "tiny.gguf", "legacy_state_dict.pt", "arrays.npz",
                "onnx_model/model.onnx", "estimator.joblib"]:
        original = (root / "benign" / rel).read_bytes()
        for k in range(25):
            b = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if k % 5 == 0:
                b = b[: rng.randrange(1, len(b))]
            p = tmp_path / Path(rel).name
            p.write_bytes(bytes(b))
            r = scan_file(p)
            assert r.error is None, (rel, k, r.error)


# ---- formats --------------------------------------------------------------------------------


def test_safetensors_duplicate_keys_rejected_although_the_reference_loader_accepts_them(corpus, scanned):
    from safetensors import safe_open

    root, _, _, _ = corpus
    path = root / "malicious" / "safetensors" / "duplicate_key.safetensors"
    with safe_open(str(path), "np") as f:  # the reference loader keeps one of the two
        assert list(f.keys()) == ["w"]
    mal, _ = scanned
    assert [i.kind for i in mal["safetensors/duplicate_key.safetensors"].issues] == ["DUPLICATE_KEY"]


def test_safetensors_header_rules(tmp_path):
    def scan(header: str, buf: bytes) -> set[str]:
        p = tmp_path / "t.safetensors"
        p.write_bytes(testdata.safetensors_raw(header, buf))
        return {i.rule for i in scan_file(p).issues}

    ok = {"a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
          "b": {"dtype": "I8", "shape": [], "data_offsets": [8, 9]}, "__metadata__": {"k": "v"}}
    assert scan(json.dumps(ok), b"\x00" * 9) == set()
    assert scan(json.dumps(ok) + "   ", b"\x00" * 9) == set()  # trailing spaces are allowed padding
    assert "safetensors.metadata" in scan(json.dumps({**ok, "__metadata__": {"k": 1}}), b"\x00" * 9)
    assert "safetensors.tensor_fields" in scan(json.dumps({"a": {**ok["a"], "extra": 1}}), b"\x00" * 8)
    assert "safetensors.buffer_coverage" in scan(json.dumps(ok), b"\x00" * 8)
    assert "safetensors.header_start" in scan(" " + json.dumps(ok), b"\x00" * 9)
    assert "safetensors.shape" in scan(json.dumps({"a": {**ok["a"], "shape": [-1, 2]}}), b"\x00" * 8)


def test_gguf_type_table_matches_the_gguf_package():
    from gguf.constants import GGML_QUANT_SIZES

    theirs = {int(k): v for k, v in GGML_QUANT_SIZES.items()}
    shared = set(theirs) & set(GGML_TYPES)
    assert len(shared) >= 30
    assert {k: GGML_TYPES[k] for k in shared} == {k: theirs[k] for k in shared}


def test_gguf_benign_file_is_readable_by_the_reference_reader(corpus):
    from gguf import GGUFReader

    root, _, _, _ = corpus
    reader = GGUFReader(root / "benign" / "tiny.gguf")
    assert {t.name for t in reader.tensors} == {"tok_embd.weight", "norm.weight"}
    assert "tokenizer.chat_template" in reader.fields


# Shapes of widely used templates (Qwen2.5-style tools, Llama-3.1-style tools): must stay plain.
QWEN_LIKE = '{%- if tools %}\n    {{- \'<|im_start|>system\\n\' }}\n    {%- if messages[0][\'role\'] == \'system\' %}\n        {{- messages[0][\'content\'] }}\n    {%- else %}\n        {{- \'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\' }}\n    {%- endif %}\n    {{- "\\n\\n# Tools\\n\\n<tools>" }}\n    {%- for tool in tools %}\n        {{- "\\n" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}\n        {{- \'<|im_start|>\' + message.role + \'\\n\' + message.content + \'<|im_end|>\' + \'\\n\' }}\n    {%- elif message.role == "assistant" %}\n        {{- \'<|im_start|>\' + message.role }}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- tool_call.name }}\n            {{- tool_call.arguments | tojson }}\n        {%- endfor %}\n        {{- \'<|im_end|>\\n\' }}\n    {%- elif message.role == "tool" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n            {{- \'<|im_start|>user\' }}\n        {%- endif %}\n        {{- message.content }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n            {{- \'<|im_end|>\\n\' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- \'<|im_start|>assistant\\n\' }}\n{%- endif %}\n'
LLAMA_LIKE = '{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- set date_string = strftime_now("%d %b %Y") %}\n{%- endif %}\n{%- if messages[0][\'role\'] == \'system\' %}\n    {%- set system_message = messages[0][\'content\']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = "" %}\n{%- endif %}\n{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n{%- if builtin_tools is defined or tools is not none %}\n    {{- "Environment: ipython\\n" }}\n{%- endif %}\n{%- if builtin_tools is defined %}\n    {{- "Tools: " + builtin_tools | reject(\'equalto\', \'code_interpreter\') | join(", ") + "\\n\\n"}}\n{%- endif %}\n{{- "Today Date: " + date_string + "\\n\\n" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- "\\n\\n" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- "<|eot_id|>" }}\n{%- if tools_in_user_message and not tools is none %}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0][\'content\']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception("Cannot put tools in the first user message when there\'s no first user message!") }}\n{%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if not (message.role == \'ipython\' or message.role == \'tool\' or \'tool_calls\' in message) %}\n        {{- \'<|start_header_id|>\' + message[\'role\'] + \'<|end_header_id|>\\n\\n\'+ message[\'content\'] | trim + \'<|eot_id|>\' }}\n    {%- elif \'tool_calls\' in message %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n            {{- "<|python_tag|>" + tool_call.name + ".call(" }}\n            {%- for arg_name, arg_val in tool_call.arguments | items %}\n                {{- arg_name + \'="\' + arg_val + \'"\' }}\n                {%- if not loop.last %}\n                    {{- ", " }}\n                {%- endif %}\n            {%- endfor %}\n            {{- ")" }}\n        {%- endif %}\n    {%- elif message.role == "tool" or message.role == "ipython" %}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- \'<|start_header_id|>assistant<|end_header_id|>\\n\\n\' }}\n{%- endif %}\n'


@pytest.mark.parametrize("template", [
    QWEN_LIKE,
    LLAMA_LIKE,
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}",
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] | trim }} [/INST]"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% else %}"
    "{{ raise_exception('bad role') }}{% endif %}{% endfor %}",
    "{%- set ns = namespace(found=false) -%}{%- for message in messages -%}{%- if message.role == 'system' -%}"
    "{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ messages | length }}{# a comment with __class__ #}",
])
def test_plain_chat_templates_are_not_flagged(template):
    assert analyze(template) == []


@pytest.mark.parametrize("template,construct", [
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "__init__"),
    ("{{ self._TemplateReference__context }}", "self"),
    ("{{ lipsum.__globals__['os'] }}", "lipsum"),
    ("{{ messages|attr('__class__') }}", "|attr"),
    ("{% import 'os' as os %}", "import"),
    ("{% include '/etc/passwd' %}", "include"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("{% macro x() %}{% endmacro %}", "macro"),
])
def test_code_in_chat_templates_is_flagged(template, construct):
    found = {f.construct for f in analyze(template)}
    assert construct in found


def test_onnx_raw_fixture_is_valid_onnx_and_package_model_with_inside_data_is_clean(corpus, scanned):
    import onnx

    root, _, _, _ = corpus
    m = onnx.load_model_from_string((root / "malicious" / "onnx" / "dotdot" / "model.onnx").read_bytes())
    locs = [e.value for t in m.graph.initializer for e in t.external_data if e.key == "location"]
    assert locs == ["../../../etc/passwd"]
    mal, ben = scanned
    assert ben["onnx_model/model.onnx"].issues == []
    (issue,) = mal["onnx/dotdot/model.onnx"].issues
    assert issue.kind == "PATH_TRAVERSAL" and issue.value == "../../../etc/passwd"
    assert "symlink" in mal["onnx/symlink/model.onnx"].issues[0].detail


def test_extension_is_never_trusted(corpus, scanned):
    mal, _ = scanned
    r = mal["torch/pickle_named_safetensors.safetensors"]
    assert r.format == "pickle"
    assert {"FORMAT_MISMATCH", "UNSAFE_GLOBAL"} <= {i.kind for i in r.issues}


def test_zip_member_findings_name_the_member(scanned):
    mal, _ = scanned
    members = {i.member for i in mal["torch/other_member.pt"].issues if i.kind == "UNSAFE_GLOBAL"}
    assert members == {"archive/extra/payload"}
    nested = {i.member for i in mal["numpy/object_array.npz"].issues}
    assert nested == {"arr_0.npy"}


def test_severity_scores_and_offsets(scanned):
    mal, _ = scanned
    (g,) = [i for i in mal["pickle/proto0_global_string.pkl"].issues]
    assert g.severity == "critical" and g.score == 1.0
    data = testdata.p0_call("os", "system", "x")
    assert (g.start, g.end) == (0, data.index(b"(")) and g.rule == "os.system"
    (u,) = mal["pickle/unknown_global.pkl"].issues
    assert u.kind == "UNKNOWN_GLOBAL" and 0 < u.score < 1


# ---- policy ---------------------------------------------------------------------------------


def test_policy_classification():
    p = load_policy()
    assert p.classify("torch._utils", "_rebuild_tensor_v2") == SAFE
    assert p.classify("collections", "OrderedDict") == SAFE
    assert p.classify("os", "system") == DANGEROUS
    assert p.classify("os.path", "join") == DANGEROUS  # submodules of a denied module
    assert p.classify("__builtin__", "eval") == DANGEROUS  # Python 2 spelling
    assert p.classify("torch.serialization", "os.system") == DANGEROUS  # attribute path
    assert p.classify("builtins", "set") == SAFE
    assert p.classify("builtins", "set.__init__") == UNKNOWN or p.classify("builtins", "set.__init__") == DANGEROUS
    assert p.classify("sklearn.linear_model", "LogisticRegression") == UNKNOWN
    assert p.classify("__torch__.torch.nn.Linear", "Linear", torchscript=True) == SAFE
    assert p.classify("__torch__.torch.nn.Linear", "Linear") == UNKNOWN


def test_policy_validation_errors(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("allow: ['os system']\n")
    with pytest.raises(PolicyError, match="not a dotted Python name"):
        load_policy(bad)
    bad.write_text("allow: []\nsurprise: 1\n")
    with pytest.raises(PolicyError, match="surprise"):
        load_policy(bad)
    bad.write_text("limits: {max_container_depth: 0}\n")
    with pytest.raises(PolicyError, match="max_container_depth"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "missing.yaml")


def test_custom_policy_changes_verdicts(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("allow: [evil_helpers.tools.run]\ndeny: [os]\n")
    p = tmp_path / "m.pkl"
    p.write_bytes(testdata.p4_call("evil_helpers.tools", "run", "x"))
    assert scan_file(p, load_policy(pol)).issues == []
    assert [i.kind for i in scan_file(p).issues] == ["UNKNOWN_GLOBAL"]


# ---- hashing ---------------------------------------------------------------------------------


def test_hashing_streams_in_bounded_memory(tmp_path):
    import hashlib

    p = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(p, "wb") as f:
        for _ in range(64):
            f.write(chunk)
    tracemalloc.start()
    digest = _sha256(str(p))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert digest == hashlib.sha256(chunk * 64).hexdigest()
    assert peak < 4 << 20


def test_big_stored_member_that_looks_like_a_pickle_is_probed_not_loaded(tmp_path):
    # a 3 MiB storage blob starting with a pickle protocol byte, then float noise
    blob = b"\x80\x02" + struct.pack("<f", 1.0) + os.urandom(3 << 20)
    p = tmp_path / "m.pt"
    p.write_bytes(testdata._torch_like_zip(testdata.benign_pickle(), [("archive/data/0", blob)]))
    r = scan_file(p)
    assert r.issues == [] and r.format == "pytorch-zip"
