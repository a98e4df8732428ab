//! Traffic without a cluster: a workload (from a scenario, a `traffic:` section or a file) run
//! alone, as request columns or as statistics; and traces read as columns.

use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use servesim::Error;
use servesim::core::{SimDuration, SimTime};
use servesim::traffic::{
    Request, SessionInfo, Standalone, TraceFormat, TraceReader, TrafficError, WorkloadSpec,
    file_duration_s, load_spec,
};

use crate::columns;
use crate::errors::to_py;
use crate::scenario::{scenario_of, traffic_of};

/// A workload and how to run it without a cluster (see [`Standalone`]): every closed-loop
/// request is answered `response_s` after it arrives.
#[pyclass(module = "servesim._native", frozen)]
pub struct Workload {
    spec: WorkloadSpec,
    run: Standalone,
    /// Whether the run ends where the source's `duration_s` says (not where the caller
    /// asked), so that a trace it cuts short is worth a warning, as the CLI gives one.
    ends_by_source: bool,
}

#[pymethods]
impl Workload {
    /// `kind` says what `source` is: `scenario` (config JSON), `traffic` (a `traffic:`
    /// section as JSON) or `file` (a trace, or YAML with a `traffic:` key, as `servesim
    /// traffic stats` reads it; `format` only for a trace). `seed` and `duration_s` override
    /// the source's; without them the seed is 0 and the run lasts until every stream ends.
    #[new]
    #[pyo3(signature = (kind, source, base_dir=".", seed=None, duration_s=None, response_s=0.0,
                        max_requests=None, format=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        kind: &str,
        source: &str,
        base_dir: &str,
        seed: Option<u64>,
        duration_s: Option<f64>,
        response_s: f64,
        max_requests: Option<u64>,
        format: Option<&str>,
    ) -> PyResult<Self> {
        py.detach(|| {
            let (spec, source_seed, source_duration) = workload_of(kind, source, base_dir, format)?;
            let until = match duration_s {
                Some(s) => Some(secs("duration_s", s)?),
                None => source_duration,
            };
            let run = Standalone {
                seed: seed.or(source_seed).unwrap_or(0),
                until: until.map(|d| SimTime::ZERO + d),
                response: secs("response_s", response_s)?,
                max_requests,
            };
            Ok(Workload {
                spec,
                run,
                ends_by_source: duration_s.is_none() && source_duration.is_some(),
            })
        })
        .map_err(to_py)
    }

    /// Generates the requests (the GIL released) as raw little-endian columns (name, dtype,
    /// data, validity bitmap or None). Returns a dict: `columns`, `classes` and `streams`
    /// (names of the `class` and `stream` codes), `block_ids` (`(offsets <i8, values <u8)`
    /// of each prompt's block ids, when asked for) and `warnings` (the traces the source's
    /// `duration_s` cut short).
    #[pyo3(signature = (block_ids=false))]
    fn generate<'py>(&self, py: Python<'py>, block_ids: bool) -> PyResult<Bound<'py, PyDict>> {
        let (c, warnings) = py
            .detach(|| {
                let mut c = RequestColumns::new(block_ids);
                let warnings = self.each_request("generated", |r| c.push(r))?;
                Ok((c, warnings))
            })
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("columns", c.to_list(py)?)?;
        d.set_item("classes", self.spec.class_names())?;
        d.set_item("streams", self.spec.stream_names().collect::<Vec<_>>())?;
        match &c.block_ids {
            Some(b) => d.set_item(
                "block_ids",
                (PyBytes::new(py, &b.offsets), PyBytes::new(py, &b.ids)),
            )?,
            None => d.set_item("block_ids", py.None())?,
        }
        d.set_item("warnings", warnings)?;
        Ok(d)
    }

    /// `servesim traffic stats`: counts, span, rate, sizes and prefix reuse per class (the
    /// GIL released); returns the JSON text and the warnings (as [`Workload::generate`]).
    fn stats(&self, py: Python<'_>) -> PyResult<(String, Vec<String>)> {
        py.detach(|| {
            let mut b = servesim::traffic::StatsBuilder::new(self.spec.class_names());
            let warnings = self.each_request("counted", |r| b.record(r))?;
            Ok((b.finish().to_json(), warnings))
        })
        .map_err(to_py)
    }
}

