"""GGUF file helpers: refusing what is not a complete GGUF file, what llama.cpp says a
model's weights are, and keeping llama.cpp's C logging off the user's terminal.

Reading a header: llama.cpp trusts a header's numbers (a block count of 2^31-1 or head
counts that do not fit the tensors abort the process, where no message can follow) and
says a file without tensors (a vocabulary-only GGUF) might be truncated. The header (key/
value pairs, then each tensor's name and shape) is read here, bounded by the file's size,
and what llama.cpp would trust is compared with the tensors the file holds."""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

# llama.cpp aborts the process below this (it reserves outputs for 64 sequences) and
# wraps context sizes past 2^32; 2^24 tokens is beyond any GGUF model lbtui can load.
MIN_N_CTX, MAX_N_CTX = 256, 2**24


def check_gguf(path: Path, *, where: str) -> None:
    """Refuse a missing, non-GGUF or obviously truncated file before llama.cpp sees it."""
    if not path.exists():
        raise ModelError(where, f"model file {path} does not exist")
    if not path.is_file():
        raise ModelError(where, f"{path} is not a file")
    with path.open("rb") as f:
        head = f.read(24)
    if head[:4] != b"GGUF":
        raise ModelError(where, f"{path} is not a GGUF file (it does not start with 'GGUF')")
    if len(head) < 24:
        raise ModelError(where, f"{path} is truncated ({path.stat().st_size} bytes)")


def weights(lc, model, metadata: dict) -> dict:
    """Parameters, tensor bytes, bits per weight and file type: what a quantization ladder
    compares."""
    n, size = int(lc.llama_model_n_params(model)), int(lc.llama_model_size(model))
    return {
        "n_params": n,
        "model_bytes": size,
        "bits_per_weight": round(size * 8 / n, 4) if n else None,
        "file_type": metadata.get("general.file_type"),
    }


