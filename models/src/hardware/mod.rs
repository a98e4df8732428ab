//! GPU SKUs and nodes: datasheet figures, built in from `data/hardware/gpus.csv`.
//!
//! Users add or override SKUs with a file of the same columns (CSV) or the same fields
//! (YAML: a list of mappings), see [`GpuCatalog::load_file`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::alias;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

/// The datasheet shipped with the crate (copy of `data/hardware/gpus.csv`).
pub const BUILTIN_GPUS_CSV: &str = include_str!("../../../data/hardware/gpus.csv");

/// One GPU SKU's datasheet figures (dense, per GPU, per direction for links).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSku {
    /// SKU name, e.g. `h100_sxm`.
    pub sku: String,
    /// HBM capacity in bytes.
    pub memory_bytes: f64,
    /// HBM bandwidth in bytes/s.
    pub hbm_bytes_per_s: f64,
    /// Dense BF16 tensor FLOP/s.
    pub bf16_dense_flops: f64,
    /// Dense FP8 tensor FLOP/s (none on GPUs without FP8).
    pub fp8_dense_flops: Option<f64>,
    /// Dense FP4 tensor FLOP/s (none on GPUs without FP4).
    pub fp4_dense_flops: Option<f64>,
    /// NVLink bandwidth per GPU per direction in bytes/s.
    pub nvlink_bytes_per_s_per_direction: f64,
    /// Network (NIC) bandwidth per GPU per direction in bytes/s.
    pub nic_bytes_per_s_per_direction: f64,
    /// PCIe bandwidth per GPU in bytes/s.
    pub pcie_bytes_per_s: f64,
    /// GPUs in one node (a server, or a GB200/GB300 compute tray of 4).
    pub gpus_per_node: u32,
    /// Thermal design power in watts.
    pub tdp_watts: f64,
    /// GPUs sharing one NVLink switch fabric: a node on HGX boards (8), a rack of 72 in
    /// GB200/GB300 NVL72 systems (18 trays of 4, racks joined by InfiniBand). Absent in a user
    /// file: one node ([`GpuSku::nvlink_domain`]).
    #[serde(default)]
    pub nvlink_domain_gpus: Option<u32>,
}

impl GpuSku {
    /// Dense tensor FLOP/s for an operand dtype; FP8 falls back to BF16 on GPUs without FP8.
    /// NVFP4 runs at the FP4 peak; on a GPU without FP4 tensor cores (see
    /// [`GpuSku::runs`], which callers check first) it would not run at all, and the FP8 peak
    /// stands in.
    pub fn dense_flops(&self, dtype: Dtype) -> f64 {
        let fp8 = self.fp8_dense_flops.unwrap_or(self.bf16_dense_flops);
        match dtype {
            Dtype::Fp8 | Dtype::Fp8Block => fp8,
            Dtype::Nvfp4 => self.fp4_dense_flops.unwrap_or(fp8),
            Dtype::Bf16 | Dtype::Fp16 | Dtype::Fp32 | Dtype::Int8 => self.bf16_dense_flops,
        }
    }

    /// Whether the GPU's tensor cores run GEMMs in `dtype`: NVFP4 needs FP4 tensor cores
    /// (`fp4_dense_flops` given: Blackwell); the other formats run everywhere (FP8 on GPUs
    /// without it at the BF16 rate, as [`GpuSku::dense_flops`] says).
    pub fn runs(&self, dtype: Dtype) -> bool {
        !dtype.needs_fp4_tensor_cores() || self.fp4_dense_flops.is_some()
    }

    /// GPUs in one NVLink domain: `nvlink_domain_gpus`, or one node when not given.
    pub fn nvlink_domain(&self) -> u32 {
        self.nvlink_domain_gpus.unwrap_or(self.gpus_per_node)
    }

    /// Whether a worker of `gpus` GPUs fits one NVLink domain or takes whole ones (two HGX
    /// nodes); a worker over part of a domain and part of another is never placed.
    pub fn holds_worker(&self, gpus: u64) -> bool {
        let domain = u64::from(self.nvlink_domain().max(1));
        gpus <= domain || gpus.is_multiple_of(domain)
    }