impl Workload {
    /// Runs the workload alone; calls `f` on each request. The time limit is `duration_s`
    /// here. Returns what the CLI says on stderr: the traces that the source's `duration_s`
    /// cut short (`done`: what became of their rows; a caller's `duration_s` cuts where
    /// they asked, and says nothing).
    fn each_request(&self, done: &str, f: impl FnMut(&Request)) -> Result<Vec<String>, Error> {
        let driven = self.run.drive(&self.spec, f).map_err(|e| match e {
            TrafficError::Config { field, message } if field == "until" => Error::Config {
                path: "duration_s".into(),
                message: format!("{message}: pass duration_s"),
            },
            e => Error::Traffic(e),
        })?;
        let end = self.run.until.map_or(0.0, SimTime::as_secs_f64);
        Ok(driven
            .traces_cut
            .iter()
            .filter(|_| self.ends_by_source)
            .map(|(stream, next)| servesim::warnings::trace_cut(stream, end, *next, done))
            .collect())
    }
}

/// `s` seconds as a duration; errors name the argument.
fn secs(argument: &str, s: f64) -> Result<SimDuration, Error> {
    SimDuration::from_secs_f64_round(s).map_err(|e| Error::Config {
        path: argument.into(),
        message: e.to_string(),
    })
}

/// The workload `source` gives (see [`Workload::new`] for `kind`), with the seed and the
/// duration the source gives.
fn workload_of(
    kind: &str,
    source: &str,
    base_dir: &str,
    format: Option<&str>,
) -> Result<(WorkloadSpec, Option<u64>, Option<SimDuration>), Error> {
    let format = match format {
        None => None,
        Some(_) if kind != "file" => {
            return Err(Error::Config {
                path: "format".into(),
                message: "only a trace file has a format".into(),
            });
        }
        Some(name) => Some(name.parse::<TraceFormat>().map_err(|e| Error::Config {
            path: "format".into(),
            message: e.to_string(),
        })?),
    };
    match kind {
        "scenario" => {
            let s = scenario_of(source, base_dir)?;
            Ok((s.traffic().clone(), Some(s.seed()), Some(s.duration())))
        }
        "traffic" => {
            let spec = traffic_of(source)?
                .validate("traffic", Path::new(base_dir))
                .map_err(Error::Traffic)?;
            Ok((spec, None, None))
        }
        "file" => {
            let path = Path::new(source);
            let (spec, seed) = load_spec(path, format).map_err(Error::Traffic)?;
            // A scenario file's run lasts its duration_s, as `servesim traffic stats` runs it.
            let duration = match format.is_none().then(|| file_duration_s(path)).flatten() {
                Some(s) => Some(secs("duration_s", s)?),
                None => None,
            };
            Ok((spec, seed, duration))
        }
        other => Err(Error::Config {
            path: "source".into(),
            message: format!("unknown source kind {other:?}"),
        }),
    }
}

/// The generated requests as little-endian columns, filled one request at a time.
#[derive(Default)]
struct RequestColumns {
    id: Vec<u8>,
    time: Vec<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
    blocks: Vec<u8>,
    class: Vec<u8>,
    stream: Vec<u8>,
    user: Vec<u8>,
    session: Vec<u8>,
    turn: Vec<u8>,
    /// Validity bitmap of the closed-loop columns (Arrow's: bit i set, row i not null).
    valid: Vec<u8>,
    rows: usize,
    block_ids: Option<BlockIds>,
}

/// Each prompt's block ids as an Arrow large list: offsets and values.
#[derive(Default)]
struct BlockIds {
    offsets: Vec<u8>,
    ids: Vec<u8>,
    next_offset: i64,
}

