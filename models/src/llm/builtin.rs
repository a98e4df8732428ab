//! The built-in models: the dense ones by their dimensions, the others by the Hugging Face
//! `config.json` each is published with (copied into `data/models/`, provenance in its
//! README), parsed as a user's file would be.

use std::path::Path;

use super::{ArchParts, LlmSpec};
use crate::alias;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

/// The dense built-ins: (canonical lower-case name, dimensions, tied embeddings).
const DENSE: [(&str, [u32; 7], bool); 4] = [
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

const DENSE_DISPLAY: [&str; 4] = ["Qwen3-32B", "Qwen3-0.6B", "Llama-3.1-8B", "Llama-3.1-70B"];

/// The dense built-ins' context lengths: `max_position_embeddings` of each model's published
/// `config.json` (Qwen3's 40,960 without YaRN; Llama 3.1's 131,072 with its RoPE scaling).
const DENSE_CONTEXT: [u32; 4] = [40_960, 40_960, 131_072, 131_072];

/// A built-in given by its `config.json`.
struct FromConfig {
    /// Name shown (the Hugging Face model name without its owner).
    display: &'static str,
    /// Lower-case names it is looked up by (after the owner prefix and `-Instruct` / `-FP8`
    /// suffixes are taken off).
    names: &'static [&'static str],
    /// The file's name under `data/models/`.
    file: &'static str,
    /// The file.
    json: &'static str,
    /// The weight dtype an `-FP8` suffix gives: that of the model's own FP8 checkpoint where
    /// one is published (block-scaled for Qwen3's), per-tensor FP8 otherwise (as for the dense
    /// built-ins). A config that is FP8 already keeps its own.
    fp8: Dtype,
}

macro_rules! config {
    ($display:literal, $names:expr, $file:literal, $fp8:expr) => {
        FromConfig {
            display: $display,
            names: $names,
            file: $file,
            json: include_str!(concat!("../../../data/models/", $file)),
            fp8: $fp8,
        }
    };
}

const FROM_CONFIG: [FromConfig; 18] = [
    config!(
        "DeepSeek-V3",
        &["deepseek-v3", "deepseek-v3-0324"],
        "deepseek-v3.config.json",
        Dtype::Fp8Block
    ),
    config!(
        "DeepSeek-R1",
        &["deepseek-r1", "deepseek-r1-0528"],
        "deepseek-r1.config.json",
        Dtype::Fp8Block
    ),
    // DeepSeek-V3's architecture with DeepSeek Sparse Attention; published in block-scaled
    // FP8.
    config!(
        "DeepSeek-V3.2",
        &["deepseek-v3.2"],
        "deepseek-v3.2.config.json",
        Dtype::Fp8Block
    ),
    // BF16 as published; its FP8 checkpoint (zai-org/GLM-5-FP8) is block-scaled.
    config!("GLM-5", &["glm-5"], "glm-5.config.json", Dtype::Fp8Block),
    config!(
        "Kimi-K2-Instruct",
        &["kimi-k2"],
        "kimi-k2-instruct.config.json",
        Dtype::Fp8Block
    ),
    // Its language model (`text_config`, data/models/README.md): routed experts in int4
    // (compressed-tensors W4A16, groups of 32), the rest bf16.
    config!(
        "Kimi-K2.5",
        &["kimi-k2.5"],
        "kimi-k2.5.text-config.json",
        Dtype::Fp8
    ),
    config!(
        "Qwen3-235B-A22B",
        &["qwen3-235b-a22b"],
        "qwen3-235b-a22b.config.json",
        Dtype::Fp8Block
    ),
    config!(
        "Qwen3-30B-A3B",
        &["qwen3-30b-a3b"],
        "qwen3-30b-a3b.config.json",
        Dtype::Fp8Block
    ),
    config!(
        "gpt-oss-120b",
        &["gpt-oss-120b"],
        "gpt-oss-120b.config.json",
        Dtype::Fp8
    ),
    config!(
        "gpt-oss-20b",
        &["gpt-oss-20b"],
        "gpt-oss-20b.config.json",
        Dtype::Fp8
    ),
    config!(
        "Mixtral-8x7B",
        &[
            "mixtral-8x7b",
            "mixtral-8x7b-v0.1",
            "mixtral-8x7b-instruct-v0.1"
        ],
        "mixtral-8x7b-v0.1.config.json",
        Dtype::Fp8
    ),
    config!(
        "Llama-4-Scout-17B-16E",
        &["llama-4-scout-17b-16e"],
        "llama-4-scout-17b-16e-instruct.config.json",
        Dtype::Fp8
    ),
    config!(
        "Llama-4-Maverick-17B-128E",
        &["llama-4-maverick-17b-128e"],
        "llama-4-maverick-17b-128e-instruct.config.json",
        Dtype::Fp8
    ),
    // Qwen3.5's published configs are its multimodal models'; these are their language
    // models' `text_config` (data/models/README.md).
    config!(
        "Qwen3.5-27B",
        &["qwen3.5-27b"],
        "qwen3.5-27b.text-config.json",
        Dtype::Fp8Block
    ),
    config!(
        "Qwen3.5-397B-A17B",
        &["qwen3.5-397b-a17b"],
        "qwen3.5-397b-a17b.text-config.json",
        Dtype::Fp8Block
    ),
    config!(
        "Qwen3.5-122B-A10B",
        &["qwen3.5-122b-a10b"],
        "qwen3.5-122b-a10b.text-config.json",
        Dtype::Fp8Block
    ),
    config!(
        "Qwen3.5-35B-A3B",
        &["qwen3.5-35b-a3b"],
        "qwen3.5-35b-a3b.text-config.json",
        Dtype::Fp8Block
    ),
    // Published in block-scaled FP8 (its `quantization_config`).
    config!(
        "MiniMax-M2.5",
        &["minimax-m2.5"],
        "minimax-m2.5.config.json",
        Dtype::Fp8Block
    ),
];