    /// Nodes in one NVLink domain: 1 on an HGX board, 18 trays in an NVL72 rack
    /// (the catalog refuses a domain that is not a whole number of nodes).
    pub fn nodes_per_nvlink_domain(&self) -> u32 {
        self.nvlink_domain() / self.gpus_per_node.max(1)
    }

    /// This SKU on nodes of `per_node` GPUs, at most its datasheet's (a 4-GPU HGX board of an
    /// 8-GPU SKU): a node-sized NVLink domain narrows with the node, so a worker wider than
    /// such a node pays for crossing nodes; a rack-scale domain (NVL72) stays as it is.
    pub fn on_nodes_of(&self, per_node: u32) -> GpuSku {
        let mut g = self.clone();
        g.gpus_per_node = per_node.min(self.gpus_per_node).max(1);
        if self.nodes_per_nvlink_domain() <= 1 {
            g.nvlink_domain_gpus = Some(g.gpus_per_node);
        }
        g
    }

    /// The node this SKU comes in.
    pub fn node(&self) -> NodeSpec {
        NodeSpec {
            gpus: self.gpus_per_node,
            nvlink_bytes_per_s_per_direction: self.nvlink_bytes_per_s_per_direction,
            nic_bytes_per_s_per_direction: self.nic_bytes_per_s_per_direction,
        }
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let positive = [
            ("memory_bytes", self.memory_bytes),
            ("hbm_bytes_per_s", self.hbm_bytes_per_s),
            ("bf16_dense_flops", self.bf16_dense_flops),
            (
                "nvlink_bytes_per_s_per_direction",
                self.nvlink_bytes_per_s_per_direction,
            ),
            (
                "nic_bytes_per_s_per_direction",
                self.nic_bytes_per_s_per_direction,
            ),
            ("pcie_bytes_per_s", self.pcie_bytes_per_s),
            ("tdp_watts", self.tdp_watts),
        ];
        let optional = [
            ("fp8_dense_flops", self.fp8_dense_flops),
            ("fp4_dense_flops", self.fp4_dense_flops),
        ];
        let bad = positive
            .into_iter()
            .map(|(f, v)| (f, Some(v)))
            .chain(optional)
            .find(|(_, v)| v.is_some_and(|v| !(v.is_finite() && v > 0.0)));
        if let Some((field, v)) = bad {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: format!("{}.{field}", self.sku),
                message: format!("{} is not a finite positive number", v.unwrap_or(f64::NAN)),
            });
        }
        if self.gpus_per_node == 0 {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: format!("{}.gpus_per_node", self.sku),
                message: "must be at least 1".into(),
            });
        }
        if let Some(d) = self.nvlink_domain_gpus
            && (d < self.gpus_per_node || !d.is_multiple_of(self.gpus_per_node))
        {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: format!("{}.nvlink_domain_gpus", self.sku),
                message: format!(
                    "{d} is not a whole number of nodes of {} GPUs (gpus_per_node)",
                    self.gpus_per_node
                ),
            });
        }
        if self.sku.is_empty()
            || !self
                .sku
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: "sku".into(),
                message: format!(
                    "`{}` is not a valid SKU name (letters, digits, `_`, `-`)",
                    self.sku
                ),
            });
        }
        Ok(())
    }
}

/// A node of GPUs joined by NVLink, with one NIC per GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpec {
    /// GPUs per node.
    pub gpus: u32,
    /// NVLink bandwidth per GPU per direction (bytes/s).
    pub nvlink_bytes_per_s_per_direction: f64,
    /// NIC bandwidth per GPU per direction (bytes/s).
    pub nic_bytes_per_s_per_direction: f64,
}

/// A set of GPU SKUs by name (sorted; deterministic).
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCatalog {
    skus: BTreeMap<String, GpuSku>,
}

