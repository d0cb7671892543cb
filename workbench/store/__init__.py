"""The on-disk store shared by every part of workbench (see DESIGN.md, "The store")."""

from workbench.store.schema import FINDINGS, PROBES, RECORDS, TABLES
from workbench.store.store import Store, StoreError, check_run_id, new_run_id

__all__ = ["FINDINGS", "PROBES", "RECORDS", "TABLES", "Store", "StoreError", "check_run_id", "new_run_id"]
