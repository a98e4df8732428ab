//! Dense LLM architectures: the built-in models, Hugging Face `config.json` loading, the
//! dtypes they are served in, and the derived sizes (weight bytes, KV bytes per token, KV
//! capacity of a worker).

use std::path::Path;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuSku;

/// Default memory share (vLLM's `gpu_memory_utilization` and TensorRT-LLM's
/// `free_gpu_memory_fraction` both default to 0.9).
pub const DEFAULT_MEM_FRACTION: f64 = 0.9;
/// Memory kept per GPU for activations, workspaces and CUDA graphs.
pub const RESERVED_BYTES_PER_GPU: u64 = 2 << 30;

/// A dense decoder-only transformer, with the dtypes it is served in.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSpec {
    /// Name (built-in name, or the `config.json` path it came from).
    pub name: String,
    /// Hidden size `h`.
    pub hidden_size: u32,
    /// Transformer layers.
    pub num_layers: u32,
    /// Query heads.
    pub num_heads: u32,
    /// KV heads (grouped-query attention).
    pub num_kv_heads: u32,
    /// Dimension of one head.
    pub head_dim: u32,
    /// MLP intermediate size (gated MLP: gate, up, down).
    pub intermediate_size: u32,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Whether the LM head shares the embedding's weights.
    pub tie_word_embeddings: bool,
    /// Weight (and GEMM) dtype.
    pub weight_dtype: Dtype,
    /// KV-cache dtype.
    pub kv_dtype: Dtype,
}

/// The built-in models: (canonical lower-case name, spec constructor arguments).
const BUILTIN: [(&str, [u32; 7], bool); 4] = [
    // name, [hidden, layers, heads, kv_heads, head_dim, ffn, vocab], tied
    ("qwen3-32b", [5120, 64, 64, 8, 128, 25600, 151936], false),
    ("qwen3-0.6b", [1024, 28, 16, 8, 128, 3072, 151936], true),
    ("llama-3.1-8b", [4096, 32, 32, 8, 128, 14336, 128256], false),
    (
        "llama-3.1-70b",
        [8192, 80, 64, 8, 128, 28672, 128256],
        false,
    ),
];

const BUILTIN_DISPLAY: [&str; 4] = ["Qwen3-32B", "Qwen3-0.6B", "Llama-3.1-8B", "Llama-3.1-70B"];

impl LlmSpec {
    /// Names of the built-in models.
    pub fn builtin_names() -> [&'static str; 4] {
        BUILTIN_DISPLAY
    }

    /// Looks a built-in model up by name or Hugging Face id: any owner prefix
    /// (`Qwen/`, `meta-llama/`), case, a `Meta-` prefix and `-Instruct` / `-FP8` suffixes are
    /// accepted (`Qwen/Qwen3-32B-FP8`, `meta-llama/Llama-3.1-8B-Instruct`). An `-FP8` suffix sets
    /// FP8 weights; the KV cache stays bf16 (set [`LlmSpec::kv_dtype`] to change it).
    pub fn lookup(id: &str) -> Result<Self> {
        let base = id
            .rsplit('/')
            .next()
            .unwrap_or(id)
            .trim()
            .to_ascii_lowercase();
        let mut name = base.as_str();
        let mut fp8 = false;
        loop {
            if let Some(s) = name.strip_suffix("-fp8") {
                fp8 = true;
                name = s;
            } else if let Some(s) = name.strip_suffix("-instruct") {
                name = s;
            } else {
                break;
            }
        }
        let name = name.strip_prefix("meta-").unwrap_or(name);
        let Some(idx) = BUILTIN.iter().position(|(n, _, _)| *n == name) else {
            return Err(ModelsError::UnknownName {
                what: "model",
                name: id.to_string(),
                known: BUILTIN_DISPLAY.join(", ")
                    + " (any owner prefix, -Instruct/-FP8 suffix), or a config.json path",
            });
        };
        let (_, d, tied) = BUILTIN[idx];
        Ok(LlmSpec {
            name: BUILTIN_DISPLAY[idx].to_string(),
            hidden_size: d[0],
            num_layers: d[1],
            num_heads: d[2],
            num_kv_heads: d[3],
            head_dim: d[4],
            intermediate_size: d[5],
            vocab_size: d[6],
            tie_word_embeddings: tied,
            weight_dtype: if fp8 { Dtype::Fp8 } else { Dtype::Bf16 },
            kv_dtype: Dtype::Bf16,
        })
    }

