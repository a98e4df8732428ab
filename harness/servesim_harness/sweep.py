"""Sweep files: which shapes to time.  Parsed from YAML and validated strictly; every
problem is reported with the path of the offending value (``gemm.m[3]: must be a positive
integer, got -4``) and the file name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import yaml

from servesim_harness.families import (
    FAMILIES,
    AttnCase,
    Case,
    GemmCase,
    NcclCase,
    P2pCase,
)

BACKENDS = ("trtllm", "vllm", "sglang")
GEMM_DTYPES = ("bf16", "fp16", "fp8")
ATTN_DTYPES = ("bf16", "fp16")
KV_DTYPES = ("bf16", "fp16", "fp8")
NCCL_DTYPES = ("bf16", "fp16", "fp32")
NCCL_OPS = ("all_reduce", "all_gather", "reduce_scatter", "alltoall")
DECODE_KERNELS = ("auto", "sdpa", "flash_attn")
GPU_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

DEFAULT_BACKEND = "vllm"
DEFAULT_REPETITIONS = 20
DEFAULT_WARMUP = 5
MAX_ERRORS = 25
MAX_RANGE = 100_000
MAX_CASES = 1_000_000


class SweepError(Exception):
    """A sweep file that cannot be used; ``errors`` are ``path: message`` strings."""

    def __init__(self, file: str, errors: list[str]):
        self.file = file
        self.errors = errors
        super().__init__("\n".join(f"{file}: {e}" for e in errors))


@dataclass
class Sweep:
    """A validated sweep."""

    gpu: str | None
    backend: str
    backend_version: str | None
    repetitions: int
    warmup: int
    # Each family: its grids (one per mapping of the file; a list in the file gives
    # several), or None when the sweep does not measure it.
    gemm: list[dict[str, Any]] | None = None
    context_attention: list[dict[str, Any]] | None = None
    generation_attention: list[dict[str, Any]] | None = None
    nccl: list[dict[str, Any]] | None = None
    p2p_copy: list[dict[str, Any]] | None = None
    source_file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def families(self) -> list[str]:
        """The families this sweep measures, in run order."""
        return [f for f in FAMILIES if getattr(self, f) is not None]

    def cases(self, family: str) -> list[Case]:
        """Every case of one family, in a fixed order (the row order of its file): the
        cases of its first grid, then of the second..."""
        grids = getattr(self, family)
        if grids is None:
            return []
        return [case for grid in grids for case in _ENUMERATE[family](grid)]

    def count(self) -> dict[str, int]:
        return {f: len(self.cases(f)) for f in self.families()}


# ---------------------------------------------------------------------------------------
# Enumeration


def _gemm_cases(s: dict[str, Any]) -> Iterator[Case]:
    for dtype in s["dtypes"]:
        for n, k in s["nk"]:
            for m in s["m"]:
                yield GemmCase(dtype, m, n, k)


def _attn_cases(length_key: str, limit_key: str):
    def gen(s: dict[str, Any]) -> Iterator[Case]:
        limit = s.get(limit_key)
        for attn_dtype in s["attn_dtypes"]:
            for kv_dtype in s["kv_dtypes"]:
                for num_heads, num_kv_heads in s["heads"]:
                    for head_dim in s["head_dim"]:
                        for window in s["windows"]:
                            for batch in s["batch"]:
                                for length in s[length_key]:
                                    if limit is not None and batch * length > limit:
                                        continue
                                    yield AttnCase(
                                        batch, length, num_heads, num_kv_heads, head_dim,
                                        window, attn_dtype, kv_dtype,
                                    )

    return gen


def _nccl_cases(s: dict[str, Any]) -> Iterator[Case]:
    for op in s["ops"]:
        for dtype in s["dtypes"]:
            for n in s["num_gpus"]:
                for elems in s["message_elems"]:
                    yield NcclCase(op, dtype, n, elems)


def _p2p_cases(s: dict[str, Any]) -> Iterator[Case]:
    for src, dst in s["pairs"]:
        for b in s["bytes"]:
            yield P2pCase(src, dst, b)


_ENUMERATE = {
    "gemm": _gemm_cases,
    "context_attention": _attn_cases("isl", "max_tokens"),
    "generation_attention": _attn_cases("kv_len", "max_kv_tokens"),
    "nccl": _nccl_cases,
    "p2p_copy": _p2p_cases,
}


# ---------------------------------------------------------------------------------------
# Loading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_sweep(path: str | Path) -> Sweep:
    """Reads and validates a sweep file; raises :class:`SweepError` on any problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepError(name, ["no such file"]) from None
    except IsADirectoryError:
        raise SweepError(name, ["is a folder, not a sweep file"]) from None
    except UnicodeDecodeError as e:
        raise SweepError(name, [f"not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    except OSError as e:
        raise SweepError(name, [f"cannot read: {e.strerror or e}"]) from None
    return parse_sweep(text, name)


def parse_sweep(text: str, name: str = "<sweep>") -> Sweep:
    """Parses and validates sweep YAML text; ``name`` names it in errors."""
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = e.problem or e.context or "invalid YAML"
        raise SweepError(name, [f"{where}YAML error: {what}"]) from None
    except yaml.YAMLError as e:
        raise SweepError(name, [f"YAML error: {e}"]) from None
    v = _Validator()
    sweep = v.sweep(doc)
    if v.errors:
        errors = v.errors[:MAX_ERRORS]
        if len(v.errors) > MAX_ERRORS:
            errors.append(f"... and {len(v.errors) - MAX_ERRORS} more errors")
        raise SweepError(name, errors)
    assert sweep is not None
    sweep.source_file = name
    return sweep


# ---------------------------------------------------------------------------------------
# Validation


def _show(x: Any) -> str:
    """How a bad value is quoted in an error."""
    if x is None:
        return "null (an empty value)"
    if isinstance(x, bool):
        return f"{'true' if x else 'false'} (a boolean)"
    if isinstance(x, int | float):
        return repr(x)
    if isinstance(x, str):
        return f"{x!r} (a string)"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a mapping"
    return f"a {type(x).__name__}"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}" if path else msg)

    # -- scalars ---------------------------------------------------------------------

    def int_at_least(self, x: Any, path: str, low: int) -> int | None:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        if not _is_int(x) or x < low:
            self.err(path, f"must be {what}, got {_show(x)}")
            return None
        return x

    def string(self, x: Any, path: str) -> str | None:
        if not isinstance(x, str) or not x.strip():
            hint = " (quote it, e.g. \"0.10\")" if isinstance(x, int | float) and not isinstance(x, bool) else ""
            self.err(path, f"must be a non-empty string{hint}, got {_show(x)}")
            return None
        if "\n" in x or "\r" in x:
            self.err(path, "must be a single line")
            return None
        return x.strip()

    def choice(self, x: Any, path: str, allowed: tuple[str, ...], what: str) -> str | None:
        if not isinstance(x, str):
            self.err(path, f"must be a {what} name ({', '.join(allowed)}), got {_show(x)}")
            return None
        if x not in allowed:
            self.err(path, f"unknown {what} {x!r} (expected one of: {', '.join(allowed)})")
            return None
        return x

    # -- containers ------------------------------------------------------------------

    def mapping(self, x: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict | None:
        if not isinstance(x, dict):
            self.err(path, f"must be a mapping with keys {', '.join(allowed)}, got {_show(x)}")
            return None
        ok = True
        for k in x:
            if k not in allowed:
                self.err(_join(path, str(k)), f"unknown key (expected one of: {', '.join(allowed)})")
                ok = False
        for k in required:
            if k not in x:
                self.err(_join(path, k), "missing (required)")
                ok = False
        return x if ok else None

    def nonempty_list(self, x: Any, path: str, what: str) -> list | None:
        if not isinstance(x, list):
            self.err(path, f"must be a list of {what}, got {_show(x)}")
            return None
        if not x:
            self.err(path, f"must not be empty (give at least one {what.rstrip('s')})")
            return None
        return x

    def no_duplicates(self, values: list, path: str, show=str) -> bool:
        first: dict[Any, int] = {}
        ok = True
        for i, val in enumerate(values):
            key = tuple(val) if isinstance(val, list) else val
            if key in first:
                self.err(f"{path}[{i}]", f"duplicate of {path}[{first[key]}] ({show(val)})")
                ok = False
            else:
                first[key] = i
        return ok

    def choices(self, x: Any, path: str, allowed: tuple[str, ...], what: str) -> list[str] | None:
        xs = self.nonempty_list(x, path, f"{what} names")
        if xs is None:
            return None
        out = [self.choice(v, f"{path}[{i}]", allowed, what) for i, v in enumerate(xs)]
        if any(v is None for v in out) or not self.no_duplicates(out, path):
            return None
        return out  # type: ignore[return-value]

    def sizes(self, x: Any, path: str, low: int = 1) -> list[int] | None:
        """A list of integers >= low, or a range mapping ``{from, to, mul}`` (geometric)
        or ``{from, to, step}`` (arithmetic), both ends included when reached."""
        if isinstance(x, dict):
            return self.size_range(x, path, low)
        what = "positive integers" if low == 1 else f"integers >= {low}"
        if not isinstance(x, list):
            self.err(path, f"must be a list of {what} or a range {{from, to, mul|step}}, got {_show(x)}")
            return None
        if not x:
            self.err(path, "must not be empty (give at least one value)")
            return None
        out = [self.int_at_least(v, f"{path}[{i}]", low) for i, v in enumerate(x)]
        if any(v is None for v in out) or not self.no_duplicates(out, path):
            return None
        return out  # type: ignore[return-value]

    def size_range(self, x: dict, path: str, low: int) -> list[int] | None:
        if self.mapping(x, path, ("from", "to", "mul", "step"), ("from", "to")) is None:
            return None
        if ("mul" in x) == ("step" in x):
            self.err(path, "a range needs exactly one of `mul` (geometric) or `step` (arithmetic)")
            return None
        start = self.int_at_least(x["from"], f"{path}.from", low)
        stop = self.int_at_least(x["to"], f"{path}.to", low)
        if "mul" in x:
            inc = self.int_at_least(x["mul"], f"{path}.mul", 2)
        else:
            inc = self.int_at_least(x["step"], f"{path}.step", 1)
        if start is None or stop is None or inc is None:
            return None
        if start == 0 and "mul" in x:
            self.err(f"{path}.from", "a geometric range must start above 0")
            return None
        if stop < start:
            self.err(path, f"`to` ({stop}) is below `from` ({start})")
            return None
        if "step" in x:
            count = (stop - start) // inc + 1
            if count > MAX_RANGE:
                self.err(path, f"range has {count} values; at most {MAX_RANGE} are allowed")
                return None
            return list(range(start, stop + 1, inc))
        out = []
        v = start
        while v <= stop:
            out.append(v)
            v *= inc
        return out

    def tuples(self, x: Any, path: str, arity: int, what: str, low: int = 1) -> list[tuple[int, ...]] | None:
        xs = self.nonempty_list(x, path, f"[{what}] pairs" if arity == 2 else what)
        if xs is None:
            return None
        out: list[tuple[int, ...] | None] = []
        for i, item in enumerate(xs):
            p = f"{path}[{i}]"
            if not isinstance(item, list) or len(item) != arity:
                self.err(p, f"must be a list [{what}], got {_show(item)}")
                out.append(None)
                continue
            vals = [self.int_at_least(v, f"{p}[{j}]", low) for j, v in enumerate(item)]
            out.append(None if any(v is None for v in vals) else tuple(vals))  # type: ignore[arg-type]
        if any(v is None for v in out):
            return None
        if not self.no_duplicates(out, path, show=lambda t: list(t)):
            return None
        return out  # type: ignore[return-value]

    # -- the document ----------------------------------------------------------------

    def sweep(self, doc: Any) -> Sweep | None:
        top_keys = ("gpu", "backend", "backend_version", "repetitions", "warmup", "description") + FAMILIES
        if doc is None:
            self.err("", "the file is empty (expected a mapping with keys such as gpu, backend, gemm, ...)")
            return None
        if not isinstance(doc, dict):
            self.err("(top level)", f"must be a mapping of sweep settings, got {_show(doc)}")
            return None
        self.mapping(doc, "", top_keys, ())
        gpu = None
        if doc.get("gpu") is not None or "gpu" in doc:
            gpu = self.string(doc.get("gpu"), "gpu")
            if gpu is not None and not GPU_NAME.match(gpu):
                self.err("gpu", f"{gpu!r} is not a valid SKU folder name (letters, digits, _ . -)")
        backend = DEFAULT_BACKEND
        if "backend" in doc:
            backend = self.choice(doc["backend"], "backend", BACKENDS, "backend") or DEFAULT_BACKEND
        backend_version = None
        if "backend_version" in doc:
            backend_version = self.string(doc["backend_version"], "backend_version")
        if "description" in doc:
            self.string(doc["description"], "description")
        reps = DEFAULT_REPETITIONS
        if "repetitions" in doc:
            reps = self.int_at_least(doc["repetitions"], "repetitions", 1) or DEFAULT_REPETITIONS
        warmup = DEFAULT_WARMUP
        if "warmup" in doc:
            w = self.int_at_least(doc["warmup"], "warmup", 0)
            warmup = DEFAULT_WARMUP if w is None else w

        sections = {}
        for fam in FAMILIES:
            if fam in doc:
                sections[fam] = self.family(doc[fam], fam)
        if not any(f in doc for f in FAMILIES) and not self.errors:
            self.err("", f"the sweep measures nothing: give at least one of {', '.join(FAMILIES)}")
        return Sweep(
            gpu=gpu,
            backend=backend,
            backend_version=backend_version,
            repetitions=reps,
            warmup=warmup,
            **sections,
        )

    def family(self, x: Any, fam: str) -> list[dict] | None:
        """A family section: one grid (a mapping) or a list of grids, whose cases are run
        one grid after the other.  Two grids may not hold the same case."""
        check = getattr(self, f"sec_{fam}")
        if isinstance(x, list):
            if not x:
                self.err(fam, "must not be empty (give a mapping, or a list of mappings)")
                return None
            grids = [check(g, f"{fam}[{i}]") for i, g in enumerate(x)]
            paths = [f"{fam}[{i}]" for i in range(len(x))]
        else:
            grids, paths = [check(x, fam)], [fam]
        if any(g is None for g in grids):
            return None
        bound = 0
        for g in grids:
            size = 1
            for val in g.values():
                if isinstance(val, list):
                    size *= len(val)
            bound += size
        if bound > MAX_CASES:
            self.err(fam, f"up to {bound} cases; at most {MAX_CASES} per family are allowed (split the sweep)")
            return None
        if len(grids) > 1:
            if fam == "generation_attention":
                first = grids[0]["kernel"]
                for g, path in zip(grids[1:], paths[1:], strict=True):
                    if g["kernel"] != first:
                        self.err(f"{path}.kernel", f"{g['kernel']!r} differs from {paths[0]}.kernel ({first!r}); a run uses one decode kernel")
                        return None
            seen: dict[Case, str] = {}
            for g, path in zip(grids, paths, strict=True):
                for case in _ENUMERATE[fam](g):
                    if case in seen:
                        self.err(path, f"repeats a case of {seen[case]} ({', '.join(case.fields())})")
                        return None
                    seen[case] = path
        return grids  # type: ignore[return-value]

    def sec_gemm(self, x: Any, p: str) -> dict | None:
        s = self.mapping(x, p, ("dtypes", "m", "nk"), ("dtypes", "m", "nk"))
        if s is None:
            return None
        out = {
            "dtypes": self.choices(s["dtypes"], f"{p}.dtypes", GEMM_DTYPES, "dtype"),
            "m": self.sizes(s["m"], f"{p}.m"),
            "nk": self.tuples(s["nk"], f"{p}.nk", 2, "n, k"),
        }
        if out["dtypes"] and out["nk"] and "fp8" in out["dtypes"]:
            for i, (n, k) in enumerate(out["nk"]):
                if n % 16 or k % 16:
                    self.err(f"{p}.nk[{i}]", f"fp8 GEMMs need n and k to be multiples of 16, got [{n}, {k}]")
        return out if all(v is not None for v in out.values()) else None

    def _sec_attn(self, x: Any, p: str, length_key: str, limit_key: str, extra: tuple[str, ...]) -> dict | None:
        keys = ("batch", length_key, "heads", "head_dim", "windows", "attn_dtypes", "kv_dtypes", limit_key) + extra
        s = self.mapping(x, p, keys, ("batch", length_key, "heads", "head_dim"))
        if s is None:
            return None
        out: dict[str, Any] = {
            "batch": self.sizes(s["batch"], f"{p}.batch"),
            length_key: self.sizes(s[length_key], f"{p}.{length_key}"),
            "heads": self.tuples(s["heads"], f"{p}.heads", 2, "num_heads, num_kv_heads"),
            "head_dim": self.sizes(s["head_dim"], f"{p}.head_dim"),
            "windows": self.sizes(s.get("windows", [0]), f"{p}.windows", low=0),
            "attn_dtypes": self.choices(s.get("attn_dtypes", ["bf16"]), f"{p}.attn_dtypes", ATTN_DTYPES, "dtype"),
            "kv_dtypes": self.choices(s.get("kv_dtypes", ["bf16"]), f"{p}.kv_dtypes", KV_DTYPES, "dtype"),
        }
        if limit_key in s:
            lim = self.int_at_least(s[limit_key], f"{p}.{limit_key}", 1)
            out[limit_key] = lim
            if lim is None:
                return None
        if out["heads"]:
            for i, (h, kvh) in enumerate(out["heads"]):
                if h % kvh:
                    self.err(f"{p}.heads[{i}]", f"num_heads {h} is not a multiple of num_kv_heads {kvh}")
                    out["heads"] = None
        if any(v is None for v in out.values()):
            return None
        # Empty after the token limit: almost surely a mistake.
        if limit_key in out and min(out["batch"]) * min(out[length_key]) > out[limit_key]:
            self.err(f"{p}.{limit_key}", f"{out[limit_key]} excludes every (batch, {length_key}) pair")
            return None
        return out

    def sec_context_attention(self, x: Any, p: str) -> dict | None:
        return self._sec_attn(x, p, "isl", "max_tokens", ())

    def sec_generation_attention(self, x: Any, p: str) -> dict | None:
        out = self._sec_attn(x, p, "kv_len", "max_kv_tokens", ("kernel",))
        if out is not None:
            kernel = x.get("kernel", "auto")
            out["kernel"] = self.choice(kernel, f"{p}.kernel", DECODE_KERNELS, "decode kernel")
            if out["kernel"] is None:
                return None
        return out

    def sec_nccl(self, x: Any, p: str) -> dict | None:
        s = self.mapping(x, p, ("ops", "dtypes", "num_gpus", "message_elems"), ("num_gpus", "message_elems"))
        if s is None:
            return None
        out = {
            "ops": self.choices(s.get("ops", ["all_reduce"]), f"{p}.ops", NCCL_OPS, "NCCL op"),
            "dtypes": self.choices(s.get("dtypes", ["bf16"]), f"{p}.dtypes", NCCL_DTYPES, "dtype"),
            "num_gpus": self.sizes(s["num_gpus"], f"{p}.num_gpus", low=2),
            "message_elems": self.sizes(s["message_elems"], f"{p}.message_elems"),
        }
        if any(v is None for v in out.values()):
            return None
        split_ops = [o for o in out["ops"] if o != "all_reduce"]
        if split_ops:
            for i, e in enumerate(out["message_elems"]):
                bad = [n for n in out["num_gpus"] if e % n]
                if bad:
                    self.err(
                        f"{p}.message_elems[{i}]",
                        f"{e} is not divisible by num_gpus {bad[0]} (needed by {split_ops[0]})",
                    )
                    return None
        return out

    def sec_p2p_copy(self, x: Any, p: str) -> dict | None:
        s = self.mapping(x, p, ("pairs", "bytes"), ("bytes",))
        if s is None:
            return None
        out = {
            "pairs": self.tuples(s.get("pairs", [[0, 1]]), f"{p}.pairs", 2, "src_gpu, dst_gpu", low=0),
            "bytes": self.sizes(s["bytes"], f"{p}.bytes"),
        }
        if out["pairs"]:
            for i, (a, b) in enumerate(out["pairs"]):
                if a == b:
                    self.err(f"{p}.pairs[{i}]", f"source and destination are the same GPU ({a})")
                    out["pairs"] = None
        return out if all(v is not None for v in out.values()) else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