impl RequestColumns {
    fn new(block_ids: bool) -> Self {
        RequestColumns {
            block_ids: block_ids.then(|| BlockIds {
                offsets: 0i64.to_le_bytes().to_vec(),
                ..BlockIds::default()
            }),
            ..RequestColumns::default()
        }
    }

    fn push(&mut self, r: &Request) {
        self.id.extend_from_slice(&r.id.0.to_le_bytes());
        self.time
            .extend_from_slice(&r.arrival.as_secs_f64().to_le_bytes());
        self.input.extend_from_slice(&r.input_tokens.to_le_bytes());
        self.output
            .extend_from_slice(&r.output_tokens.to_le_bytes());
        let nb = r.prefix_blocks.len() as u32;
        self.blocks.extend_from_slice(&nb.to_le_bytes());
        self.class
            .extend_from_slice(&i32::from(r.class.0).to_le_bytes());
        self.stream
            .extend_from_slice(&i32::from(r.stream.0).to_le_bytes());
        let info = r.session.unwrap_or(SessionInfo {
            user: 0,
            session: 0,
            turn: 0,
        });
        self.user.extend_from_slice(&info.user.to_le_bytes());
        self.session.extend_from_slice(&info.session.to_le_bytes());
        self.turn.extend_from_slice(&info.turn.to_le_bytes());
        if self.rows.is_multiple_of(8) {
            self.valid.push(0);
        }
        if r.session.is_some()
            && let Some(last) = self.valid.last_mut()
        {
            *last |= 1 << (self.rows % 8);
        }
        self.rows += 1;
        if let Some(b) = &mut self.block_ids {
            for id in r.prefix_blocks.iter() {
                b.ids.extend_from_slice(&id.to_le_bytes());
            }
            b.next_offset += r.prefix_blocks.len() as i64;
            b.offsets.extend_from_slice(&b.next_offset.to_le_bytes());
        }
    }

    /// The columns as `(name, dtype, bytes, validity or None)`.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let cols = PyList::empty(py);
        let none = py.None();
        for (name, dt, data) in [
            ("request_id", "<u8", &self.id),
            ("time_s", "<f8", &self.time),
            ("input_tokens", "<u4", &self.input),
            ("output_tokens", "<u4", &self.output),
            ("prefix_blocks", "<u4", &self.blocks),
            ("class", "<i4", &self.class),
            ("stream", "<i4", &self.stream),
        ] {
            cols.append((name, dt, PyBytes::new(py, data), &none))?;
        }
        let valid = PyBytes::new(py, &self.valid);
        for (name, data) in [
            ("user", &self.user),
            ("session", &self.session),
            ("turn", &self.turn),
        ] {
            cols.append((name, "<u4", PyBytes::new(py, data), &valid))?;
        }
        Ok(cols)
    }
}

/// Reads a trace (Azure, Mooncake or BurstGPT; format from the name or header) as columns
/// `time_s`, `input_tokens`, `output_tokens` (raw little-endian buffers, no object per row).
#[pyfunction]
pub fn read_trace<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyList>> {
    let cols = py
        .detach(|| {
            let path = Path::new(path);
            let mut reader = TraceReader::open(path, TraceFormat::detect(path)?)?;
            let (mut t, mut i, mut o) = (Vec::new(), Vec::new(), Vec::new());
            let mut t0 = None;
            while let Some(row) = reader.next_row()? {
                let start = *t0.get_or_insert(row.time_ns);
                // In i128: two timestamps far apart overflow an i64 difference.
                let since = i128::from(row.time_ns) - i128::from(start);
                t.extend_from_slice(&(since as f64 / 1e9).to_le_bytes());
                i.extend_from_slice(&row.input_tokens.to_le_bytes());
                o.extend_from_slice(&row.output_tokens.to_le_bytes());
            }
            Ok(vec![
                ("time_s", "<f8", t),
                ("input_tokens", "<u4", i),
                ("output_tokens", "<u4", o),
            ])
        })
        .map_err(|e: TrafficError| to_py(Error::Traffic(e)))?;
    columns::to_list(py, cols)
}
