//! The public kernel-table layout (aiconfigurator's performance database) and its import into
//! the calibration format.
//!
//! Public layout: `<dir>/<gpu>/<backend>/<table>.csv[.gz]` with `<table>` one of
//! [`PublicTable::ALL`]; latency in ms in a `latency` column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::dispatch_import::{DEEPEP_NORMAL_SMS, DispatchColumns, DispatchTable};
use super::gdn_import;
use super::mla_parts_import::{self, MlaPartTable};
use super::{
    CalibrationTable, Columns, FORMAT_VERSION, Family, Header, RowCtx, TableReader, row_op,
    sorted_entries,
};
use crate::backend::Backend;
use crate::error::{ModelsError, Result};
use crate::llm::{Attention, LlmSpec};
use crate::perf::ops::{KernelOp, MlaShape};

/// A table of the public layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PublicTable {
    /// `gemm_perf`.
    GemmPerf,
    /// `context_attention_perf`.
    ContextAttentionPerf,
    /// `generation_attention_perf`.
    GenerationAttentionPerf,
    /// `custom_allreduce_perf`.
    CustomAllreducePerf,
    /// `nccl_perf`.
    NcclPerf,
    /// `moe_perf`: only its rows of the token distributions ([`crate::perf::ExpertRouting`])
    /// and MoE dtypes ([`crate::perf::MoeQuant`]) modelled are imported; the others are
    /// counted in the header's `rows_skipped`.
    MoePerf,
    /// `moe_min_latency_perf`: the `moe_torch_flow_min_latency` rows of TensorRT-LLM's
    /// `moe_perf` (its NVFP4 min-latency kernel), split out under this name, imported as
    /// `moe_perf` is.
    MoeMinLatencyPerf,
    /// `wideep_context_moe_perf`: SGLang's DeepEP MoE layers over prompts, imported as
    /// `moe_perf` is (its `uniform` distribution is `balanced`).
    WideepContextMoePerf,
    /// `wideep_generation_moe_perf`: SGLang's DeepEP MoE layers in decode steps.
    WideepGenerationMoePerf,
    /// `mla_context_module_perf`: whole MLA attention blocks over prompts; the `model` column
    /// names the model whose MLA dimensions were measured.
    MlaContextModulePerf,
    /// `mla_generation_module_perf`: whole MLA attention blocks over decode sequences.
    MlaGenerationModulePerf,
    /// `context_mla_perf`: MLA attention over prompts alone (SGLang's tables; the other
    /// backends' block is timed from the module tables).
    ContextMlaPerf,
    /// `generation_mla_perf`: MLA attention over the cached latent alone.
    GenerationMlaPerf,
    /// `mla_bmm_perf`: the absorbed key and value up-projections of MLA decode.
    MlaBmmPerf,
    /// `trtllm_alltoall_perf`: TensorRT-LLM's all-to-all, stage by stage (balanced rows).
    TrtllmAlltoallPerf,
    /// `wideep_deepep_ll_perf`: DeepEP's low-latency dispatch and combine.
    WideepDeepepLlPerf,
    /// `wideep_deepep_normal_perf`: DeepEP's normal dispatch and combine (the rows at
    /// DeepEP's default 20 SMs).
    WideepDeepepNormalPerf,
    /// `gdn_perf`: the kernels of Gated DeltaNet (linear attention) layers.
    GdnPerf,
}

impl PublicTable {
    /// All public tables.
    pub const ALL: [PublicTable; 18] = [
        PublicTable::GemmPerf,
        PublicTable::ContextAttentionPerf,
        PublicTable::GenerationAttentionPerf,
        PublicTable::CustomAllreducePerf,
        PublicTable::NcclPerf,
        PublicTable::MoePerf,
        PublicTable::MoeMinLatencyPerf,
        PublicTable::WideepContextMoePerf,
        PublicTable::WideepGenerationMoePerf,
        PublicTable::MlaContextModulePerf,
        PublicTable::MlaGenerationModulePerf,
        PublicTable::ContextMlaPerf,
        PublicTable::GenerationMlaPerf,
        PublicTable::MlaBmmPerf,
        PublicTable::TrtllmAlltoallPerf,
        PublicTable::WideepDeepepLlPerf,
        PublicTable::WideepDeepepNormalPerf,
        PublicTable::GdnPerf,
    ];

