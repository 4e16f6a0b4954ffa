"""Quantization ladders: variants of a GGUF written by llama.cpp's own quantizer
(llama_model_quantize) and registered in the user's models.toml as ``MODEL@TYPE``, so
``lbtui run -m MODEL,MODEL@q8_0,MODEL@q4_k_m`` audits them side by side.

A variant is written beside its final name and renamed into place, and the registry is
rewritten the same way, so an interrupted quantization leaves neither a truncated GGUF
nor a half-written models.toml.
"""

from __future__ import annotations

import ctypes
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import ModelError, UserError
from . import ModelSpec
from .gguf import check_gguf, check_model_header, quiet_stderr, weights

# The types lbtui offers, by llama.cpp's own names (llama-quantize's). The i-quants below
# 4 bits and the ternary types need an importance matrix, which lbtui does not compute.
TYPES = (
    "f16",
    "bf16",
    "q8_0",
    "q6_k",
    "q5_k_m",
    "q5_k_s",
    "q5_1",
    "q5_0",
    "q4_k_m",
    "q4_k_s",
    "q4_1",
    "q4_0",
    "iq4_nl",
    "iq4_xs",
    "q3_k_l",
    "q3_k_m",
    "q3_k_s",
    "q2_k",
)
NEEDS_IMATRIX = (
    "iq1_s",
    "iq1_m",
    "iq2_xxs",
    "iq2_xs",
    "iq2_s",
    "iq2_m",
    "iq3_xxs",
    "iq3_xs",
    "iq3_s",
    "iq3_m",
    "q2_k_s",
    "tq1_0",
    "tq2_0",
)
UNQUANTIZED = {"all_f32", "f16", "bf16"}
MARK = "# written by lbtui quantize"


@dataclass(frozen=True)
class Variant:
    name: str  # MODEL@TYPE
    type: str
    path: Path
    source: str
    bits_per_weight: float
    n_params: int
    size_bytes: int
    written: bool  # False: an existing file of the same name was kept


def variant_name(model: str, qtype: str) -> str:
    return f"{model}@{qtype}"


def _ftype(qtype: str) -> int:
    import llama_cpp

    return int(getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}"))


def ftype_name(value: int | str | None) -> str | None:
    """llama.cpp's general.file_type number as a type name (7 -> 'q8_0')."""
    import llama_cpp

    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    for attr in dir(llama_cpp):
        if attr.startswith("LLAMA_FTYPE_") and attr != "LLAMA_FTYPE_GUESSED" and getattr(llama_cpp, attr) == value:
            return attr.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").lower()
    return None


def parse_types(text: str) -> list[str]:
    out = []
    for t in (x.strip().lower() for x in text.split(",")):
        if not t:
            continue
        if t in NEEDS_IMATRIX:
            raise UserError(
                "--types",
                f"{t} needs an importance matrix (llama-imatrix), which lbtui quantize does not compute;"
                f" choose from {', '.join(TYPES)}",
            )
        if t not in TYPES:
            raise UserError("--types", f"unknown type {t!r}; choose from {', '.join(TYPES)}")
        if t not in out:
            out.append(t)
    if not out:
        raise UserError("--types", "give at least one type, e.g. q8_0,q4_k_m")
    return out


