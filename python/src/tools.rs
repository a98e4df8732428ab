//! The CLI's tools: `profile`, `perf predict`, `perf check`, `perf step` and `validate`.

use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use servesim::Error;
use servesim::core::NotOneOf;

use crate::errors::to_py;
use crate::progress::PyObserver;

/// What `profile` sets over the request's own fields, as the CLI's flags of the same names
/// (`--model`, `--total-gpus`, `--ttft`, …) do.
#[derive(FromPyObject, Default)]
#[pyo3(from_item_all)]
pub struct RequestOverrides {
    model: Option<String>,
    backend: Option<String>,
    gpu: Option<String>,
    total_gpus: Option<u32>,
    gpus_per_node: Option<u32>,
    isl: Option<u32>,
    osl: Option<u32>,
    ttft: Option<f64>,
    itl: Option<f64>,
    request_rate: Option<f64>,
    concurrency: Option<u32>,
}

/// Runs the profiler on a request file (a DynamoGraphDeploymentRequest) and writes its
/// outputs into `out` (the GIL released); returns the text of `summary.json`. `prefer` and
/// the TP pins are the CLI's `--prefer`, `--prefill-tp`, `--decode-tp` and `--agg-tp`,
/// `calibration` its `--calibration`, `overrides` its overrides of the request's fields
/// (`--model`, `--concurrency`, …, keyed by the flags' names in snake case).
#[pyfunction]
#[pyo3(signature = (request, out, mode="fast", prefer="goodput", prefill_tp=None, decode_tp=None, agg_tp=None, progress=None, calibration=None, overrides=None))]
#[allow(clippy::too_many_arguments)]
pub fn profile(
    py: Python<'_>,
    request: &str,
    out: &str,
    mode: &str,
    prefer: &str,
    prefill_tp: Option<u32>,
    decode_tp: Option<u32>,
    agg_tp: Option<u32>,
    progress: Option<Py<PyAny>>,
    calibration: Option<&str>,
    overrides: Option<RequestOverrides>,
) -> PyResult<String> {
    let given = overrides.unwrap_or_default();
    let observer = PyObserver(progress);
    py.detach(|| {
        use servesim::profiler::{Overrides, Prefer, ProfileMode, TpPins, run_file};
        let named = |field: &str, e: NotOneOf| Error::Config {
            path: field.into(),
            message: e.to_string(),
        };
        let mode: ProfileMode = mode.parse().map_err(|e| named("mode", e))?;
        let prefer: Prefer = prefer.parse().map_err(|e| named("prefer", e))?;
        let overrides = Overrides {
            model: given.model,
            backend: given.backend,
            gpu: given.gpu,
            total_gpus: given.total_gpus,
            gpus_per_node: given.gpus_per_node,
            isl: given.isl,
            osl: given.osl,
            ttft_ms: given.ttft,
            itl_ms: given.itl,
            request_rate: given.request_rate,
            concurrency: given.concurrency,
            prefer: Some(prefer),
            pins: TpPins {
                prefill: prefill_tp,
                decode: decode_tp,
                aggregated: agg_tp,
            },
            calibration: calibration.map(std::path::PathBuf::from),
        };
        let out = Path::new(out);
        run_file(Path::new(request), &overrides, mode, out, &observer).map_err(by_keyword)?;
        let summary = out.join("summary.json");
        std::fs::read_to_string(&summary).map_err(|source| Error::Io {
            path: summary,
            source,
        })
    })
    .map_err(to_py)
}

/// An error about what a flag of the CLI would set names the keyword argument that set it
/// (`--total-gpus` is `total_gpus`), and a missing field of the request is given as one.
fn by_keyword(e: Error) -> Error {
    match e {
        Error::Config { path, message } => {
            let path = match path.strip_prefix("--") {
                Some(flag) => flag.replace('-', "_"),
                None => path,
            };
            let message = message.replace(
                "(or give it on the command line)",
                "(or give it to profile as a keyword argument)",
            );
            Error::Config { path, message }
        }
        e => e,
    }
}