    /// The table name (file stem).
    pub fn name(self) -> &'static str {
        match self {
            PublicTable::GemmPerf => "gemm_perf",
            PublicTable::ContextAttentionPerf => "context_attention_perf",
            PublicTable::GenerationAttentionPerf => "generation_attention_perf",
            PublicTable::CustomAllreducePerf => "custom_allreduce_perf",
            PublicTable::NcclPerf => "nccl_perf",
            PublicTable::MoePerf => "moe_perf",
            PublicTable::MoeMinLatencyPerf => "moe_min_latency_perf",
            PublicTable::WideepContextMoePerf => "wideep_context_moe_perf",
            PublicTable::WideepGenerationMoePerf => "wideep_generation_moe_perf",
            PublicTable::MlaContextModulePerf => "mla_context_module_perf",
            PublicTable::MlaGenerationModulePerf => "mla_generation_module_perf",
            PublicTable::ContextMlaPerf => "context_mla_perf",
            PublicTable::GenerationMlaPerf => "generation_mla_perf",
            PublicTable::MlaBmmPerf => "mla_bmm_perf",
            PublicTable::TrtllmAlltoallPerf => "trtllm_alltoall_perf",
            PublicTable::WideepDeepepLlPerf => "wideep_deepep_ll_perf",
            PublicTable::WideepDeepepNormalPerf => "wideep_deepep_normal_perf",
            PublicTable::GdnPerf => "gdn_perf",
        }
    }

    /// Parses a table name.
    pub fn parse(name: &str) -> Result<Self> {
        PublicTable::ALL
            .into_iter()
            .find(|t| t.name() == name.trim())
            .ok_or_else(|| ModelsError::UnknownName {
                what: "table",
                name: name.to_string(),
                known: PublicTable::ALL.map(PublicTable::name).join(", "),
            })
    }

    /// The calibration family the table converts to.
    pub fn family(self) -> Family {
        match self {
            PublicTable::GemmPerf => Family::Gemm,
            PublicTable::ContextAttentionPerf => Family::ContextAttention,
            PublicTable::GenerationAttentionPerf => Family::GenerationAttention,
            PublicTable::CustomAllreducePerf => Family::CustomAllreduce,
            PublicTable::NcclPerf => Family::Nccl,
            PublicTable::MoePerf => Family::Moe,
            PublicTable::MoeMinLatencyPerf => Family::MoeMinLatency,
            PublicTable::WideepContextMoePerf => Family::MoeDeepepNormal,
            PublicTable::WideepGenerationMoePerf => Family::MoeDeepepLowLatency,
            PublicTable::MlaContextModulePerf => Family::MlaContext,
            PublicTable::MlaGenerationModulePerf => Family::MlaGeneration,
            PublicTable::ContextMlaPerf
            | PublicTable::GenerationMlaPerf
            | PublicTable::MlaBmmPerf => Family::MlaParts,
            PublicTable::TrtllmAlltoallPerf
            | PublicTable::WideepDeepepLlPerf
            | PublicTable::WideepDeepepNormalPerf => Family::MoeDispatch,
            PublicTable::GdnPerf => Family::Gdn,
        }
    }

    /// The MLA part table this is, if it is one.
    fn mla_parts(self) -> Option<MlaPartTable> {
        match self {
            PublicTable::ContextMlaPerf => Some(MlaPartTable::Context),
            PublicTable::GenerationMlaPerf => Some(MlaPartTable::Generation),
            PublicTable::MlaBmmPerf => Some(MlaPartTable::Bmm),
            _ => None,
        }
    }

    /// Whether rows of what is not modelled are counted as skipped rather than refused.
    fn skips_unmodelled(self) -> bool {
        self.family().moe_kernel().is_some() || self.mla_parts().is_some()
    }

    /// The dispatch table this is, if it is one (their rows hold stages, not one kernel).
    pub(crate) fn dispatch(self) -> Option<DispatchTable> {
        match self {
            PublicTable::TrtllmAlltoallPerf => Some(DispatchTable::TrtllmAlltoall),
            PublicTable::WideepDeepepLlPerf => Some(DispatchTable::DeepepLowLatency),
            PublicTable::WideepDeepepNormalPerf => Some(DispatchTable::DeepepNormal),
            _ => None,
        }
    }
}