/// Models distilled into another model's architecture, by their Hugging Face names: the
/// built-in they have the architecture of (`true`), or the base they were distilled into when
/// that is not built in (`false`). DeepSeek-R1's Llama distillations are Llama-3.1-8B and
/// Llama-3.3-70B-Instruct, the latter Llama-3.1-70B's architecture; its Qwen ones are
/// Qwen2.5 models (the `base_model` of each model card).
const DISTILLED: [(&str, &str, bool); 6] = [
    ("DeepSeek-R1-Distill-Llama-8B", "Llama-3.1-8B", true),
    ("DeepSeek-R1-Distill-Llama-70B", "Llama-3.1-70B", true),
    ("DeepSeek-R1-Distill-Qwen-1.5B", "Qwen2.5-Math-1.5B", false),
    ("DeepSeek-R1-Distill-Qwen-7B", "Qwen2.5-Math-7B", false),
    ("DeepSeek-R1-Distill-Qwen-14B", "Qwen2.5-14B", false),
    ("DeepSeek-R1-Distill-Qwen-32B", "Qwen2.5-32B", false),
];

/// Names of the built-in models, dense first.
const ALL_DISPLAY: [&str; 22] = [
    DENSE_DISPLAY[0],
    DENSE_DISPLAY[1],
    DENSE_DISPLAY[2],
    DENSE_DISPLAY[3],
    FROM_CONFIG[0].display,
    FROM_CONFIG[1].display,
    FROM_CONFIG[2].display,
    FROM_CONFIG[3].display,
    FROM_CONFIG[4].display,
    FROM_CONFIG[5].display,
    FROM_CONFIG[6].display,
    FROM_CONFIG[7].display,
    FROM_CONFIG[8].display,
    FROM_CONFIG[9].display,
    FROM_CONFIG[10].display,
    FROM_CONFIG[11].display,
    FROM_CONFIG[12].display,
    FROM_CONFIG[13].display,
    FROM_CONFIG[14].display,
    FROM_CONFIG[15].display,
    FROM_CONFIG[16].display,
    FROM_CONFIG[17].display,
];

