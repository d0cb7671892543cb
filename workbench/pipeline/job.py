"""Job configuration for `ray job submit` entrypoints (jobs/scan_pii.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from workbench.config import ConfigError, Strict, _format_validation_error


class ScanJob(Strict):
    inputs: list[str] = Field(..., min_length=1, description="files, directories or globs")
    out: str = Field(..., description="store directory")
    profile: str = "pii-default"
    fields: list[str] | None = None
    id_field: str | None = None
    run_id: str | None = None
    workers: int | None = Field(None, ge=1)
    store_matches: bool = False


def load_scan_job(path: str | Path, base: str | Path | None = None) -> ScanJob:
    """Read a scan job file; relative paths inside it are resolved against `base` (default: cwd)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"job config not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
        job = ScanJob.model_validate(data)
    except yaml.YAMLError:
        raise ConfigError(f"job config {p}: invalid YAML") from None
    except ValidationError as e:
        raise ConfigError(f"job config {p}: {_format_validation_error(e)}") from None
    if base is not None:
        b = Path(base)
        job.inputs = [i if Path(i).is_absolute() else str(b / i) for i in job.inputs]
        job.out = job.out if Path(job.out).is_absolute() else str(b / job.out)
    return job