impl GpuCatalog {
    /// The built-in SKUs: `a100_sxm`, `h100_sxm`, `h200_sxm`, `b200_sxm`, `b300_sxm`, `gb200`,
    /// `gb300`.
    pub fn builtin() -> Self {
        let mut cat = GpuCatalog {
            skus: BTreeMap::new(),
        };
        cat.add_csv(
            BUILTIN_GPUS_CSV,
            Path::new("<builtin data/hardware/gpus.csv>"),
        )
        .unwrap_or_else(|e| unreachable!("built-in gpus.csv is valid: {e}"));
        cat
    }

    /// The SKU called `name`, or that the name a user typed stands for (see
    /// [`GpuCatalog::resolve`]).
    pub fn get(&self, name: &str) -> Result<&GpuSku> {
        let sku = self.resolve(name)?;
        Ok(&self.skus[sku])
    }

    /// The catalog's name of the SKU that `name` stands for: the name itself, or a form a
    /// user types (`H100`, `h100-sxm5`, `NVIDIA H100 80GB HBM3`, `GB200 NVL72`) that fits
    /// one SKU only. Case, separators, `NVIDIA`, HGX/DGX, HBM and NVL words are ignored,
    /// `SXM4`/`SXM5`/`SXM6` read as `SXM`, and a memory size (`80GB`) must be the SKU's (in
    /// GiB). A name that fits several SKUs is an error naming them.
    pub fn resolve(&self, name: &str) -> Result<&str> {
        if let Some((k, _)) = self.skus.get_key_value(name) {
            return Ok(k);
        }
        let entries: Vec<alias::Entry<'_>> = self
            .skus
            .iter()
            .map(|(k, g)| {
                let mut words = gpu_words(k);
                words.push(format!("{:.0}gb", g.memory_bytes / f64::from(1u32 << 30)));
                alias::Entry {
                    name: k,
                    forms: vec![words],
                }
            })
            .collect();
        alias::resolve(
            "GPU SKU",
            name,
            &gpu_words(name),
            &entries,
            self.names().collect::<Vec<_>>().join(", "),
        )
    }

    /// Forms a user may type for the SKU `sku` besides its name (`H100`, `H100-SXM`): those
    /// that fit it alone.
    pub fn aliases(&self, sku: &str) -> Vec<String> {
        let words = gpu_words(sku);
        let Some(chip) = words.first() else {
            return Vec::new();
        };
        let mut forms = vec![chip.to_uppercase()];
        if words.len() > 1 {
            forms.push(words.join("-").to_uppercase());
        }
        forms
            .into_iter()
            .filter(|f| f != sku && self.resolve(f).is_ok_and(|k| k == sku))
            .collect()
    }

    /// Names of all SKUs, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.skus.keys().map(String::as_str)
    }

    /// Adds (or replaces) one SKU after checking its figures.
    pub fn insert(&mut self, sku: GpuSku) -> Result<()> {
        sku.validate(Path::new("<api>"))?;
        self.skus.insert(sku.sku.clone(), sku);
        Ok(())
    }

    /// Adds (or replaces) the SKUs of a file: `.csv` with the columns of `gpus.csv`, or
    /// `.yaml`/`.yml` with a list of mappings of the same fields.
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => self.add_csv(&text, path),
            Some("yaml" | "yml") => {
                let skus: Vec<GpuSku> =
                    serde_norway::from_str(&text).map_err(|e| ModelsError::Config {
                        path: path.to_path_buf(),
                        field: e
                            .location()
                            .map(|l| format!("line {} column {}", l.line(), l.column()))
                            .unwrap_or_else(|| "document".into()),
                        message: e.to_string(),
                    })?;
                let mut seen = std::collections::BTreeSet::new();
                for (i, sku) in skus.into_iter().enumerate() {
                    sku.validate(path)?;
                    if !seen.insert(sku.sku.clone()) {
                        return Err(twice(path, &format!("[{i}].sku"), &sku.sku));
                    }
                    self.skus.insert(sku.sku.clone(), sku);
                }
                Ok(())
            }
            _ => Err(ModelsError::Config {
                path: path.to_path_buf(),
                field: "file name".into(),
                message: "a SKU file must end in .csv, .yaml or .yml".into(),
            }),
        }
    }

    fn add_csv(&mut self, text: &str, path: &Path) -> Result<()> {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut seen = std::collections::BTreeSet::new();
        for (i, rec) in rdr.deserialize::<GpuSku>().enumerate() {
            let sku = rec.map_err(|e| csv_error(path, &e))?;
            sku.validate(path)?;
            if !seen.insert(sku.sku.clone()) {
                return Err(twice(path, &format!("line {} column sku", i + 2), &sku.sku));
            }
            self.skus.insert(sku.sku.clone(), sku);
        }
        Ok(())
    }
}