@contextlib.contextmanager
def quiet_stderr():
    """llama.cpp logs model loading to fd 2 from C; keep the user's terminal for our output
    unless LBTUI_VERBOSE is set."""
    if os.environ.get("LBTUI_VERBOSE"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# GGUF value types: struct formats of the fixed-size ones; 8 is a string, 9 an array.
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_ITEMS = 10_000_000  # key/value pairs, tensors or array items: far past any real model
# Keys whose text lbtui shows or renders: they must be UTF-8.
TEXT_KEYS = ("general.name", "general.architecture", "tokenizer.chat_template")
# Past these a header is not a model llama.cpp can load here (it would abort or wrap).
MAX_BLOCKS = 4096
MAX_HEADS = 65_536


class _Bad(Exception):
    """The header ends early or holds an impossible size."""


@dataclass(frozen=True)
class Header:
    version: int
    meta: dict  # key -> value (arrays of strings or numbers are kept only as their length)
    tensors: dict  # name -> shape (GGUF order: the first is the row length)


def read_header(path: Path, *, where: str) -> Header:
    """The header of the GGUF file at ``path``; ModelError naming the file if it cannot be one."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(mm)
    except (ValueError, OSError) as e:  # an empty file cannot be mapped
        raise ModelError(where, f"{path} is not a readable GGUF file ({e})") from None
    except _Bad as e:
        raise ModelError(where, f"{path}: the GGUF header is damaged or truncated ({e})") from None


class _Reader:
    """Reads a GGUF header's values from ``mm`` at ``pos``, refusing anything that runs
    past the end or claims absurd counts (a hostile or damaged file)."""

    def __init__(self, mm):
        self.mm, self.pos = mm, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.mm):
            raise _Bad(f"ends at byte {len(self.mm)} inside the header")
        (v,) = struct.unpack_from(fmt, self.mm, self.pos)
        self.pos += size
        return v

    def count(self, what: str) -> int:
        n = self.take("<Q")
        if n > _MAX_ITEMS:
            raise _Bad(f"{n} {what}")
        return n

    def raw_string(self) -> bytes:
        n = self.take("<Q")
        if self.pos + n > len(self.mm):
            raise _Bad(f"a string of {n} bytes at byte {self.pos} runs past the end")
        self.pos += n
        return self.mm[self.pos - n : self.pos]

    def value(self, kind: int):
        if kind in _FIXED:
            return self.take(_FIXED[kind])
        if kind == _STRING:
            return self.raw_string()
        if kind == _ARRAY:
            return self._array(self.take("<I"), self.count("array items"))
        raise _Bad(f"a value of type {kind}")

    def _array(self, item: int, n: int):
        if item in _FIXED:
            size = struct.calcsize(_FIXED[item]) * n
            if self.pos + size > len(self.mm):
                raise _Bad(f"an array of {n} items runs past the end")
            got = list(struct.unpack_from(f"<{n}{_FIXED[item][1]}", self.mm, self.pos)) if n <= 64 else n
            self.pos += size  # small arrays (per-layer head counts) are kept; vocabularies are not
            return got
        if item == _STRING:
            for _ in range(n):
                self.raw_string()
            return n
        raise _Bad(f"an array of type {item}")


def _parse(mm) -> Header:
    if mm[:4] != b"GGUF":
        raise _Bad("it does not start with 'GGUF'")
    r = _Reader(mm)
    r.pos = 4
    version = r.take("<I")
    if version < 2:
        raise _Bad(f"GGUF version {version}; llama.cpp reads versions 2 and 3")
    n_tensors, n_kv = r.count("tensors"), r.count("key/value pairs")
    meta = {}
    for _ in range(n_kv):
        key = r.raw_string().decode("utf-8", "replace")
        meta[key] = r.value(r.take("<I"))
    tensors = {}
    for _ in range(n_tensors):
        name = r.raw_string().decode("utf-8", "replace")
        dims = r.take("<I")
        if dims > 8:
            raise _Bad(f"tensor {name!r} has {dims} dimensions")
        tensors[name] = tuple(r.take("<Q") for _ in range(dims))
        r.take("<I"), r.take("<Q")  # its type and offset
    return Header(version, meta, tensors)


def check_model_header(path: Path, *, where: str) -> Header:
    """Refuse, in one line, a GGUF that llama.cpp would abort on or misreport: no tensors
    (vocabulary only), text that is not UTF-8, or layer, head and embedding numbers that
    do not fit the tensors the file holds. A file that passed is not read again while it
    is unchanged (the loader and the backend both ask)."""
    st = path.stat()
    return _checked_header(str(path.resolve()), st.st_size, st.st_mtime_ns, where)


@functools.lru_cache(maxsize=16)
def _checked_header(path_text: str, size: int, mtime_ns: int, where: str) -> Header:
    path = Path(path_text)
    h = read_header(path, where=where)
    for key in TEXT_KEYS:
        v = h.meta.get(key)
        if isinstance(v, bytes):
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                raise ModelError(where, f"{path}: GGUF field {key} is not UTF-8 text") from None
    if not h.tensors:
        raise ModelError(
            where,
            f"{path} holds no weights (no tensors): a vocabulary-only GGUF can tokenize (lbtui prompt) but not score",
        )
    arch = h.meta.get("general.architecture")
    arch = arch.decode("utf-8") if isinstance(arch, bytes) else None
    if not arch:
        raise ModelError(where, f"{path}: GGUF field general.architecture is missing")

    def number(key: str, lo: int, hi: int) -> list[int]:
        v = h.meta.get(f"{arch}.{key}")
        if v is None:
            return []
        got = v if isinstance(v, list) else [v]
        if not all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in got):
            shown = v if isinstance(v, (int, float, list)) else type(v).__name__
            raise ModelError(where, f"{path}: GGUF field {arch}.{key} = {shown} is outside {lo}..{hi}")
        return got

    blocks = number("block_count", 1, MAX_BLOCKS)
    layers = {int(name.split(".")[1]) for name in h.tensors if name.startswith("blk.") and name.split(".")[1].isdigit()}
    if blocks and layers and blocks[0] != max(layers) + 1:
        raise ModelError(
            where,
            f"{path}: GGUF field {arch}.block_count = {blocks[0]} but the file holds the tensors of"
            f" {max(layers) + 1} blocks",
        )
    embd = number("embedding_length", 1, 1 << 20)
    table = h.tensors.get("token_embd.weight")
    if embd and table and table[0] != embd[0]:
        raise ModelError(
            where, f"{path}: GGUF field {arch}.embedding_length = {embd[0]} but token_embd.weight rows hold {table[0]}"
        )
    heads = number("attention.head_count", 0, MAX_HEADS)
    kv = number("attention.head_count_kv", 0, MAX_HEADS)
    for i, (q, k) in enumerate(zip(heads, kv if len(kv) == len(heads) else kv * len(heads))):
        if k and q % k:
            raise ModelError(
                where,
                f"{path}: GGUF field {arch}.attention.head_count ({q}) is not a multiple of"
                f" head_count_kv ({k})" + (f" in block {i}" if len(heads) > 1 else ""),
            )
    number("context_length", 1, 1 << 31)
    return h