/// Parser of the rows of one public table, built from its header.
pub struct PublicRowParser {
    table: PublicTable,
    idx: Vec<usize>,
    latency: Option<usize>,
    version: Option<usize>,
    cols: Columns,
    path: PathBuf,
}

impl PublicRowParser {
    /// Checks the header of a public table (`latency` may be missing) and remembers the columns.
    pub fn new(
        table: PublicTable,
        header: &csv::StringRecord,
        header_line: u64,
        path: &Path,
    ) -> Result<Self> {
        let cols = Columns::new(header, header_line);
        let names: &[&[&str]] = match table {
            PublicTable::GemmPerf => &[&["gemm_dtype"], &["m"], &["n"], &["k"]],
            PublicTable::ContextAttentionPerf => &[
                &["batch_size"],
                &["isl"],
                &["num_heads"],
                &["num_key_value_heads"],
                &["head_dim"],
                &["window_size"],
                &["attn_dtype"],
                &["kv_cache_dtype"],
            ],
            PublicTable::GenerationAttentionPerf => &[
                &["batch_size"],
                &["step"],
                &["num_heads"],
                &["num_key_value_heads"],
                &["head_dim"],
                &["window_size"],
                &["attn_dtype"],
                &["kv_cache_dtype"],
            ],
            PublicTable::CustomAllreducePerf => &[
                &["allreduce_dtype"],
                &["num_gpus"],
                &["message_size"],
                &["implementation", "backend"],
            ],
            PublicTable::NcclPerf => &[
                &["op_name"],
                &["nccl_dtype"],
                &["num_gpus"],
                &["message_size"],
            ],
            PublicTable::MoePerf
            | PublicTable::MoeMinLatencyPerf
            | PublicTable::WideepContextMoePerf
            | PublicTable::WideepGenerationMoePerf => &[
                &["moe_dtype"],
                &["num_tokens"],
                &["hidden_size"],
                &["inter_size"],
                &["topk"],
                &["num_experts"],
                &["moe_tp_size"],
                &["moe_ep_size"],
                &["distribution"],
            ],
            PublicTable::MlaContextModulePerf | PublicTable::MlaGenerationModulePerf => &[
                &["batch_size"],
                &["isl"],
                &["num_heads"],
                &["model"],
                &["kv_cache_dtype"],
                &["gemm_type"],
                &["step"],
            ],
            PublicTable::ContextMlaPerf
            | PublicTable::GenerationMlaPerf
            | PublicTable::MlaBmmPerf => table.mla_parts().map_or(&[], MlaPartTable::columns),
            PublicTable::GdnPerf => gdn_import::COLUMNS,
            PublicTable::TrtllmAlltoallPerf
            | PublicTable::WideepDeepepLlPerf
            | PublicTable::WideepDeepepNormalPerf => {
                return Err(ModelsError::Invalid {
                    what: "table",
                    message: format!(
                        "{}: a dispatch/combine table is read by `servesim calibrate import` \
                         and evaluated by `servesim perf check`, not predicted row by row",
                        path.display()
                    ),
                });
            }
        };
        let idx = names
            .iter()
            .map(|n| cols.require(n, path))
            .collect::<Result<Vec<_>>>()?;
        Ok(PublicRowParser {
            table,
            idx,
            latency: cols.find(&["latency"]),
            version: cols.find(&["version"]),
            cols,
            path: path.to_path_buf(),
        })
    }

    /// Whether the table has a `latency` column.
    pub fn has_latency(&self) -> bool {
        self.latency.is_some()
    }

