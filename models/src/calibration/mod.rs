//! The calibration format (v1): one gzip CSV per kernel family, with a `# key: value` header.
//!
//! Layout: `<root>/<gpu>/<backend>/<family>.csv.gz` (`backend`: trtllm, vllm, sglang, or nccl
//! for collectives). See `docs/calibration-format.md` for the full description. This module
//! reads and writes the format ([`CalibrationTable`]), converts the public kernel-table layout
//! ([`import`]), and holds the tables shipped inside the crate ([`shipped`]).

mod dispatch_import;
mod fields;
mod gdn_import;
pub mod import;
mod mla_parts_import;
mod rows;
pub mod shipped;

pub(crate) use rows::{Columns, RowCtx, TableReader};

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{ModelsError, Result};
use crate::llm::MlaDims;
use crate::perf::ops::{
    AllReduceImpl, AttnShape, DispatchKernel, DispatchShape, DispatchStage, ExpertRouting, GdnPart,
    GdnShape, GemmShape, KernelOp, MlaPart, MlaPartShape, MlaShape, MoeKernel, MoeQuant, MoeShape,
    NcclOp,
};

/// The major version of the format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A kernel family: one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Dense GEMMs.
    Gemm,
    /// Context (prefill) attention.
    ContextAttention,
    /// Generation (decode) attention.
    GenerationAttention,
    /// The framework's custom all-reduce.
    CustomAllreduce,
    /// NCCL collectives.
    Nccl,
    /// GPU-to-GPU copies (written by the harness).
    P2pCopy,
    /// Fused mixture-of-experts layers, tokens routed uniformly over the experts.
    Moe,
    /// The same layers under TensorRT-LLM's NVFP4 min-latency kernel.
    MoeMinLatency,
    /// The same layers under SGLang's DeepEP MoE with DeepEP's normal dispatch (prefill).
    MoeDeepepNormal,
    /// The same layers under SGLang's DeepEP MoE with DeepEP's low-latency dispatch (decode).
    MoeDeepepLowLatency,
    /// Multi-head latent attention blocks over prompts (projections and attention).
    MlaContext,
    /// Multi-head latent attention blocks over decode sequences.
    MlaGeneration,
    /// The parts of an MLA block besides its projections, timed on their own (SGLang's).
    MlaParts,
    /// Expert parallelism's token dispatch and combine, stage by stage.
    MoeDispatch,
    /// The kernels of Gated DeltaNet (linear attention) layers.
    Gdn,
}

impl Family {
    /// All families.
    pub const ALL: [Family; 15] = [
        Family::Gemm,
        Family::ContextAttention,
        Family::GenerationAttention,
        Family::CustomAllreduce,
        Family::Nccl,
        Family::P2pCopy,
        Family::Moe,
        Family::MoeMinLatency,
        Family::MoeDeepepNormal,
        Family::MoeDeepepLowLatency,
        Family::MlaContext,
        Family::MlaGeneration,
        Family::MlaParts,
        Family::MoeDispatch,
        Family::Gdn,
    ];

