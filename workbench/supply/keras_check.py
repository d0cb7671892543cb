"""Keras: Lambda layers and marshalled Python bytecode in a model config.

`.keras` (Keras 3) is a zip with `config.json`; `.h5` (Keras 2) keeps the config as the root
attribute `model_config` (read with h5py when installed, else found by a byte search). A Lambda
layer's `function` holds base64 marshalled bytecode that `load_model` turns back into a function.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from workbench.supply.issues import LAMBDA_LAYER, MALFORMED_HEADER, MARSHALLED_CODE, Issue


def _looks_marshalled(s: str) -> bool:
    if not isinstance(s, str) or len(s) < 8:
        return False
    try:
        raw = base64.b64decode(s, validate=False)
    except (binascii.Error, ValueError):
        return False
    # marshal type codes for a code object: 'c' (0x63), with the FLAG_REF bit: 0xe3
    return bool(raw) and raw[0] in (0x63, 0xE3)


def check_config(config_text: str, member: str) -> list[Issue]:
    issues: list[Issue] = []
    try:
        cfg = json.loads(config_text)
    except (json.JSONDecodeError, RecursionError) as e:
        return [Issue(MALFORMED_HEADER, "medium", "keras.config_json", member, 0, 0, "keras.config_json",
                      f"Keras config is not valid JSON: {getattr(e, 'msg', 'too deep')}")]

    def visit(node, path: str) -> None:
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls in ("Lambda", "TFOpLambda") or (isinstance(cls, str) and cls.endswith(">Lambda")):
                name = (node.get("config") or {}).get("name", "") if isinstance(node.get("config"), dict) else ""
                issues.append(Issue(LAMBDA_LAYER, "high", f"keras.{cls}", member, 0, 0, str(name or cls),
                                    f"{cls} layer {name!r} at {path}: load_model runs its function",
                                    {"layer": name, "path": path}))
                fn = (node.get("config") or {}).get("function") if isinstance(node.get("config"), dict) else None
                code = None
                if isinstance(fn, list) and fn and isinstance(fn[0], str):
                    code = fn[0]
                elif isinstance(fn, dict):
                    inner = fn.get("config") if isinstance(fn.get("config"), dict) else fn
                    code = inner.get("code") if isinstance(inner, dict) else None
                elif isinstance(fn, str):
                    code = fn
                if isinstance(code, str) and _looks_marshalled(code):
                    issues.append(Issue(MARSHALLED_CODE, "critical", "keras.lambda_bytecode", member, 0, 0,
                                        str(name or cls), f"{cls} layer {name!r} carries marshalled Python "
                                        "bytecode", {"layer": name, "path": path}))
            for k, v in node.items():
                visit(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f"{path}[{i}]")

    visit(cfg, "$")
    return issues


_CONFIG_START = re.compile(rb'\{"class_name":')


def check_h5(path_or_file, raw_buf, member: str) -> list[Issue]:
    """Keras 2 HDF5: root attributes `model_config` / `training_config`."""
    texts: list[str] = []
    try:
        import h5py

        with h5py.File(path_or_file, "r") as f:
            for key in ("model_config", "training_config"):
                if key in f.attrs:
                    v = f.attrs[key]
                    texts.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
    except Exception:  # h5py missing or the file is not readable as HDF5: fall back to bytes
        texts = []
        if raw_buf is not None:
            for m in _CONFIG_START.finditer(raw_buf):
                chunk = bytes(raw_buf[m.start() : m.start() + (16 << 20)])
                try:
                    obj, _ = json.JSONDecoder().raw_decode(chunk.decode("utf-8", "replace"))
                    texts.append(json.dumps(obj))
                except json.JSONDecodeError:
                    continue
    issues: list[Issue] = []
    for t in texts:
        issues += check_config(t, member)
    return issues