    /// Parses one row (`line`: its 1-based line in the file) into the operation and, when the
    /// column exists, its latency in ms.
    pub fn parse(&self, rec: &csv::StringRecord, line: u64) -> Result<(KernelOp, Option<f64>)> {
        let r = RowCtx {
            path: &self.path,
            line,
            rec,
            cols: &self.cols,
        };
        if matches!(
            self.table,
            PublicTable::MlaContextModulePerf | PublicTable::MlaGenerationModulePerf
        ) {
            let op = self.mla_op(&r)?;
            let lat = match self.latency {
                Some(li) if !r.str(li)?.is_empty() => Some(r.latency(li)?),
                _ => None,
            };
            return Ok((op, lat));
        }
        let generation = self.table == PublicTable::GenerationAttentionPerf;
        let op = if let Some(t) = self.table.mla_parts() {
            mla_parts_import::op(t, &r, &self.idx)?
        } else if self.table == PublicTable::GdnPerf {
            gdn_import::op(&r, &self.idx)?
        } else {
            row_op(self.table.family(), &r, &self.idx, |r, i| {
                if generation {
                    // KV length = step + 1.
                    let s = r.u32(i)?;
                    s.checked_add(1).ok_or_else(|| r.err(i, "too large".into()))
                } else {
                    r.pos_u32(i)
                }
            })?
        };
        let lat = match self.latency {
            Some(li) if !r.str(li)?.is_empty() => Some(r.latency(li)?),
            _ => None,
        };
        Ok((op, lat))
    }

    /// An MLA module row: the model's MLA dimensions from its built-in spec (the `model`
    /// column), the heads on the GPU from `num_heads`; a prompt of `isl` tokens (context), or
    /// one token reading `step` cached tokens (generation: the module tables' steps are the
    /// KV lengths, powers of two, where the kernel tables' are one less).
    fn mla_op(&self, r: &RowCtx<'_>) -> Result<KernelOp> {
        let i = &self.idx;
        let name = r.str(i[3])?;
        let llm = LlmSpec::lookup(name).map_err(|e| r.unsupported(i[3], e.to_string()))?;
        let Attention::Mla(dims) = llm.attention() else {
            return Err(r.unsupported(i[3], format!("{name} has no multi-head latent attention")));
        };
        let (family, len) = if self.table == PublicTable::MlaContextModulePerf {
            (Family::MlaContext, i[1])
        } else {
            (Family::MlaGeneration, i[6])
        };
        let batch = r.pos_u32(i[0])?;
        let m = MlaShape {
            batch,
            len: r.pos_u32(len)?,
            heads: r.pos_u32(i[2])?,
            hidden: llm.hidden_size,
            dims,
            kv_dtype: r.dtype(i[4])?,
            gemm_dtype: r.dtype(i[5])?,
        };
        Ok(if family == Family::MlaContext {
            KernelOp::MlaContext(m)
        } else {
            KernelOp::MlaGeneration(m)
        })
    }

    fn version<'a>(&self, rec: &'a csv::StringRecord) -> Option<&'a str> {
        self.version
            .and_then(|v| rec.get(v))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Reads one public table (plain or gzip CSV) into a calibration table for `gpu`/`backend`.