    /// The families of kernel timings a backend's folder holds, in [`Family::ALL`] order: all
    /// but the GPU-to-GPU copies, which only the harness writes.
    pub fn kernel_families() -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(|&f| f != Family::P2pCopy)
    }

    /// The family name (also the file stem).
    pub fn name(self) -> &'static str {
        match self {
            Family::Gemm => "gemm",
            Family::ContextAttention => "context_attention",
            Family::GenerationAttention => "generation_attention",
            Family::CustomAllreduce => "custom_allreduce",
            Family::Nccl => "nccl",
            Family::P2pCopy => "p2p_copy",
            Family::Moe => "moe",
            Family::MoeMinLatency => "moe_min_latency",
            Family::MoeDeepepNormal => "moe_deepep_normal",
            Family::MoeDeepepLowLatency => "moe_deepep_low_latency",
            Family::MlaContext => "mla_context",
            Family::MlaGeneration => "mla_generation",
            Family::MlaParts => "mla_parts",
            Family::MoeDispatch => "moe_dispatch",
            Family::Gdn => "gdn",
        }
    }

    /// Parses a family name.
    pub fn parse(name: &str) -> Result<Self> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == name.trim())
            .ok_or_else(|| ModelsError::UnknownName {
                what: "calibration family",
                name: name.to_string(),
                known: Family::ALL.map(Family::name).join(", "),
            })
    }

    /// The MoE kernel whose layers a MoE family times (`None`: not a MoE family).
    pub fn moe_kernel(self) -> Option<MoeKernel> {
        match self {
            Family::Moe => Some(MoeKernel::Default),
            Family::MoeMinLatency => Some(MoeKernel::MinLatency),
            Family::MoeDeepepNormal => Some(MoeKernel::DeepepNormal),
            Family::MoeDeepepLowLatency => Some(MoeKernel::DeepepLowLatency),
            _ => None,
        }
    }

    /// The columns of the family, in the order written (`latency_ms` last).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Family::Gemm => &["dtype", "m", "n", "k", "latency_ms"],
            Family::ContextAttention => &[
                "batch",
                "isl",
                "num_heads",
                "num_kv_heads",
                "head_dim",
                "window",
                "attn_dtype",
                "kv_dtype",
                "latency_ms",
            ],
            Family::GenerationAttention => &[
                "batch",
                "kv_len",
                "num_heads",
                "num_kv_heads",
                "head_dim",
                "window",
                "attn_dtype",
                "kv_dtype",
                "latency_ms",
            ],
            Family::CustomAllreduce => &[
                "dtype",
                "num_gpus",
                "message_elems",
                "implementation",
                "latency_ms",
            ],
            Family::Nccl => &["op", "dtype", "num_gpus", "message_elems", "latency_ms"],
            Family::P2pCopy => &["src_gpu", "dst_gpu", "bytes", "latency_ms"],
            Family::Moe
            | Family::MoeMinLatency
            | Family::MoeDeepepNormal
            | Family::MoeDeepepLowLatency => &[
                "moe_dtype",
                "tokens",
                "hidden",
                "inter",
                "topk",
                "experts",
                "moe_tp",
                "moe_ep",
                "routing",
                "latency_ms",
            ],
            Family::MlaContext | Family::MlaGeneration => &[
                "batch",
                "len",
                "num_heads",
                "hidden",
                "q_lora_rank",
                "kv_lora_rank",
                "qk_nope_head_dim",
                "qk_rope_head_dim",
                "v_head_dim",
                "kv_dtype",
                "gemm_dtype",
                "latency_ms",
            ],
            Family::MlaParts => &[
                "part",
                "batch",
                "len",
                "num_heads",
                "kv_lora_rank",
                "qk_nope_head_dim",
                "qk_rope_head_dim",
                "v_head_dim",
                "dtype",
                "latency_ms",
            ],
            Family::MoeDispatch => &[
                "kernel",
                "stage",
                "dtype",
                "tokens",
                "hidden",
                "topk",
                "experts",
                "moe_ep",
                "nodes",
                "latency_ms",
            ],
            Family::Gdn => &[
                "part",
                "batch",
                "len",
                "k_heads",
                "v_heads",
                "head_k_dim",
                "head_v_dim",
                "conv_kernel",
                "latency_ms",
            ],
        }
    }

    /// A column that files written before it existed lack, read as its default where absent:
    /// the MoE tables' `routing` (balanced).
    fn optional_column(self) -> Option<&'static str> {
        self.moe_kernel().map(|_| "routing")
    }

    /// The backend directory of the family for a framework (`nccl` for NCCL collectives;
    /// dispatch kernels: TensorRT-LLM's own, else SGLang's DeepEP tables, which vLLM's
    /// DeepEP backends would run too).
    pub fn backend_dir(self, backend: &str) -> String {
        match self {
            Family::Nccl => "nccl".into(),
            Family::MoeDispatch if backend != "trtllm" => "sglang".into(),
            // vLLM runs the same flash-linear-attention and causal-conv1d kernels as SGLang
            // (vendored since 0.10.2: `vllm/model_executor/layers/fla/ops`,
            // `layers/mamba/ops/causal_conv1d.py`); only SGLang's and TensorRT-LLM's are measured.
            Family::Gdn if backend == "vllm" => "sglang".into(),
            _ => backend.into(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header of a calibration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format major version (`# servesim-calibration: 1`).
    pub version: u32,
    /// Kernel family.
    pub family: Family,
    /// GPU SKU measured.
    pub gpu: String,
    /// Backend (`trtllm`, `vllm`, `sglang`, `nccl`).
    pub backend: String,
    /// Optional and unknown keys (`backend_version`, `source`, `license`, `measured_on`,
    /// `created`, ...), kept in key order.
    pub extra: BTreeMap<String, String>,
}

/// One calibration file: header and measured rows (operation, latency in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationTable {
    /// The header.
    pub header: Header,
    /// Measured rows, in file order.
    pub rows: Vec<(KernelOp, f64)>,
}

/// The row parser of a family in the calibration format: every column is required but the
/// family's optional one, the latency last.
fn family_row(
    family: Family,
    cols: &Columns,
    path: &Path,
) -> Result<impl Fn(&RowCtx<'_>) -> Result<(KernelOp, f64)>> {
    let idx: Vec<usize> = family
        .columns()
        .iter()
        .map(|c| match cols.find(&[c]) {
            None if family.optional_column() == Some(c) => Ok(ABSENT),
            _ => cols.require(&[c], path),
        })
        .collect::<Result<_>>()?;
    Ok(move |r: &RowCtx<'_>| -> Result<(KernelOp, f64)> {
        let lat = r.latency(*idx.last().unwrap_or(&0))?;
        let op = row_op(family, r, &idx, |r, i| r.pos_u32(i))?;
        Ok((op, lat))
    })
}