impl LlmSpec {
    /// Names of the built-in models (dense first, then the mixtures of experts).
    pub fn builtin_names() -> &'static [&'static str] {
        &ALL_DISPLAY
    }

    /// Looks a built-in model up by name or Hugging Face id: any owner prefix
    /// (`Qwen/`, `meta-llama/`), case, a `Meta-` prefix and `-Instruct` / `-FP8` suffixes are
    /// accepted (`Qwen/Qwen3-32B-FP8`, `meta-llama/Llama-3.1-8B-Instruct`), and so is a short
    /// form that fits one built-in alone (`llama-8b`, `Llama 3.1 70B`, `minimax`; see
    /// [`crate::alias`]): one that fits several is an error naming them. An `-FP8` suffix sets
    /// FP8 weights (per-tensor for the dense built-ins; for the others, the format of the
    /// model's own FP8 checkpoint); the KV cache stays bf16 (set [`LlmSpec::kv_dtype`] to
    /// change it).
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
        if let Some(idx) = DENSE.iter().position(|(n, _, _)| *n == name) {
            let (_, d, tied) = DENSE[idx];
            let weight = if fp8 { Dtype::Fp8 } else { Dtype::Bf16 };
            let mut spec = LlmSpec::assemble(
                DENSE_DISPLAY[idx].to_string(),
                d,
                tied,
                weight,
                ArchParts::dense(d[1]),
            );
            spec.max_position_embeddings = Some(DENSE_CONTEXT[idx]);
            return Ok(spec);
        }
        if let Some(b) = FROM_CONFIG.iter().find(|b| b.names.contains(&name)) {
            let path = format!("<builtin data/models/{}>", b.file);
            let mut spec = LlmSpec::from_hf_config_str(b.json, Path::new(&path))?;
            spec.name = b.display.to_string();
            if fp8 && spec.weight_dtype == Dtype::Bf16 {
                spec.weight_dtype = b.fp8;
            }
            return Ok(spec);
        }
        if let Some((given, base, built_in)) = DISTILLED
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        {
            if !built_in {
                return Err(ModelsError::Invalid {
                    what: "model",
                    message: format!(
                        "{given} is {base} distilled from DeepSeek-R1, and {base} is not built \
                         in: give the path of the model's config.json instead \
                         (model: path/to/config.json)"
                    ),
                });
            }
            return LlmSpec::lookup(&if fp8 {
                format!("{base}-FP8")
            } else {
                base.to_string()
            });
        }
        let entries: Vec<alias::Entry<'_>> = DENSE
            .iter()
            .zip(DENSE_DISPLAY)
            .map(|((n, _, _), display)| alias::Entry {
                name: display,
                forms: vec![alias::words(n)],
            })
            .chain(FROM_CONFIG.iter().map(|b| {
                alias::Entry {
                    name: b.display,
                    forms: std::iter::once(b.display)
                        .chain(b.names.iter().copied())
                        .map(alias::words)
                        .collect(),
                }
            }))
            .collect();
        let known = ALL_DISPLAY.join(", ")
            + " (any owner prefix, -Instruct/-FP8 suffix, or a short form that fits one: \
               llama-8b), or a config.json path";
        let full = alias::resolve("model", id, &alias::words(name), &entries, known)?;
        LlmSpec::lookup(&if fp8 {
            format!("{full}-FP8")
        } else {
            full.to_string()
        })
    }

    /// The short forms of a built-in model a user may type besides its name (its other
    /// names, the name with trailing words left out while it still fits it alone:
    /// `Qwen3-235B` for `Qwen3-235B-A22B`, and the models distilled into its architecture:
    /// `DeepSeek-R1-Distill-Llama-8B` for `Llama-3.1-8B`).
    pub fn builtin_aliases(display: &str) -> Vec<String> {
        let mut out: Vec<String> = FROM_CONFIG
            .iter()
            .filter(|b| b.display == display)
            .flat_map(|b| b.names.iter().map(|n| n.to_string()))
            .filter(|n| !n.eq_ignore_ascii_case(display))
            .collect();
        out.extend(
            DISTILLED
                .iter()
                .filter(|(_, base, built_in)| *built_in && *base == display)
                .map(|(n, _, _)| n.to_string()),
        );
        let parts: Vec<&str> = display.split('-').collect();
        for keep in (1..parts.len()).rev() {
            let short = parts[..keep].join("-");
            match LlmSpec::lookup(&short) {
                Ok(m) if m.name == display => {
                    if !out.iter().any(|n| n.eq_ignore_ascii_case(&short)) {
                        out.push(short);
                    }
                }
                _ => break,
            }
        }
        out
    }
}