/// A SKU named twice in one file (which one was meant is not ours to guess).
fn twice(path: &Path, field: &str, sku: &str) -> ModelsError {
    ModelsError::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: format!("'{sku}' is defined twice in this file"),
    }
}

/// Turns a `csv` crate error into a [`ModelsError::Csv`] naming the line and, when known, the field.
pub(crate) fn csv_error(path: &Path, e: &csv::Error) -> ModelsError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let column = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.field().map(|f| format!("#{}", f + 1)),
        _ => None,
    };
    ModelsError::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message: e.to_string(),
    }
}

/// The words of a GPU name (see [`alias::words`]) less those that do not tell SKUs apart
/// here (`NVIDIA`, HGX/DGX, HBM generations, NVL domains), `SXM4`/`SXM5`/`SXM6` as `SXM`.
fn gpu_words(name: &str) -> Vec<String> {
    let kept: Vec<String> = name
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| {
            !(p.is_empty()
                || ["nvidia", "hgx", "dgx"].contains(p)
                || p.starts_with("hbm")
                || p.starts_with("nvl"))
        })
        .map(|p| if p.starts_with("sxm") { "sxm" } else { p }.to_string())
        .collect();
    alias::words(&kept.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_skus() {
        let cat = GpuCatalog::builtin();
        let names: Vec<_> = cat.names().collect();
        assert_eq!(
            names,
            [
                "a100_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "h100_sxm", "h200_sxm"
            ]
        );
        let h100 = cat.get("h100_sxm").unwrap();
        assert_eq!(h100.gpus_per_node, 8);
        assert_eq!(h100.nvlink_domain(), 8);
        for nvl72 in ["gb200", "gb300"] {
            let g = cat.get(nvl72).unwrap();
            assert_eq!((g.gpus_per_node, g.nvlink_domain()), (4, 72), "{nvl72}");
        }
        assert_eq!(cat.get("b300_sxm").unwrap().nvlink_domain(), 8);
        assert_eq!(h100.nvlink_bytes_per_s_per_direction, 450e9);
        assert!(cat.get("a100_sxm").unwrap().fp8_dense_flops.is_none());
        assert!(matches!(cat.get("x"), Err(ModelsError::UnknownName { .. })));
    }

    #[test]
    fn names_users_type_resolve_to_one_sku_or_name_the_candidates() {
        let cat = GpuCatalog::builtin();
        for (typed, sku) in [
            ("H100", "h100_sxm"),
            ("h100", "h100_sxm"),
            ("H100-SXM", "h100_sxm"),
            ("h100_sxm5", "h100_sxm"),
            ("NVIDIA H100 80GB HBM3", "h100_sxm"),
            ("NVIDIA A100-SXM4-80GB", "a100_sxm"),
            ("H200", "h200_sxm"),
            ("B200", "b200_sxm"),
            ("GB200", "gb200"),
            ("GB200 NVL72", "gb200"),
            ("gb300", "gb300"),
        ] {
            assert_eq!(cat.resolve(typed).unwrap(), sku, "{typed}");
            assert_eq!(cat.get(typed).unwrap().sku, sku, "{typed}");
        }
        // A memory size that is not the SKU's is another GPU; a near miss is suggested.
        let e = cat.resolve("A100-40GB").unwrap_err().to_string();
        assert!(e.contains("unknown GPU SKU `A100-40GB`"), "{e}");
        let e = cat.resolve("h100_sxn").unwrap_err().to_string();
        assert!(e.contains("did you mean `h100_sxm`?"), "{e}");
        assert_eq!(cat.aliases("h100_sxm"), ["H100", "H100-SXM"]);
        assert_eq!(cat.aliases("gb200"), ["GB200"]);
        // With a PCIe H100 in the catalog, `H100` fits two SKUs and is refused.
        let mut cat = cat.clone();
        let mut pcie = cat.get("h100_sxm").unwrap().clone();
        pcie.sku = "h100_pcie".into();
        cat.insert(pcie).unwrap();
        let e = cat.resolve("H100").unwrap_err().to_string();
        assert_eq!(
            e,
            "GPU SKU `H100` is ambiguous: it could be h100_pcie, h100_sxm"
        );
        assert_eq!(cat.resolve("H100 SXM5").unwrap(), "h100_sxm");
        assert_eq!(cat.resolve("h100-pcie").unwrap(), "h100_pcie");
        assert_eq!(cat.aliases("h100_sxm"), ["H100-SXM"]);
    }

    #[test]
    fn user_sku_from_yaml_and_bad_field_is_named() {
        let dir = std::env::temp_dir().join(format!("servesim-sku-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("sku.yaml");
        std::fs::write(
            &good,
            "- sku: l40s\n  memory_bytes: 48e9\n  hbm_bytes_per_s: 864e9\n  bf16_dense_flops: 362e12\n  fp8_dense_flops: 733e12\n  fp4_dense_flops: null\n  nvlink_bytes_per_s_per_direction: 32e9\n  nic_bytes_per_s_per_direction: 25e9\n  pcie_bytes_per_s: 32e9\n  gpus_per_node: 8\n  tdp_watts: 350\n",
        )
        .unwrap();
        let mut cat = GpuCatalog::builtin();
        cat.load_file(&good).unwrap();
        assert_eq!(cat.get("l40s").unwrap().gpus_per_node, 8);
        let bad = dir.join("bad.csv");
        let header = BUILTIN_GPUS_CSV.lines().next().unwrap();
        std::fs::write(&bad, format!("{header}\nx1,1,1,1,,,1,1,1,0,1,8\n")).unwrap();
        let err = cat.load_file(&bad).unwrap_err().to_string();
        assert!(err.contains("gpus_per_node"), "{err}");
        let bad2 = dir.join("bad2.csv");
        std::fs::write(&bad2, format!("{header}\nx1,abc,1,1,,,1,1,1,8,1,8\n")).unwrap();
        let err = cat.load_file(&bad2).unwrap_err().to_string();
        assert!(err.contains(":2"), "{err}");
        let twice = dir.join("twice.csv");
        let row = "x1,1,1,1,,,1,1,1,8,1,8";
        std::fs::write(&twice, format!("{header}\n{row}\n{row}\n")).unwrap();
        let err = cat.load_file(&twice).unwrap_err().to_string();
        assert!(
            err.contains("line 3 column sku") && err.contains("'x1' is defined twice"),
            "{err}"
        );
        // A file of the older columns (no nvlink_domain_gpus): one node is the domain.
        let old = dir.join("old.csv");
        let old_header = header.trim_end_matches(",nvlink_domain_gpus");
        std::fs::write(&old, format!("{old_header}\nx2,1,1,1,,,1,1,1,8,1\n")).unwrap();
        cat.load_file(&old).unwrap();
        assert_eq!(cat.get("x2").unwrap().nvlink_domain(), 8);
        let odd = dir.join("odd.csv");
        std::fs::write(&odd, format!("{header}\nx3,1,1,1,,,1,1,1,4,1,6\n")).unwrap();
        let err = cat.load_file(&odd).unwrap_err().to_string();
        assert!(err.contains("x3.nvlink_domain_gpus"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