    /// Loads a dense model from a Hugging Face `config.json`. Required: `hidden_size`,
    /// `num_hidden_layers`, `num_attention_heads`, `intermediate_size`, `vocab_size`.
    /// As in `transformers`: `num_key_value_heads` defaults to `num_attention_heads`,
    /// `head_dim` to `hidden_size / num_attention_heads`, `tie_word_embeddings` to false.
    /// A `quantization_config` with `quant_method: fp8` gives FP8 weights (block-scaled when it
    /// has `weight_block_size`). Mixture-of-experts configs are refused.
    pub fn from_hf_config(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_hf_config_str(&text, path)
    }

    /// As [`LlmSpec::from_hf_config`], from the text of the file (`path` names it in errors).
    pub fn from_hf_config_str(text: &str, path: &Path) -> Result<Self> {
        let cfg_err = |field: &str, message: String| ModelsError::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            cfg_err(
                &format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| cfg_err("(root)", "not a JSON object".into()))?;
        for moe in ["num_experts", "num_local_experts", "n_routed_experts"] {
            if obj.get(moe).is_some_and(|x| x.as_u64().unwrap_or(0) > 0) {
                return Err(cfg_err(
                    moe,
                    "mixture-of-experts models are not supported (dense only)".into(),
                ));
            }
        }
        let get = |field: &str| -> Result<Option<u32>> {
            // Far above any real model, low enough that sizes multiply without overflow.
            let most: u64 = match field {
                "num_hidden_layers" => 10_000,
                "vocab_size" => 1 << 24,
                "intermediate_size" => 1 << 22,
                _ => 1 << 20,
            };
            match obj.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => match x.as_u64() {
                    Some(n) if n > most => Err(cfg_err(
                        field,
                        format!("{n} is more than {most} (no model is this large)"),
                    )),
                    Some(n) if n >= 1 => Ok(Some(n as u32)),
                    _ => Err(cfg_err(field, format!("{x} is not a positive integer"))),
                },
            }
        };
        let req = |field: &str| -> Result<u32> {
            get(field)?.ok_or_else(|| cfg_err(field, "missing".into()))
        };
        let hidden_size = req("hidden_size")?;
        let num_layers = req("num_hidden_layers")?;
        let num_heads = req("num_attention_heads")?;
        let num_kv_heads = get("num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match get("head_dim")? {
            Some(d) => d,
            None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
            None => {
                return Err(cfg_err(
                    "head_dim",
                    "missing, and hidden_size is not a multiple of num_attention_heads".into(),
                ));
            }
        };
        if !num_heads.is_multiple_of(num_kv_heads) {
            return Err(cfg_err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        let tie_word_embeddings = match obj.get("tie_word_embeddings") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(x) => {
                return Err(cfg_err(
                    "tie_word_embeddings",
                    format!("{x} is not a boolean"),
                ));
            }
        };
        let weight_dtype = match obj.get("quantization_config") {
            Some(q) if q.get("quant_method").and_then(|m| m.as_str()) == Some("fp8") => {
                if q.get("weight_block_size").is_some_and(|b| !b.is_null()) {
                    Dtype::Fp8Block
                } else {
                    Dtype::Fp8
                }
            }
            _ => Dtype::Bf16,
        };
        Ok(LlmSpec {
            name: path.display().to_string(),
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size: req("intermediate_size")?,
            vocab_size: req("vocab_size")?,
            tie_word_embeddings,
            weight_dtype,
            kv_dtype: Dtype::Bf16,
        })
    }

    /// The same model with other weight and KV dtypes.
    pub fn with_dtypes(mut self, weight: Dtype, kv: Dtype) -> Self {
        self.weight_dtype = weight;
        self.kv_dtype = kv;
        self
    }

    /// Parameters per transformer layer (attention, gated MLP, two norms).
    pub fn params_per_layer(&self) -> u64 {
        let h = u64::from(self.hidden_size);
        let hd = u64::from(self.head_dim);
        let q = u64::from(self.num_heads) * hd;
        let kv = u64::from(self.num_kv_heads) * hd;
        let ffn = u64::from(self.intermediate_size);
        h * (q + 2 * kv) + q * h + 3 * h * ffn + 2 * h
    }

    /// All parameters: layers, embedding, LM head (unless tied), final norm.
    pub fn params(&self) -> u64 {
        let emb = u64::from(self.vocab_size) * u64::from(self.hidden_size);
        let head = if self.tie_word_embeddings { 0 } else { emb };
        u64::from(self.num_layers) * self.params_per_layer()
            + emb
            + head
            + u64::from(self.hidden_size)
    }

    /// Weight bytes of the whole model, every parameter in [`LlmSpec::weight_dtype`]
    /// (Qwen3-32B FP8: ≈ 32.8 GB).
    pub fn weight_bytes(&self) -> u64 {
        self.params() * u64::from(self.weight_dtype.bytes())
    }

