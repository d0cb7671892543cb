"""Shared machinery for the model-backed detectors (`ner`, `classify`).

- loading a Hugging Face model offline (local path or existing cache; `local_files_only`
  unless the profile sets `allow_download: true`), with one-line errors for users;
- device and dtype choice (bf16/fp16 on CUDA, fp32 on CPU);
- tokenizing with the fast tokenizer's Rust backend (character offsets, word ids), and
  windowing long token sequences with overlap (each token owned by exactly one window);
- dynamic batching by token count with length bucketing (sort by length, pack up to a budget
  of padded tokens), so a batch of short texts is wide and a batch of long ones is narrow;
- a background thread that prepares the next batch's tensors while the model runs the current
  one, and a one-step lookahead on CUDA so results of batch i are copied back and decoded while
  the GPU already runs batch i+1.

Nothing here imports torch at module import time: a profile can be validated without torch.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from workbench.config import expand_env
from workbench.detectors.base import windows as token_windows  # noqa: F401 (token windows)

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- configuration


def resolve_device(device: str = "auto"):
    """'auto' -> cuda if available else cpu; otherwise the torch device named."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from workbench.config import ConfigError

        raise ConfigError(f"device {device!r} requested but CUDA is not available (use device: auto or cpu)")
    return dev


def resolve_dtype(dtype: str, device):
    """'auto' -> bf16 on a CUDA device that supports it, else fp16 on CUDA, fp32 on CPU."""
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]


def load_model(auto_cls_name: str, model: str, *, allow_download: bool = False, trust_remote_code: bool = False,
               revision: str | None = None, device: str = "auto", dtype: str = "auto",
               attn_implementation: str | None = "sdpa"):
    """Load (tokenizer, model, device) for inference; never downloads unless allowed.

    `auto_cls_name` is e.g. "AutoModelForTokenClassification". Errors are ConfigError lines that
    name the model and what to do, never a traceback.
    """
    import torch
    import transformers
    from workbench.config import ConfigError

    model = expand_env(model)
    if not allow_download:
        # huggingface_hub reads this at import time in some versions; local_files_only is what binds.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    local = Path(model).expanduser()
    if local.exists():
        model = str(local)
        if not (local / "config.json").is_file():
            raise ConfigError(f"model {model}: no config.json in that directory (expected a Hugging Face model folder)")
    elif model.startswith((".", "/", "~")):
        raise ConfigError(f"model {model}: directory not found")
    kw: dict[str, Any] = dict(local_files_only=not allow_download, trust_remote_code=trust_remote_code)
    if revision:
        kw["revision"] = revision
    try:
        tok = transformers.AutoTokenizer.from_pretrained(model, **kw)
    except Exception as e:  # noqa: BLE001 - turned into one line for the user
        hint = "" if allow_download else " (offline: give a local directory or a hub id already in the HF cache, or set allow_download: true)"
        raise ConfigError(f"model {model}: cannot load its tokenizer: {type(e).__name__}{hint}") from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"model {model}: needs a fast (Rust) tokenizer for character offsets")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    cls = getattr(transformers, auto_cls_name)
    mkw = dict(kw)
    if attn_implementation:
        mkw["attn_implementation"] = attn_implementation
    mkw[dtype_kwarg()] = torch_dtype
    try:
        try:
            mdl = cls.from_pretrained(model, **mkw)
        except (ValueError, TypeError) as e:
            if attn_implementation and "attn" in str(e).lower():
                mkw.pop("attn_implementation")
                mdl = cls.from_pretrained(model, **mkw)
            else:
                raise
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001
        hint = "" if allow_download else " (offline: give a local directory or a hub id already in the HF cache, or set allow_download: true)"
        raise ConfigError(f"model {model}: cannot load it as {auto_cls_name}: {type(e).__name__}{hint}") from None
    mdl.eval()
    mdl.to(dev)
    if mdl.dtype != torch_dtype:
        mdl.to(dtype=torch_dtype)
    return tok, mdl, dev


def dtype_kwarg() -> str:
    """`from_pretrained` takes `dtype` since transformers 4.56, `torch_dtype` before."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__.split("+")[0]) >= Version("4.56") else "torch_dtype"


# --------------------------------------------------------------------------- tokenizing


@dataclass
class Encoded:
    """One text's tokens without special tokens: ids, character offsets [T, 2], word ids [T]."""

    ids: np.ndarray
    offsets: np.ndarray
    word_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class EncodedBatch:
    """A batch of texts' tokens as flat arrays (no Python object per token or per text):
    text i owns tokens [starts[i], starts[i+1]); word ids are per text."""

    ids: np.ndarray       # [N] int64
    offsets: np.ndarray   # [N, 2] int64, character offsets into the text
    word_ids: np.ndarray  # [N] int64
    starts: np.ndarray    # [T + 1] int64

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def text(self, i: int) -> Encoded:
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return Encoded(self.ids[a:b], self.offsets[a:b], self.word_ids[a:b])