/// `servesim perf predict`: predicts every row of a kernel table (public layout) with the
/// shipped calibration of `gpu` and `backend`; writes `output` with `predicted_ms` and
/// `reason` columns. Returns (rows, rows predicted).
#[pyfunction]
pub fn perf_predict(
    py: Python<'_>,
    gpu: &str,
    backend: &str,
    table: &str,
    input: &str,
    output: &str,
) -> PyResult<(u64, u64)> {
    // As the CLI refuses it: the predictions written over the rows they read would lose them.
    if servesim::validate::same_file(Path::new(input), Path::new(output)) {
        return Err(to_py(Error::Config {
            path: "output".into(),
            message: format!("{output}: is the input table"),
        }));
    }
    py.detach(|| {
        use servesim::models::backend::Backend;
        use servesim::models::calibration::import::PublicTable;
        use servesim::models::hardware::GpuCatalog;
        use servesim::models::perf::CalibratedTimer;
        use servesim::models::perf::evaluate::predict_public_file;
        let catalog = GpuCatalog::builtin();
        let backend = Backend::parse(backend)?;
        let table = PublicTable::parse(table)?;
        let timer = CalibratedTimer::shipped(&catalog, gpu, backend)?;
        let s = predict_public_file(&timer, table, Path::new(input), Path::new(output))?;
        Ok((s.rows as u64, s.predicted as u64))
    })
    .map_err(|e: servesim::models::ModelsError| to_py(Error::Models(e)))
}
/// `servesim validate`: simulates every measured serving row of `input` and writes it to
/// `output` with its predictions (the GIL released); `steady`, `from_start`,
/// `dataset_entries`, `in_step`, `client_connections`, `scenarios` and `calibration` as the
/// CLI's `--steady`, `--from-start`, `--dataset-entries`, `--in-step`, `--client-connections`,
/// `--scenarios` and `--calibration`
/// (neither of the first two: aiconfigurator's aiperf recipe). Returns the
/// validation as a dict (see
/// [`servesim::validate::Validation`]'s serialized form). `progress`, when given, is told of
/// each row as it ends.
// One argument per keyword of the Python function.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (input, output, from_start=None, steady=false, progress=None, dataset_entries=None, in_step=false, client_connections=None, scenarios=None, calibration=None))]
pub fn validate_serving<'py>(
    py: Python<'py>,
    input: &str,
    output: &str,
    from_start: Option<u32>,
    steady: bool,
    progress: Option<Py<PyAny>>,
    dataset_entries: Option<u32>,
    in_step: bool,
    client_connections: Option<u32>,
    scenarios: Option<&str>,
    calibration: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let observer = PyObserver(progress);
    let client = servesim::validate::RecipeClient {
        dataset_entries,
        connections: client_connections,
        in_step,
    };
    let averaged = servesim::validate::Averaged::from_flags(steady, from_start, client)
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    let v = py
        .detach(|| {
            servesim::validate::validate_file(
                Path::new(input),
                Path::new(output),
                averaged,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                &observer,
                scenarios.map(Path::new),
                calibration.map(Path::new),
            )
        })
        .map_err(to_py)?;
    Ok(pythonize::pythonize(py, &v)?)
}

/// `servesim perf step`: one iteration of the scenario (its config as JSON text, relative
/// paths from `base_dir`) on a worker of pool `pool` (when None, the decode pool for a step
/// with `decode` sequences, else the first): `decode`
/// sequences of `context` tokens each and the prompt chunks `prefill` (tokens, context).
/// Returns [`servesim::iteration::IterationBreakdown`] as a dict.
#[pyfunction]
#[pyo3(signature = (config_json, base_dir, pool=None, decode=0, context=1024, prefill=Vec::new()))]
pub fn perf_step<'py>(
    py: Python<'py>,
    config_json: &str,
    base_dir: &str,
    pool: Option<&str>,
    decode: u32,
    context: u32,
    prefill: Vec<(u32, u32)>,
) -> PyResult<Bound<'py, PyAny>> {
    let chunks: Vec<_> = prefill
        .into_iter()
        .map(|(tokens, context)| servesim::models::perf::PrefillChunk { tokens, context })
        .collect();
    let b = py
        .detach(|| {
            let s = crate::scenario::scenario_of(config_json, base_dir)?;
            servesim::iteration::iteration_breakdown(&s, pool, decode, context, &chunks)
        })
        .map_err(to_py)?;
    Ok(pythonize::pythonize(py, &b)?)
}

/// `servesim perf check`: the leave-shape-out check of `gpu`'s calibration as `backend`
/// reads it (the shipped tables, or those of the folder `calibration`), one dict per public
/// kernel table: `table`, `measured_under` (the backend folder of its rows), `rows` checked,
/// `median` and `p90` of their absolute relative errors (`None` where no row could be
/// checked), and the spread of the table's repeated measurements of one call: `repeated`
/// rows, on which their call's mean errs by `repeat_p90` at the 90th percentile (`None`
/// without repeats). Relative errors are fractions (0.05 = 5 %).
#[pyfunction]
#[pyo3(signature = (gpu, backend, calibration=None))]
pub fn perf_check<'py>(
    py: Python<'py>,
    gpu: &str,
    backend: &str,
    calibration: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    use servesim::models::backend::Backend;
    use servesim::models::hardware::GpuCatalog;
    use servesim::models::perf::check::check_calibration;
    let checks = py
        .detach(|| {
            let backend = Backend::parse(backend)?;
            check_calibration(
                calibration.map(Path::new),
                &GpuCatalog::builtin(),
                gpu,
                backend,
            )
        })
        .map_err(|e: servesim::models::ModelsError| to_py(Error::Models(e)))?;
    checks
        .iter()
        .map(|c| {
            // In the order the CLI prints them.
            let d = PyDict::new(py);
            let checked = c.errors.n > 0;
            d.set_item("table", &c.table)?;
            d.set_item("measured_under", &c.measured_under)?;
            d.set_item("rows", c.errors.n)?;
            d.set_item("median", checked.then_some(c.errors.median))?;
            d.set_item("p90", checked.then_some(c.errors.p90))?;
            d.set_item("repeated", c.repeats.n)?;
            d.set_item("repeat_p90", (c.repeats.n > 0).then_some(c.repeats.p90))?;
            Ok(d)
        })
        .collect()
}