/// Every row must have a latency.
pub fn read_public_table(
    path: &Path,
    table: PublicTable,
    gpu: &str,
    backend: &str,
) -> Result<CalibrationTable> {
    let bytes = super::read_maybe_gz(path)?;
    let mut rdr = TableReader::new(&bytes, path);
    if let Some(d) = table.dispatch() {
        return read_dispatch_table(rdr, d, path, gpu, backend);
    }
    let header = rdr.header()?;
    let parser = PublicRowParser::new(table, &header, rdr.header_line(), path)?;
    if !parser.has_latency() {
        return Err(ModelsError::Csv {
            path: path.to_path_buf(),
            line: rdr.header_line(),
            column: Some("latency".into()),
            message: "missing column (needed to import measurements)".into(),
        });
    }
    let mut rows = Vec::new();
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    let mut rec = csv::StringRecord::new();
    let mut skipped = 0usize;
    while let Some(line) = rdr.next_record(&mut rec)? {
        let (op, lat) = match parser.parse(&rec, line) {
            Ok(v) => v,
            // MoE rows of other distributions or unmodelled dtypes, MLA rows of unmodelled
            // kinds, are left out, counted.
            Err(ModelsError::Unsupported { .. }) if table.skips_unmodelled() => {
                skipped += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let lat = lat.ok_or_else(|| ModelsError::Csv {
            path: path.to_path_buf(),
            line,
            column: Some("latency".into()),
            message: "empty latency".into(),
        })?;
        if let Some(v) = parser.version(&rec) {
            *versions.entry(v.to_string()).or_default() += 1;
        }
        rows.push((op, lat));
    }
    let what = if table.mla_parts().is_some() {
        "prompts after a cached prefix or attention in other than BF16"
    } else {
        "token distributions or MoE dtypes not modelled"
    };
    let skipped = (skipped > 0).then(|| format!("{skipped} ({what})"));
    Ok(imported(
        table.family(),
        path,
        gpu,
        backend,
        rows,
        &versions,
        skipped,
    ))
}

/// A dispatch/combine table ([`DispatchColumns`]): every stage of every row kept, the rows
/// left out counted.
fn read_dispatch_table(
    mut rdr: TableReader<'_>,
    table: DispatchTable,
    path: &Path,
    gpu: &str,
    backend: &str,
) -> Result<CalibrationTable> {
    let cols = rdr.columns()?;
    let parser = DispatchColumns::new(table, &cols, path, gpu)?;
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    let mut skipped = 0usize;
    while let Some(line) = rdr.next_record(&mut rec)? {
        let r = RowCtx {
            path,
            line,
            rec: &rec,
            cols: &cols,
        };
        let stages = parser.rows(&r)?;
        skipped += usize::from(stages.is_empty());
        rows.extend(stages);
    }
    let skipped = (skipped > 0).then(|| {
        format!(
            "{skipped} (token distributions other than balanced; DeepEP normal kernels on \
             other than {DEEPEP_NORMAL_SMS} SMs)"
        )
    });
    let family = Family::MoeDispatch;
    Ok(imported(
        family,
        path,
        gpu,
        backend,
        rows,
        &BTreeMap::new(),
        skipped,
    ))
}

/// The calibration table of rows imported from the public table at `path`.
fn imported(
    family: Family,
    path: &Path,
    gpu: &str,
    backend: &str,
    rows: Vec<(KernelOp, f64)>,
    versions: &BTreeMap<String, usize>,
    skipped: Option<String>,
) -> CalibrationTable {
    let mut extra = BTreeMap::new();
    if !versions.is_empty() {
        extra.insert(
            "backend_version".to_string(),
            versions.keys().cloned().collect::<Vec<_>>().join(" "),
        );
    }
    extra.insert("measured_on".to_string(), "gpu".to_string());
    if let Some(s) = skipped {
        extra.insert("rows_skipped".to_string(), s);
    }
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    extra.insert(
        "source".to_string(),
        format!("public kernel-table layout {gpu}/{backend}/{file}"),
    );
    CalibrationTable {
        header: Header {
            version: FORMAT_VERSION,
            family,
            gpu: gpu.into(),
            backend: backend.into(),
            extra,
        },
        rows,
    }
}

/// Adds the rows of `t` to `into` (dispatch tables of other kernels); the parts (`; `
/// separated) of a header value that `into` lacks are appended to its own.
fn merge_into(into: &mut CalibrationTable, t: CalibrationTable) {
    into.rows.extend(t.rows);
    for (k, v) in t.header.extra {
        let e = into.header.extra.entry(k).or_default();
        for part in v.split("; ") {
            if !e.split("; ").any(|p| p == part) {
                *e = if e.is_empty() {
                    part.to_string()
                } else {
                    format!("{e}; {part}")
                };
            }
        }
    }
}

/// The table names an import folder may hold, for errors.
fn known_tables() -> String {
    format!(
        "tables: {}, or the calibration format's {}",
        PublicTable::ALL.map(PublicTable::name).join(", "),
        Family::ALL.map(Family::name).join(", ")
    )
}

/// Converts every public table under `dir` (`<gpu>/<backend>/<table>.csv[.gz]`) into the
/// calibration format under `out`, adding `extra` header keys (e.g. `source`, `license`).
/// Returns the files written, sorted.
pub fn import_dir(
    dir: &Path,
    out: &Path,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    // Output file → the input it came from: two inputs of one table are an error.
    let mut sources: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    // Dispatch tables, written once every input of their file is read.
    let mut pending: BTreeMap<PathBuf, CalibrationTable> = BTreeMap::new();
    let catalog = crate::hardware::GpuCatalog::builtin();
    for g in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let gpu = g
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        // Tables are found by the GPU's catalog name: another spelling of a known GPU
        // would be written where nothing looks for it.
        if let Ok(sku) = catalog.resolve(&gpu)
            && sku != gpu
        {
            return Err(ModelsError::Invalid {
                what: "import folder",
                message: format!("{}: this is {sku}; name the folder {sku}", g.display()),
            });
        }
        for b in sorted_entries(&g)?.into_iter().filter(|p| p.is_dir()) {
            let backend = b
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            // Likewise the backend's (NCCL's collectives are a backend of their own).
            let known = Backend::ALL.map(Backend::name);
            if backend != "nccl" && !known.contains(&backend.as_str()) {
                let hint = match Backend::parse(&backend) {
                    Ok(b) => format!("this is {}; name the folder {}", b.name(), b.name()),
                    Err(_) => format!("not a backend ({}, or nccl)", known.join(", ")),
                };
                return Err(ModelsError::Invalid {
                    what: "import folder",
                    message: format!("{}: {hint}", b.display()),
                });
            }
            for f in sorted_entries(&b)? {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let stem = name
                    .strip_suffix(".csv.gz")
                    .or_else(|| name.strip_suffix(".csv"));
                // The public layout (`gemm_perf`, ...) is converted; files already in the
                // calibration format (`gemm`, ..., as the harness writes them) are checked
                // and copied, so a harness run can be imported as it is.
                let mut t = if let Some(table) = stem.and_then(|s| PublicTable::parse(s).ok()) {
                    read_public_table(&f, table, &gpu, &backend)?
                } else if stem.is_some_and(|s| Family::parse(s).is_ok()) {
                    CalibrationTable::read(&f)?
                } else if stem.is_some() {
                    // A table file under a name we do not know (a typo) is not skipped.
                    return Err(ModelsError::Invalid {
                        what: "import file",
                        message: format!(
                            "{}: not a known table name ({})",
                            f.display(),
                            known_tables()
                        ),
                    });
                } else {
                    continue; // not a table (a README, a log)
                };
                if t.rows.is_empty() {
                    let why = t
                        .header
                        .extra
                        .get("rows_skipped")
                        .map_or("it holds none".to_string(), |s| format!("skipped: {s}"));
                    return Err(ModelsError::Invalid {
                        what: "import file",
                        message: format!("{}: no row to import ({why})", f.display()),
                    });
                }
                for (k, v) in extra {
                    if k == "source" {
                        let s = t.header.extra.entry(k.clone()).or_default();
                        *s = format!("{v}; {s}");
                    } else {
                        t.header.extra.insert(k.clone(), v.clone());
                    }
                }
                let path = t.path_under(out);
                if let Some(first) = sources.get(&path) {
                    // The dispatch tables of different kernels (DeepEP's low-latency and
                    // normal ones) fill one file, as SGLang's MLA part tables do; any other
                    // table given twice is an error.
                    let stem = |p: &Path| {
                        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                        n.trim_end_matches(".gz")
                            .trim_end_matches(".csv")
                            .to_string()
                    };
                    match pending.get_mut(&path) {
                        Some(m) if stem(first) != stem(&f) => {
                            merge_into(m, t);
                            continue;
                        }
                        _ => {
                            return Err(ModelsError::Invalid {
                                what: "import folder",
                                message: format!(
                                    "{} and {} are the same table ({}): keep one",
                                    first.display(),
                                    f.display(),
                                    path.display()
                                ),
                            });
                        }
                    }
                }
                sources.insert(path.clone(), f.clone());
                if matches!(t.header.family, Family::MoeDispatch | Family::MlaParts) {
                    pending.insert(path, t);
                    continue;
                }
                t.write_gz(&path)?;
                written.push(path);
            }
        }
    }
    for (path, t) in pending {
        t.write_gz(&path)?;
        written.push(path);
    }
    written.sort();
    if written.is_empty() {
        return Err(ModelsError::Invalid {
            what: "import folder",
            message: format!(
                "{}: no <gpu>/<backend>/<table>.csv[.gz] files found ({})",
                dir.display(),
                known_tables()
            ),
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