class TokenizerAdapter:
    """The fast tokenizer's Rust backend, with the model's special-token frame found once."""

    def __init__(self, tokenizer, model_max_positions: int | None = None):
        self.tokenizer = tokenizer
        self.backend = tokenizer.backend_tokenizer
        self.backend.no_truncation()
        self.backend.no_padding()
        probe = self.backend.encode("x", add_special_tokens=False).ids
        framed = self.backend.encode("x", add_special_tokens=True).ids
        pos = _find_sub(framed, probe)
        if pos < 0:  # unusual post-processor: fall back to no frame
            self.prefix, self.suffix = [], []
        else:
            self.prefix, self.suffix = framed[:pos], framed[pos + len(probe):]
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)
        limit = tokenizer.model_max_length
        if not limit or limit > 100_000:
            limit = (model_max_positions - 2) if model_max_positions else 512
        self.max_length = int(limit)

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def encode_batch(self, texts: Sequence[str]) -> EncodedBatch:
        """Tokenize in Rust (parallel), then build flat numpy arrays without per-token Python objects."""
        encs = self.backend.encode_batch(list(texts), add_special_tokens=False)
        lens = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
        starts = np.zeros(len(encs) + 1, dtype=np.int64)
        np.cumsum(lens, out=starts[1:])
        n = int(starts[-1])
        ids = np.fromiter(chain.from_iterable(e.ids for e in encs), dtype=np.int64, count=n)
        offsets = np.fromiter(chain.from_iterable(chain.from_iterable(e.offsets for e in encs)),
                              dtype=np.int64, count=2 * n).reshape(n, 2)
        try:
            wids = np.fromiter(chain.from_iterable(e.word_ids for e in encs), dtype=np.int64, count=n)
        except TypeError:  # tokens without a word (None): each becomes its own word
            parts = []
            for e in encs:
                w = np.asarray([-1 if x is None else x for x in e.word_ids], dtype=np.int64)
                parts.append(_fill_words(w) if len(w) and (w < 0).any() else w)
            wids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return EncodedBatch(ids, offsets, wids, starts)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        batch = self.encode_batch(texts)
        return [batch.text(i) for i in range(len(batch))]