    /// KV-cache bytes per token for the whole model:
    /// `layers × 2 × kv_heads × head_dim × kv_dtype_bytes` (Qwen3-32B FP8 KV: 131 072).
    pub fn kv_bytes_per_token(&self) -> u64 {
        u64::from(self.num_layers)
            * 2
            * u64::from(self.num_kv_heads)
            * u64::from(self.head_dim)
            * u64::from(self.kv_dtype.bytes())
    }

    /// KV heads held by one GPU at TP size `tp`: `ceil(kv_heads / tp)`, at least one
    /// (KV heads are replicated, not split, below one per GPU).
    pub fn kv_heads_per_gpu(&self, tp: u32) -> u32 {
        self.num_kv_heads.div_ceil(tp.max(1)).max(1)
    }

    /// KV-cache bytes per token on one GPU at TP size `tp`.
    pub fn kv_bytes_per_token_per_gpu(&self, tp: u32) -> u64 {
        u64::from(self.num_layers)
            * 2
            * u64::from(self.kv_heads_per_gpu(tp))
            * u64::from(self.head_dim)
            * u64::from(self.kv_dtype.bytes())
    }

    /// KV-cache capacity in tokens of one worker of `tp` GPUs using `mem_fraction` of each
    /// GPU's memory: `(mem × fraction − weights/tp) / kv_bytes_per_token_per_gpu`.
    /// Errors when the weights do not fit or the arguments are out of range.
    pub fn kv_capacity_tokens(&self, gpu: &GpuSku, tp: u32, mem_fraction: f64) -> Result<u64> {
        self.kv_capacity_tokens_with_reserve(gpu, tp, mem_fraction, 0)
    }

    /// As [`LlmSpec::kv_capacity_tokens`], also leaving `reserved_bytes` per GPU
    /// (activations, workspace, CUDA graphs).
    pub fn kv_capacity_tokens_with_reserve(
        &self,
        gpu: &GpuSku,
        tp: u32,
        mem_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        self.check_deployment(gpu, tp, mem_fraction)?;
        let free = gpu.memory_bytes * mem_fraction
            - self.weight_bytes() as f64 / f64::from(tp)
            - reserved_bytes as f64;
        self.kv_tokens_in(free, gpu, tp, mem_fraction)
    }

    /// KV-cache capacity in tokens when `free_fraction` is a share of the memory left once
    /// the weights and `reserved_bytes` are taken (TensorRT-LLM's `free_gpu_memory_fraction`),
    /// not of the whole GPU (vLLM's `gpu_memory_utilization`, SGLang's
    /// `mem_fraction_static`): `(mem − weights/tp − reserved) × fraction / kv_bytes`.
    pub fn kv_capacity_tokens_of_free(
        &self,
        gpu: &GpuSku,
        tp: u32,
        free_fraction: f64,
        reserved_bytes: u64,
    ) -> Result<u64> {
        self.check_deployment(gpu, tp, free_fraction)?;
        let free =
            (gpu.memory_bytes - self.weight_bytes() as f64 / f64::from(tp) - reserved_bytes as f64)
                * free_fraction;
        self.kv_tokens_in(free, gpu, tp, free_fraction)
    }

    fn check_deployment(&self, gpu: &GpuSku, tp: u32, mem_fraction: f64) -> Result<()> {
        if tp == 0 || tp > gpu.gpus_per_node {
            return Err(ModelsError::Invalid {
                what: "TP size",
                message: format!("{tp} (must be 1..={} on {})", gpu.gpus_per_node, gpu.sku),
            });
        }
        if !(mem_fraction > 0.0 && mem_fraction <= 1.0) {
            return Err(ModelsError::Invalid {
                what: "memory fraction",
                message: format!("{mem_fraction} (must be in (0, 1])"),
            });
        }
        Ok(())
    }

