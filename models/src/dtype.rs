//! Numeric types of weights, activations and the KV cache: their sizes and names.

use std::fmt;

use crate::error::{ModelsError, Result};

/// A numeric type of weights, activations or the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dtype {
    /// bfloat16 (2 bytes).
    Bf16,
    /// float16 (2 bytes).
    Fp16,
    /// float32 (4 bytes).
    Fp32,
    /// FP8 (e4m3), per-tensor scaled (1 byte).
    Fp8,
    /// FP8 with block scales (1 byte; GEMMs use block-scaled kernels).
    Fp8Block,
    /// int8 (1 byte; collectives only).
    Int8,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> u32 {
        match self {
            Dtype::Bf16 | Dtype::Fp16 => 2,
            Dtype::Fp32 => 4,
            Dtype::Fp8 | Dtype::Fp8Block | Dtype::Int8 => 1,
        }
    }

    /// The normalised name (`bf16`, `fp16`, `fp32`, `fp8`, `fp8_block`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp32 => "fp32",
            Dtype::Fp8 => "fp8",
            Dtype::Fp8Block => "fp8_block",
            Dtype::Int8 => "int8",
        }
    }

    /// Parses a dtype name, normalising aliases: `bfloat16`→bf16, `float16`/`half`→fp16,
    /// `float32`/`float`→fp32, `fp8`/`float8_e4m3fn`→fp8, `fp8_block`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Dtype::Bf16,
            "fp16" | "float16" | "half" => Dtype::Fp16,
            "fp32" | "float32" | "float" => Dtype::Fp32,
            "fp8" | "float8_e4m3fn" | "e4m3" => Dtype::Fp8,
            "fp8_block" => Dtype::Fp8Block,
            "int8" => Dtype::Int8,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "dtype",
                    name: name.to_string(),
                    known: "bf16 (bfloat16), fp16 (float16, half), fp32, fp8, fp8_block, int8"
                        .into(),
                });
            }
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