/// The column index of an optional column a file lacks.
const ABSENT: usize = usize::MAX;

/// The kernel operation of one row of `family`, its fields read from the columns `i` in
/// [`Family::columns`] order (the latency aside): one parser for the calibration format and
/// the public layout alike. `attn_len` reads an attention call's length from its column, which
/// the public layout holds as a generation step rather than a KV length.
pub(crate) fn row_op(
    family: Family,
    r: &RowCtx<'_>,
    i: &[usize],
    attn_len: impl FnOnce(&RowCtx<'_>, usize) -> Result<u32>,
) -> Result<KernelOp> {
    Ok(match family {
        Family::Gemm => KernelOp::Gemm(GemmShape {
            dtype: r.dtype(i[0])?,
            m: r.pos_int(i[1])?,
            n: r.pos_int(i[2])?,
            k: r.pos_int(i[3])?,
        }),
        Family::ContextAttention | Family::GenerationAttention => {
            let a = AttnShape {
                batch: r.pos_u32(i[0])?,
                len: attn_len(r, i[1])?,
                num_heads: r.pos_u32(i[2])?,
                num_kv_heads: r.pos_u32(i[3])?,
                head_dim: r.pos_u32(i[4])?,
                window: r.u32(i[5])?,
                attn_dtype: r.dtype(i[6])?,
                kv_dtype: r.dtype(i[7])?,
            };
            if family == Family::ContextAttention {
                KernelOp::ContextAttention(a)
            } else {
                KernelOp::GenerationAttention(a)
            }
        }
        Family::CustomAllreduce => KernelOp::CustomAllReduce {
            dtype: r.dtype(i[0])?,
            num_gpus: r.pos_u32(i[1])?,
            elems: r.pos_int(i[2])?,
            implementation: r.parse(i[3], AllReduceImpl::parse)?,
        },
        Family::Nccl => KernelOp::Nccl {
            op: r.parse(i[0], NcclOp::parse)?,
            dtype: r.dtype(i[1])?,
            num_gpus: r.pos_u32(i[2])?,
            elems: r.pos_int(i[3])?,
        },
        Family::P2pCopy => KernelOp::P2pCopy {
            src_gpu: r.u32(i[0])?,
            dst_gpu: r.u32(i[1])?,
            bytes: r.pos_int(i[2])?,
        },
        Family::Moe
        | Family::MoeMinLatency
        | Family::MoeDeepepNormal
        | Family::MoeDeepepLowLatency => {
            let m = MoeShape {
                quant: r.parse(i[0], MoeQuant::parse)?,
                tokens: r.pos_int(i[1])?,
                hidden: r.pos_u32(i[2])?,
                inter: r.pos_u32(i[3])?,
                topk: r.pos_u32(i[4])?,
                experts: r.pos_u32(i[5])?,
                moe_tp: r.pos_u32(i[6])?,
                moe_ep: r.pos_u32(i[7])?,
                kernel: family.moe_kernel().unwrap_or_default(),
                routing: match i[8] {
                    ABSENT => ExpertRouting::Balanced,
                    c => r.parse(c, ExpertRouting::parse)?,
                },
            };
            // A token picks `topk` distinct experts, and each EP rank holds one at least.
            for (col, n) in [(i[4], m.topk), (i[7], m.moe_ep)] {
                if n > m.experts {
                    let said = format!("{n} is more than the row's {} experts", m.experts);
                    return Err(r.err(col, said));
                }
            }
            KernelOp::Moe(m)
        }
        Family::MlaContext | Family::MlaGeneration => {
            let q_lora = r.u32(i[4])?;
            let dims = MlaDims {
                q_lora_rank: (q_lora > 0).then_some(q_lora),
                kv_lora_rank: r.pos_u32(i[5])?,
                qk_nope_head_dim: r.pos_u32(i[6])?,
                qk_rope_head_dim: r.pos_u32(i[7])?,
                v_head_dim: r.pos_u32(i[8])?,
                indexer: None,
            };
            mla_op(family, r, [i[0], i[1], i[2], i[3], i[9], i[10]], dims)?
        }
        Family::MlaParts => KernelOp::MlaPart(MlaPartShape {
            part: r.parse(i[0], MlaPart::parse)?,
            batch: r.pos_u32(i[1])?,
            len: r.pos_u32(i[2])?,
            heads: r.pos_u32(i[3])?,
            dims: MlaDims {
                q_lora_rank: None,
                kv_lora_rank: r.pos_u32(i[4])?,
                qk_nope_head_dim: r.pos_u32(i[5])?,
                qk_rope_head_dim: r.pos_u32(i[6])?,
                v_head_dim: r.pos_u32(i[7])?,
                indexer: None,
            },
            dtype: r.dtype(i[8])?,
        }),
        Family::MoeDispatch => KernelOp::MoeDispatch(DispatchShape {
            kernel: r.parse(i[0], DispatchKernel::parse)?,
            stage: r.parse(i[1], DispatchStage::parse)?,
            dtype: r.dtype(i[2])?,
            tokens: r.pos_int(i[3])?,
            hidden: r.pos_u32(i[4])?,
            topk: r.pos_u32(i[5])?,
            experts: r.pos_u32(i[6])?,
            moe_ep: r.pos_u32(i[7])?,
            nodes: r.pos_u32(i[8])?,
        }),
        Family::Gdn => KernelOp::Gdn(GdnShape {
            part: r.parse(i[0], GdnPart::parse)?,
            batch: r.pos_u32(i[1])?,
            len: r.pos_u32(i[2])?,
            k_heads: r.pos_u32(i[3])?,
            v_heads: r.pos_u32(i[4])?,
            head_k_dim: r.pos_u32(i[5])?,
            head_v_dim: r.pos_u32(i[6])?,
            conv_kernel: r.pos_u32(i[7])?,
        }),
    })
}

/// An MLA row: `i` = batch, length, heads, hidden, KV dtype, GEMM dtype columns.
fn mla_op(family: Family, r: &RowCtx<'_>, i: [usize; 6], dims: MlaDims) -> Result<KernelOp> {
    let m = MlaShape {
        batch: r.pos_u32(i[0])?,
        len: r.pos_u32(i[1])?,
        heads: r.pos_u32(i[2])?,
        hidden: r.pos_u32(i[3])?,
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

/// Reads a whole file, un-gzipping it when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| ModelsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    gunzip_if_needed(raw, path)
}

pub(crate) fn gunzip_if_needed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| ModelsError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

impl CalibrationTable {
    /// Reads a calibration file (gzip or plain CSV).
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&read_maybe_gz(path)?, path)
    }

    /// Parses the bytes of a calibration file (plain CSV or gzip); `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let owned;
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            owned = gunzip_if_needed(bytes.to_vec(), path)?;
            owned.as_slice()
        } else {
            bytes
        };
        let text = std::str::from_utf8(bytes).map_err(|e| ModelsError::CalibrationHeader {
            path: path.to_path_buf(),
            message: format!("not UTF-8 text: {e}"),
        })?;
        let hdr_err = |message: String| ModelsError::CalibrationHeader {
            path: path.to_path_buf(),
            message,
        };
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut body_start = 0usize;
        let mut comment_lines = 0u64;
        for line in text.split_inclusive('\n') {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix('#') {
                comment_lines += 1;
                body_start += line.len();
                let Some((k, v)) = rest.split_once(':') else {
                    return Err(hdr_err(format!(
                        "line {comment_lines}: comment is not `# key: value`"
                    )));
                };
                let k = k.trim();
                if keys.insert(k.to_string(), v.trim().to_string()).is_some() {
                    return Err(hdr_err(format!(
                        "line {comment_lines}: key `{k}` is given twice"
                    )));
                }
            } else if t.is_empty() && keys.is_empty() {
                comment_lines += 1;
                body_start += line.len();
            } else {
                break;
            }
        }
        let mut take = |k: &str| {
            keys.remove(k)
                .ok_or_else(|| hdr_err(format!("missing required header key `# {k}:`")))
        };
        let version_s = take("servesim-calibration")?;
        let major = version_s.split('.').next().unwrap_or("").trim();
        let version: u32 = major.parse().map_err(|_| {
            hdr_err(format!(
                "`servesim-calibration: {version_s}` is not a version number"
            ))
        })?;
        if version > FORMAT_VERSION || version == 0 {
            return Err(hdr_err(format!(
                "calibration format version {version_s} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let family = Family::parse(&take("family")?).map_err(|e| hdr_err(e.to_string()))?;
        let gpu = take("gpu")?;
        let backend = take("backend")?;
        let header = Header {
            version,
            family,
            gpu,
            backend,
            extra: keys,
        };

        let mut rdr = TableReader::new(&bytes[body_start..], path).after_lines(comment_lines);
        let cols = rdr.columns()?;
        let parse_row = family_row(family, &cols, path)?;
        let mut rows = Vec::new();
        let mut rec = csv::StringRecord::new();
        while let Some(line) = rdr.next_record(&mut rec)? {
            let ctx = RowCtx {
                path,
                line,
                rec: &rec,
                cols: &cols,
            };
            rows.push(parse_row(&ctx)?);
        }
        Ok(CalibrationTable { header, rows })
    }

    /// The CSV text (with header comments) of this table.
    pub fn to_csv_string(&self) -> String {
        let h = &self.header;
        let mut s = format!(
            "# servesim-calibration: {FORMAT_VERSION}\n# family: {}\n# gpu: {}\n# backend: {}\n",
            h.family, h.gpu, h.backend
        );
        for (k, v) in &h.extra {
            s += &format!("# {k}: {v}\n");
        }
        s += &h.family.columns().join(",");
        s.push('\n');
        for (op, lat) in &self.rows {
            let fields = fields::op_fields(op);
            s += &format!("{fields},{lat}\n");
        }
        s
    }

    /// Writes the table as gzip CSV to `path` (creating parent folders).
    pub fn write_gz(&self, path: &Path) -> Result<()> {
        let io = |source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(self.to_csv_string().as_bytes()).map_err(io)?;
        let bytes = enc.finish().map_err(io)?;
        std::fs::write(path, bytes).map_err(io)
    }

    /// The path of this table under a calibration root.
    pub fn path_under(&self, root: &Path) -> PathBuf {
        family_path(
            root,
            &self.header.gpu,
            &self.header.backend,
            self.header.family,
        )
    }
}

/// `<root>/<gpu>/<backend>/<family>.csv.gz`.
pub fn family_path(root: &Path, gpu: &str, backend: &str, family: Family) -> PathBuf {
    root.join(gpu)
        .join(backend)
        .join(format!("{}.csv.gz", family.name()))
}

/// The entries of a folder, sorted by path (a listing order that does not depend on the
/// file system).
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ModelsError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// All calibration tables found under a root folder (`<gpu>/<backend>/<family>.csv.gz`),
/// sorted by path. Files whose header disagrees with their place are an error.
pub fn load_dir(root: &Path) -> Result<Vec<CalibrationTable>> {
    let mut paths = Vec::new();
    for g in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        for b in sorted_entries(&g)?.into_iter().filter(|p| p.is_dir()) {
            paths.extend(sorted_entries(&b)?.into_iter().filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".csv.gz") || n.ends_with(".csv"))
            }));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        let t = CalibrationTable::read(&p)?;
        let dir_backend = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let dir_gpu = p
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if t.header.gpu != dir_gpu || t.header.backend != dir_backend {
            return Err(ModelsError::CalibrationHeader {
                path: p.clone(),
                message: format!(
                    "header says gpu `{}` backend `{}` but the file lies under `{dir_gpu}/{dir_backend}`",
                    t.header.gpu, t.header.backend
                ),
            });
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# servesim-calibration: 1\n# family: gemm\n# gpu: h100_sxm\n# backend: trtllm\n# source: test\n# weird_key: kept\ndtype,m,n,k,latency_ms\nbfloat16,1,128,128,0.01\nfp8,2,128,128,0.02\n";

    #[test]
    fn round_trip_and_dtype_normalised() {
        let t = CalibrationTable::parse(GOOD.as_bytes(), Path::new("t.csv")).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.header.extra.get("weird_key").map(String::as_str),
            Some("kept")
        );
        let s = t.to_csv_string();
        assert!(s.contains("bf16,1,128,128,0.01"));
        let t2 = CalibrationTable::parse(s.as_bytes(), Path::new("t2.csv")).unwrap();
        assert_eq!(t, t2);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = GOOD.replace("fp8,2,128", "fp8,x,128");
        let e = CalibrationTable::parse(bad.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:9") && e.contains("`m`"), "{e}");
        let newer = GOOD.replace("calibration: 1", "calibration: 2");
        let e = CalibrationTable::parse(newer.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv") && e.contains("version 2"), "{e}");
        let missing = GOOD.replace("# gpu: h100_sxm\n", "");
        let e = CalibrationTable::parse(missing.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`# gpu:`"), "{e}");
        let twice = GOOD.replace("# gpu: h100_sxm\n", "# gpu: h100_sxm\n# gpu: h200_sxm\n");
        let e = CalibrationTable::parse(twice.as_bytes(), Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4: key `gpu` is given twice"), "{e}");
        let p2p = "# servesim-calibration: 1\n# family: p2p_copy\n# gpu: h100_sxm\n# backend: nccl\n# measured_on: cpu-dry-run\nsrc_gpu,dst_gpu,bytes,latency_ms\n0,1,1048576,0.01\n";
        assert_eq!(
            CalibrationTable::parse(p2p.as_bytes(), Path::new("p"))
                .unwrap()
                .rows
                .len(),
            1
        );
    }
}
