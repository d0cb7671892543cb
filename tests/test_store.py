import json
import os
import stat

import pyarrow as pa
import pytest

from workbench.store import FINDINGS, Store, StoreError
from workbench.store.secrets import mask
from workbench.store.views import connect


def test_key_created_once_with_mode_0600(tmp_path):
    s = Store(tmp_path / "st")
    h1 = s.hash("jane@example.com")
    mode = stat.S_IMODE(os.stat(tmp_path / "st" / "key").st_mode)
    assert mode == 0o600
    # a second handle on the same store reads the same key: hashes join across runs
    assert Store(tmp_path / "st").hash("jane@example.com") == h1
    # another store has another key
    assert Store(tmp_path / "other").hash("jane@example.com") != h1
    assert len(h1) == 64 and "jane" not in h1


@pytest.mark.parametrize(
    "value",
    ["john.doe@example.com", "4111 1111 1111 1111", "078-05-1120", "ab", "x", "", "GB82WEST12345698765432"],
)
def test_mask_keeps_at_most_four_characters_and_the_shape(value):
    m = mask(value)
    assert len(m) == len(value)  # these are all short enough to keep their length
    kept = [c for c, o in zip(m, value) if c == o and c.isalnum()]
    assert len(kept) <= 4
    # at most an eighth of the value's alphanumerics on each side
    n = sum(c.isalnum() for c in value)
    assert len(kept) <= 2 * (n // 8)
    for c, o in zip(m, value):
        if not o.isalnum():
            assert c == o  # separators stay


def test_write_table_is_atomic_and_replaces(tmp_path):
    s = Store(tmp_path)
    row = {n: [None] for n in FINDINGS.names}
    row.update(source_uri=["a"], record_id=["a:0"], entity_type=["EMAIL_ADDRESS"], start=[0], end=[3], score=[1.0])
    t = pa.Table.from_pydict(row, schema=FINDINGS)
    p = s.write_table("findings", "r1", "shard-1", t)
    s.write_table("findings", "r1", "shard-1", pa.concat_tables([t, t]))  # redo replaces, never appends
    assert p.exists() and not list(p.parent.glob("*.tmp"))
    con = connect(tmp_path)
    assert con.execute("select count(*) from findings").fetchone()[0] == 2
    assert con.execute("select distinct run_id from findings").fetchone()[0] == "r1"


def test_views_exist_on_an_empty_store(tmp_path):
    Store(tmp_path)
    con = connect(tmp_path)
    for v in ("findings", "records", "probes", "runs"):
        assert con.execute(f"select count(*) from {v}").fetchone()[0] == 0


def test_bad_run_id_and_unwritable_store(tmp_path):
    s = Store(tmp_path)
    with pytest.raises(StoreError):
        s.run_dir("../escape")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores mode bits: use a path under a file instead
            target = tmp_path / "afile"
            target.write_text("x")
            with pytest.raises(StoreError):
                Store(target / "store")
        else:
            with pytest.raises(StoreError):
                Store(ro / "store")
    finally:
        ro.chmod(0o700)


def test_manifest_roundtrip(tmp_path):
    s = Store(tmp_path)
    s.write_manifest("r1", {"run_id": "r1", "status": "done", "counts": {"findings": 3}})
    assert s.read_manifest("r1")["counts"]["findings"] == 3
    assert json.loads((tmp_path / "runs" / "r1" / "manifest.json").read_text())["status"] == "done"


def test_mask_of_a_long_value_is_bounded():
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEA" * 100 + "\n-----END RSA PRIVATE KEY-----"
    m = mask(pem)
    assert len(m) < 80 and f"({len(pem)} chars)" in m
    body = "MIIEowIBAAKCAQEA" * 100
    assert body[:8] not in m and "MIIE" not in m
