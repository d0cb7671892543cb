"""CycloneDX 1.6 ML-BOM for model artifacts, and verification of files against it.

One component per file: `machine-learning-model` for weight formats, `data` for the rest, with
its SHA-256 (streamed), size, detected format and what the scan found (as `workbench:*`
properties). `verify_bom` re-hashes the files and reports added, removed and changed ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from workbench.supply.issues import FileResult
from workbench.supply.run import InputFile, scan_paths, walk_inputs
from workbench.supply.scanner import _sha256, is_model_format
from workbench.supply.policy import load_policy

PROP = "workbench:"


class BomError(ValueError):
    """A BOM that cannot be read or is not a workbench model BOM (a user error)."""


def build_bom(inputs: Sequence[InputFile], results: Sequence[FileResult]) -> str:
    """CycloneDX 1.6 JSON text for scanned files."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    import workbench

    bom = Bom()
    try:
        from cyclonedx.model.tool import Tool

        bom.metadata.tools.tools.add(Tool(vendor="workbench", name="workbench model bom",
                                          version=getattr(workbench, "__version__", "0.1.0")))
    except Exception:  # older/newer library layouts: the tool entry is optional
        pass
    for inp, r in zip(inputs, results):
        props = [
            Property(name=PROP + "size", value=str(r.size)),
            Property(name=PROP + "format", value=r.format),
            Property(name=PROP + "path", value=inp.path),
            Property(name=PROP + "scan.findings", value=str(len(r.issues))),
            Property(name=PROP + "scan.max_severity", value=r.max_severity or "none"),
        ]
        if r.error:
            props.append(Property(name=PROP + "scan.error", value=r.error))
        for i in r.issues[:100]:
            where = f" in {i.member}" if i.member else ""
            props.append(Property(name=PROP + "scan.finding",
                                  value=f"{i.severity} {i.kind} {i.rule}{where}"))
        ctype = ComponentType.MACHINE_LEARNING_MODEL if is_model_format(r.format) else ComponentType.DATA
        comp = Component(
            name=inp.name, type=ctype, bom_ref=inp.name,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=r.sha256)] if r.sha256 else [],
            properties=props,
        )
        bom.components.add(comp)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def make_bom(paths: Sequence[str | os.PathLike], out: str | os.PathLike, policy_path: str | None = None,
             executor: str = "auto", workers: int | None = None, address: str | None = None) -> list[FileResult]:
    inputs = walk_inputs(paths)
    results = scan_paths([i.path for i in inputs], load_policy(policy_path), executor, workers, address)
    text = build_bom(inputs, results)
    from workbench.store.atomic import write_bytes

    write_bytes(Path(out), text.encode())
    return results


@dataclass
class Verification:
    added: list[str] = field(default_factory=list)  # on disk, not in the BOM
    removed: list[str] = field(default_factory=list)  # in the BOM, not on disk
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (name, bom sha256, disk sha256)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not (self.added or self.removed or self.changed)


def read_bom(path: str | os.PathLike) -> dict[str, str]:
    """name -> sha256 of every component of a BOM file."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BomError(f"BOM not found: {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BomError(f"cannot read BOM {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise BomError(f"{path} is not a CycloneDX JSON BOM")
    out: dict[str, str] = {}
    for c in doc.get("components") or []:
        name = c.get("name")
        sha = next((h.get("content") for h in c.get("hashes") or [] if h.get("alg") == "SHA-256"), None)
        if isinstance(name, str):
            out[name] = sha or ""
    return out


def verify_bom(paths: Sequence[str | os.PathLike], bom_path: str | os.PathLike) -> Verification:
    expected = read_bom(bom_path)
    inputs = walk_inputs(paths)
    v = Verification()
    seen = set()
    for inp in inputs:
        seen.add(inp.name)
        if inp.name not in expected:
            v.added.append(inp.name)
            continue
        try:
            actual = _sha256(inp.path)
        except OSError as e:
            actual = f"unreadable: {e.strerror or e}"
        if actual != expected[inp.name]:
            v.changed.append((inp.name, expected[inp.name], actual))
        else:
            v.unchanged += 1
    v.removed = sorted(n for n in expected if n not in seen)
    return v