    /// Tokens of KV in `free` bytes per GPU; an error when nothing is left.
    fn kv_tokens_in(&self, free: f64, gpu: &GpuSku, tp: u32, mem_fraction: f64) -> Result<u64> {
        if free <= 0.0 {
            return Err(ModelsError::Invalid {
                what: "deployment",
                message: format!(
                    "{} weights ({:.1} GB) do not fit in {tp} × {} at memory fraction {mem_fraction}",
                    self.name,
                    self.weight_bytes() as f64 / 1e9,
                    gpu.sku
                ),
            });
        }
        Ok((free / self.kv_bytes_per_token_per_gpu(tp) as f64).floor() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::GpuCatalog;

    #[test]
    fn qwen3_32b_reference_figures() {
        let m = LlmSpec::lookup("Qwen/Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        assert_eq!(m.kv_bytes_per_token(), 131_072);
        let gb = m.weight_bytes() as f64 / 1e9;
        assert!((gb - 32.8).abs() < 0.1, "{gb}");
        assert_eq!(m.weight_dtype, Dtype::Fp8);
    }

    #[test]
    fn trtllm_shares_the_memory_left_after_weights() {
        // Llama-3.1-70B FP8 (FP8 KV, 160 KiB per token) on one H200: TRT-LLM's
        // free_gpu_memory_fraction 0.9 of (151.4 GB − 70.6 GB weights − reserve). Measured runs
        // (1024 in, 8192 out, guaranteed no-evict) hold ~48 sequences of 9216 tokens at once,
        // i.e. ~445k tokens; the whole-GPU share would give ~388k (42 sequences).
        let cat = GpuCatalog::builtin();
        let h200 = cat.get("h200_sxm").unwrap();
        let m = LlmSpec::lookup("meta-llama/Llama-3.1-70B")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let reserve = 2u64 << 30;
        let of_free = m.kv_capacity_tokens_of_free(h200, 1, 0.9, reserve).unwrap();
        let of_total = m
            .kv_capacity_tokens_with_reserve(h200, 1, 0.9, reserve)
            .unwrap();
        let want = (h200.memory_bytes - m.weight_bytes() as f64 - reserve as f64) * 0.9
            / m.kv_bytes_per_token_per_gpu(1) as f64;
        assert_eq!(of_free, want.floor() as u64);
        assert!((430_000..460_000).contains(&of_free), "{of_free}");
        assert!(of_total < 400_000, "{of_total}");
        // Same checks as the whole-GPU rule.
        assert!(m.kv_capacity_tokens_of_free(h200, 16, 0.9, 0).is_err());
        assert!(m.kv_capacity_tokens_of_free(h200, 1, 1.5, 0).is_err());
        let bf16 = m.clone().with_dtypes(Dtype::Bf16, Dtype::Bf16);
        let a100 = cat.get("a100_sxm").unwrap();
        assert!(bf16.kv_capacity_tokens_of_free(a100, 1, 0.9, 0).is_err());
    }

    #[test]
    fn lookup_accepts_prefixes_and_suffixes() {
        for id in [
            "meta-llama/Llama-3.1-8B-Instruct",
            "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "Llama-3.1-8B",
            "nvidia/Llama-3.1-8B-Instruct-FP8",
        ] {
            assert_eq!(LlmSpec::lookup(id).unwrap().name, "Llama-3.1-8B", "{id}");
        }
        assert_eq!(
            LlmSpec::lookup("meta-llama/Llama-3.1-70B")
                .unwrap()
                .num_layers,
            80
        );
        assert_eq!(
            LlmSpec::lookup("Qwen/Qwen3-0.6B").unwrap().hidden_size,
            1024
        );
        assert!(LlmSpec::lookup("Qwen/Qwen3-8B").is_err());
    }

    #[test]
    fn hf_config_loads_and_errors_name_the_field() {
        let p = Path::new("config.json");
        let cfg = r#"{"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"intermediate_size":14336,"vocab_size":128256}"#;
        let m = LlmSpec::from_hf_config_str(cfg, p).unwrap();
        assert_eq!(m.head_dim, 128);
        assert_eq!(
            m.params(),
            LlmSpec::lookup("Llama-3.1-8B").unwrap().params()
        );
        let bad = r#"{"hidden_size":4096,"num_hidden_layers":"x","num_attention_heads":32,
            "intermediate_size":14336,"vocab_size":128256}"#;
        let e = LlmSpec::from_hf_config_str(bad, p).unwrap_err().to_string();
        assert!(e.contains("num_hidden_layers"), "{e}");
        let huge = cfg.replace("14336", "4294967295");
        let e = LlmSpec::from_hf_config_str(&huge, p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("intermediate_size") && e.contains("no model is this large"),
            "{e}"
        );
        let missing = r#"{"hidden_size":4096,"num_attention_heads":32}"#;
        let e = LlmSpec::from_hf_config_str(missing, p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("num_hidden_layers") && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn kv_capacity() {
        let cat = GpuCatalog::builtin();
        let h200 = cat.get("h200_sxm").unwrap();
        let m = LlmSpec::lookup("Qwen3-32B-FP8")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let cap = m.kv_capacity_tokens(h200, 2, 0.9).unwrap();
        let expect = (h200.memory_bytes * 0.9 - m.weight_bytes() as f64 / 2.0) / (131_072.0 / 2.0);
        assert_eq!(cap, expect.floor() as u64);
        // KV heads are not split below one per GPU.
        assert_eq!(m.kv_heads_per_gpu(16), 1);
        let big = LlmSpec::lookup("Llama-3.1-70B").unwrap();
        assert!(
            big.kv_capacity_tokens(cat.get("h100_sxm").unwrap(), 1, 0.9)
                .is_err()
        );
        assert!(m.kv_capacity_tokens(h200, 0, 0.9).is_err());
    }
}
