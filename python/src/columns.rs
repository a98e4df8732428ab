//! Columns as Python receives them: (name, NumPy dtype string, little-endian bytes), wrapped
//! in NumPy/Arrow on the Python side without a Python object per row.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use servesim::metrics::{ColumnData, LongSeries};

/// Columns as (name, numpy dtype string, little-endian bytes).
pub type Columns = Vec<(&'static str, &'static str, Vec<u8>)>;

/// The little-endian bytes of a slice of numbers.
macro_rules! le_bytes {
    ($v:expr) => {
        $v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
    };
}

/// One column's NumPy dtype and bytes.
pub fn encode(data: ColumnData<'_>) -> (&'static str, Vec<u8>) {
    match data {
        ColumnData::U16(v) => ("<u2", le_bytes!(v)),
        ColumnData::U32(v) => ("<u4", le_bytes!(v)),
        ColumnData::U64(v) => ("<u8", le_bytes!(v)),
        ColumnData::F64(v) => ("<f8", le_bytes!(v)),
        ColumnData::Bool(v) => ("|b1", v.iter().map(|&b| u8::from(b)).collect()),
    }
}

/// Named columns, encoded.
pub fn encode_all(columns: Vec<(&'static str, ColumnData<'_>)>) -> Columns {
    columns
        .into_iter()
        .map(|(name, data)| {
            let (dtype, bytes) = encode(data);
            (name, dtype, bytes)
        })
        .collect()
}

/// The long-format series as columns: `pool`, `time_s`, then every series.
pub fn series_columns(s: &LongSeries) -> Columns {
    let mut columns = vec![
        ("pool", ColumnData::U32(&s.pool)),
        ("time_s", ColumnData::F64(&s.time_s)),
    ];
    columns.extend(s.values.iter().map(|(n, v)| (*n, ColumnData::F64(v))));
    encode_all(columns)
}

/// Columns as a Python list of `(name, dtype, bytes)`.
pub fn to_list<'py>(py: Python<'py>, cols: Columns) -> PyResult<Bound<'py, PyList>> {
    let l = PyList::empty(py);
    for (n, dt, b) in cols {
        l.append((n, dt, PyBytes::new(py, &b)))?;
    }
    Ok(l)
}