def _find_sub(seq: list[int], sub: list[int]) -> int:
    for i in range(len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i
    return -1


def _fill_words(wids: np.ndarray) -> np.ndarray:
    out = np.empty_like(wids)
    nxt = int(wids.max()) + 1 if (wids >= 0).any() else 0
    for i, w in enumerate(wids):
        if w < 0:
            out[i] = nxt
            nxt += 1
        else:
            out[i] = w
    return out


def pack_by_tokens(lengths: Sequence[int], max_tokens: int, max_batch: int = 0,
                   multiple: int = 1) -> list[list[int]]:
    """Length bucketing: indices sorted by length (longest first), packed into batches whose
    padded size (n_seqs * longest, the longest rounded up to `multiple`) stays <= max_tokens.

    A sequence longer than the budget gets a batch of its own. `max_batch` > 0 caps the number
    of sequences per batch. Deterministic: ties keep input order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_max = 0
    for i in order:
        ln = -(-max(1, lengths[i]) // multiple) * multiple
        new_max = max(cur_max, ln)
        if cur and ((len(cur) + 1) * new_max > max_tokens or (max_batch and len(cur) >= max_batch)):
            batches.append(cur)
            cur, new_max = [], ln
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(cur)
    return batches


_END = object()


def prefetch(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate `items` in a background thread, at most `depth` items ahead (bounded memory).

    Used to tokenize / collate the next batch while the model runs the current one (the heavy
    parts, Rust tokenization and numpy, release the GIL). Exceptions are re-raised here.
    If the consumer stops early, the thread stops at its next item.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def work():
        try:
            for it in items:
                while not stop.is_set():
                    try:
                        q.put((True, it), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, _END))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put((False, e))

    th = threading.Thread(target=work, name="workbench-prefetch", daemon=True)
    th.start()
    try:
        while True:
            ok, it = q.get()
            if not ok:
                raise it
            if it is _END:
                return
            yield it
    finally:
        stop.set()


def run_pipelined(forward: Callable[[Any], Any], batches: Iterable[tuple[Any, Any]], device) -> Iterator[tuple[Any, Any]]:
    """Run `forward(inputs)` over (meta, inputs) batches and yield (meta, host_output).

    On CUDA the output is copied to host asynchronously and batch i is handed back only after
    batch i+1 was launched, so decoding on the CPU overlaps the GPU's work. On CPU it is a plain
    loop. `forward` must return a tensor (on the device).
    """
    import torch

    if device.type != "cuda":
        for meta, inputs in batches:
            yield meta, forward(inputs).cpu()
        return
    pending: list[tuple[Any, Any, Any]] = []
    for meta, inputs in batches:
        out = forward(inputs)
        host = torch.empty(out.shape, dtype=out.dtype, device="cpu", pin_memory=True)
        host.copy_(out, non_blocking=True)
        ev = torch.cuda.Event()
        ev.record()
        pending.append((meta, host, ev))
        if len(pending) > 1:
            m, h, e = pending.pop(0)
            e.synchronize()
            yield m, h
    for m, h, e in pending:
        e.synchronize()
        yield m, h


def to_device(tensors: tuple, device) -> tuple:
    return tuple(t.to(device, non_blocking=True) for t in tensors)


# --------------------------------------------------------------------------- windows -> model


@dataclass
class Windows:
    """Windows over an EncodedBatch, as arrays of global token indices: window k covers tokens
    [ws[k], we[k]) of text text[k]; predictions for tokens [own_start[k], own_end[k]) come from it."""

    text: np.ndarray
    ws: np.ndarray
    we: np.ndarray
    own_start: np.ndarray
    own_end: np.ndarray

    def __len__(self) -> int:
        return len(self.text)


def plan_windows(batch: EncodedBatch, size: int, overlap: int) -> Windows:
    lens = batch.lengths
    starts = batch.starts[:-1]
    short = np.flatnonzero((lens > 0) & (lens <= size))  # the common case: one window per text
    cols: list[list[int]] = [[], [], [], [], []]
    for t in np.flatnonzero(lens > size).tolist():
        base = int(starts[t])
        for ws, we, os_, oe in token_windows(int(lens[t]), size, overlap):
            for c, v in zip(cols, (t, base + ws, base + we, base + os_, base + oe)):
                c.append(v)
    text = np.concatenate([short, np.asarray(cols[0], dtype=np.int64)])
    ws = np.concatenate([starts[short], np.asarray(cols[1], dtype=np.int64)])
    we = np.concatenate([starts[short] + lens[short], np.asarray(cols[2], dtype=np.int64)])
    os_ = np.concatenate([ws[: len(short)], np.asarray(cols[3], dtype=np.int64)])
    oe = np.concatenate([we[: len(short)], np.asarray(cols[4], dtype=np.int64)])
    order = np.lexsort((ws, text))
    return Windows(text[order], ws[order], we[order], os_[order], oe[order])


def owned_rows(win: Windows, idx: np.ndarray, n_prefix: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the windows `idx` of one batch: (batch row, column in the model output, global token)
    of every owned token, so that `out[row, col]` is the prediction for token `tok`."""
    os_, oe, ws = win.own_start[idx], win.own_end[idx], win.ws[idx]
    cnt = oe - os_
    rows = np.repeat(np.arange(len(idx)), cnt)
    within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    tok = os_[rows] + within
    col = n_prefix + (os_ - ws)[rows] + within
    return rows, col, tok


class BatchRunner:
    """Feeds windows to a model in token-budget batches; yields (window indices, host array).

    `head(logits)` turns the model's logits into what the caller needs (e.g. softmax in fp32);
    it runs on the device inside `torch.inference_mode()`. Tensors for the next batch are built
    in a background thread while the model runs the current one.
    """

    def __init__(self, model, adapter: TokenizerAdapter, device, *, max_tokens: int, max_batch: int,
                 head: Callable[[Any], Any]):
        self.model = model
        self.adapter = adapter
        self.device = device
        self.max_tokens = max_tokens
        self.max_batch = max_batch
        self.head = head
        self.multiple = 8 if device.type == "cuda" else 1

    def _forward(self, inputs):
        import torch

        with torch.inference_mode():
            ids, mask = to_device(inputs, self.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            return self.head(logits)

    def collate(self, batch: EncodedBatch, win: Windows, idx: np.ndarray):
        """Right-padded (input_ids, attention_mask) for windows `idx`, special tokens added."""
        import torch

        a = self.adapter
        npre, nsuf = len(a.prefix), len(a.suffix)
        ws = win.ws[idx]
        ln = win.we[idx] - ws
        width_c = int(ln.max())
        width = -(-(width_c + npre + nsuf) // self.multiple) * self.multiple
        n = len(idx)
        ids = np.full((n, width), a.pad_id, dtype=np.int64)
        if npre:
            ids[:, :npre] = a.prefix
        cols = np.arange(width_c)
        m = cols[None, :] < ln[:, None]
        body = ids[:, npre:npre + width_c]
        body[m] = batch.ids[(ws[:, None] + cols[None, :])[m]]
        r = np.arange(n)
        for j, t in enumerate(a.suffix):
            ids[r, npre + ln + j] = t
        mask = (np.arange(width)[None, :] < (ln + npre + nsuf)[:, None]).astype(np.int64)
        t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
        if self.device.type == "cuda":
            t_ids, t_mask = t_ids.pin_memory(), t_mask.pin_memory()
        return t_ids, t_mask

    def run(self, batch: EncodedBatch, win: Windows) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if len(win) == 0:
            return
        lengths = (win.we - win.ws + self.adapter.n_special).tolist()
        batches = pack_by_tokens(lengths, self.max_tokens, self.max_batch, self.multiple)

        def make():
            for b in batches:
                idx = np.asarray(b, dtype=np.int64)
                yield idx, self.collate(batch, win, idx)

        for idx, out in run_pipelined(self._forward, prefetch(make(), depth=2), self.device):
            yield idx, out.float().numpy()
