"""Arrow tables from the native module's raw column buffers.

NumPy and pyarrow are imported here, on the first table built, never by ``import servesim``:
they cost most of a cold start, and a script that only reads summaries needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pyarrow as pa

#: A column as the native module returns it: (name, NumPy dtype string, little-endian bytes),
#: optionally followed by an Arrow validity bitmap (bit i set: row i is not null) or None.
Column = tuple  # (str, str, bytes) | (str, str, bytes, bytes | None)


def array(dtype: str, buf: bytes, validity: bytes | None = None) -> "pa.Array":
    """One column: a zero-copy view of ``buf``, with nulls where ``validity`` has a 0 bit."""
    import numpy as np
    import pyarrow as pa

    values = pa.array(np.frombuffer(buf, dtype=np.dtype(dtype)))
    if validity is None:
        return values
    return pa.Array.from_buffers(
        values.type, len(values), [pa.py_buffer(validity), values.buffers()[1]]
    )


def table(cols: Sequence[Column], names: dict[str, Sequence[str]] | None = None) -> "pa.Table":
    """Columns → Arrow table, no per-row Python objects. ``names`` turns integer code columns
    into dictionary (categorical) columns with those values."""
    import pyarrow as pa

    arrays = []
    for name, dt, buf, *rest in cols:
        a = array(dt, buf, rest[0] if rest else None)
        if names is not None and name in names:
            a = pa.DictionaryArray.from_arrays(
                a.cast(pa.int32()), pa.array(list(names[name]), pa.string())
            )
        arrays.append(a)
    return pa.Table.from_arrays(arrays, names=[c[0] for c in cols])


def with_constant(table: "pa.Table", name: str, value: str) -> "pa.Table":
    """``table`` with a dictionary column ``name`` holding ``value`` on every row (one string
    stored, not one per row)."""
    import numpy as np
    import pyarrow as pa

    codes = pa.array(np.zeros(table.num_rows, dtype=np.int32))
    return table.append_column(name, pa.DictionaryArray.from_arrays(codes, pa.array([value], pa.string())))