def describe(path: Path) -> dict:
    """File type, parameters, tensor bytes and bits per weight of a GGUF, read without
    loading its weights (vocab-only)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    mp = llama_cpp.llama_model_default_params()
    mp.vocab_only = True
    with quiet_stderr():
        m = LlamaModel(path_model=str(path), params=mp, verbose=False)
    try:
        w = weights(llama_cpp, m.model, m.metadata())
    finally:
        m.close()
    return {
        "type": ftype_name(w["file_type"]),
        "n_params": w["n_params"],
        "size_bytes": w["model_bytes"],
        "bits_per_weight": w["bits_per_weight"] or 0.0,
    }


def quantize(
    spec: ModelSpec,
    types: list[str],
    *,
    out_dir: Path | None = None,
    threads: int = 0,
    force: bool = False,
    note=lambda message: None,
) -> list[Variant]:
    """Write each type's variant of the model (existing files are kept unless ``force``)."""
    where = f"{spec.source}: models.{spec.name}" if spec.source else "--model"
    if spec.server and spec.path is None and spec.package is None:
        raise UserError("MODEL", f"{spec.name} is a server model; quantize needs a local GGUF")
    src = spec.locate()
    check_gguf(src, where=where)
    check_model_header(src, where=where)
    info = describe(src)
    if info["type"] not in UNQUANTIZED:
        note(
            f"warning: {spec.name} is already quantized ({info['type'] or 'unknown type'},"
            f" {info['bits_per_weight']:.2f} bits"
            " per weight); requantizing loses more than quantizing the original F16/BF16 weights would, so the"
            " ladder measures the requantized files, not what the publisher's own quantizations would give"
        )
    out_dir = out_dir or paths.data_dir() / "models"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths.remove_stale(out_dir, r".+\.gguf\.part(?P<pid>\d+)")  # a killed quantize's half-written files
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.name)
    made = []
    for qtype in types:
        target = paths.within(out_dir, f"{stem}-{qtype}.gguf", "--out-dir")
        written = False
        if force or not target.is_file():
            note(f"writing {target} ({qtype})")
            _write(src, target, qtype, threads, where)
            written = True
        else:
            note(f"{target} exists; kept (--force writes it again)")
        d = describe(target)
        made.append(
            Variant(
                variant_name(spec.name, qtype),
                qtype,
                target,
                spec.name,
                d["bits_per_weight"],
                d["n_params"],
                d["size_bytes"],
                written,
            )
        )
    return made


def _write(src: Path, target: Path, qtype: str, threads: int, where: str) -> None:
    """llama.cpp's quantizer from ``src`` to ``target``, through a temporary name renamed
    into place (a killed or failed run leaves no half-written variant)."""
    import llama_cpp

    tmp = target.with_name(target.name + f".part{os.getpid()}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _ftype(qtype)
    params.allow_requantize = True
    params.nthread = threads or os.cpu_count() or 1
    try:
        with quiet_stderr():
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            raise ModelError(
                where,
                f"llama.cpp could not quantize {src} to {qtype} (code {rc}); LBTUI_VERBOSE=1 shows its log",
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


# --- the user's registry ----------------------------------------------------------------


def _block(v: Variant, spec: ModelSpec) -> str:
    import tomli_w

    entry = {
        "path": str(v.path),
        "n_ctx": spec.n_ctx,
        "n_gpu_layers": spec.n_gpu_layers,
        "n_threads": spec.n_threads,
        "chat_template": spec.chat_template,
        "quantized_from": v.source,
        "quant_type": v.type,
        "note": f"{v.source} quantized to {v.type} by lbtui quantize ({v.bits_per_weight:.2f} bits per weight)",
    }
    return f"{MARK} ({v.source} -> {v.type})\n" + tomli_w.dumps({"models": {v.name: entry}})


def _header_name(line: str) -> str | None:
    """The model a ``[models.NAME]`` table header names, however NAME is quoted."""
    if not line.strip().startswith("[models."):
        return None
    try:
        (name,) = tomllib.loads(line.strip() + "\n")["models"]
    except (tomllib.TOMLDecodeError, ValueError):
        return None
    return name


def register(variants: list[Variant], spec: ModelSpec, registry_file: Path | None = None) -> Path:
    """Add or replace each variant's entry in the user's models.toml. Entries lbtui wrote
    (marked) are replaced; a same-named entry a person wrote is never touched."""
    target = registry_file or paths.config_dir() / "models.toml"
    text = target.read_text(encoding="utf-8") if target.is_file() else ""
    if text:
        try:
            have = tomllib.loads(text).get("models", {})
        except tomllib.TOMLDecodeError as e:
            raise ModelError(str(target), f"TOML syntax error: {e}; fix it before lbtui adds models to it") from None
    else:
        have = {}
    for v in variants:
        if v.name in have:
            text, removed = _remove_block(text, v.name)
            if not removed:
                raise ModelError(
                    f"{target}: models.{v.name}", "exists and was not written by lbtui quantize; rename or remove it"
                )
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + _block(v, spec)
    tomllib.loads(text)  # never write a registry that would not load
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".part{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def _remove_block(text: str, name: str) -> tuple[str, bool]:
    """Drop the marked block of ``name`` (from its marker line to the next blank line)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if i > 0 and lines[i - 1].startswith(MARK) and _header_name(line) == name:
            end = i + 1
            while end < len(lines) and lines[end].strip() and not lines[end].startswith(("[", MARK)):
                end += 1
            return "".join(lines[: i - 1] + lines[end:]).rstrip("\n") + "\n", True
    return text, False
