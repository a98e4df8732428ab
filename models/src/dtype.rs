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
    /// NVFP4: 4-bit E2M1 values in blocks of 16 sharing one FP8 E4M3 scale, plus one FP32
    /// scale per tensor (NVIDIA, "Introducing NVFP4 for Efficient and Accurate Low-Precision
    /// Inference", 2025; the PTX ISA's `e2m1` block-scaled MMA with `ue4m3` scales, block size
    /// 16): 4.5 bits per weight. Run only by GPUs with FP4 tensor cores (Blackwell).
    Nvfp4,
}

impl Dtype {
    /// Bytes per element, scales included: NVFP4 stores 16 four-bit values and one 8-bit
    /// scale in 9 bytes (the per-tensor FP32 scale is negligible), 0.5625 bytes a weight.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp32 => 4.0,
            Dtype::Fp8 | Dtype::Fp8Block | Dtype::Int8 => 1.0,
            Dtype::Nvfp4 => 9.0 / 16.0,
        }
    }

    /// Bytes of `n` elements, scales included and rounded up to whole bytes (NVFP4: 9 bytes
    /// per block of 16; a partial block keeps its scale).
    pub fn bytes_of(self, n: u64) -> u64 {
        match self {
            Dtype::Bf16 | Dtype::Fp16 => n * 2,
            Dtype::Fp32 => n * 4,
            Dtype::Fp8 | Dtype::Fp8Block | Dtype::Int8 => n,
            Dtype::Nvfp4 => n.div_ceil(16) * 9,
        }
    }

    /// Whether GEMMs in this format need FP4 tensor cores (NVIDIA Blackwell and later).
    pub fn needs_fp4_tensor_cores(self) -> bool {
        self == Dtype::Nvfp4
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
            Dtype::Nvfp4 => "nvfp4",
        }
    }

    /// Parses a dtype name, normalising aliases: `bfloat16`→bf16, `float16`/`half`→fp16,
    /// `float32`/`float`→fp32, `fp8`/`float8_e4m3fn`→fp8, `fp8_block`, `nvfp4`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Dtype::Bf16,
            "fp16" | "float16" | "half" => Dtype::Fp16,
            "fp32" | "float32" | "float" => Dtype::Fp32,
            "fp8" | "float8_e4m3fn" | "e4m3" => Dtype::Fp8,
            "fp8_block" => Dtype::Fp8Block,
            "int8" => Dtype::Int8,
            "nvfp4" => Dtype::Nvfp4,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "dtype",
                    name: name.to_string(),
                    known:
                        "bf16 (bfloat16), fp16 (float16, half), fp32, fp8, fp8_block, int8, nvfp4"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvfp4_is_four_and_a_half_bits_with_block_scales() {
        let d = Dtype::parse("NVFP4").unwrap();
        assert_eq!(d, Dtype::Nvfp4);
        assert_eq!(d.name(), "nvfp4");
        assert_eq!(d.bytes() * 8.0, 4.5);
        // 16 values: 8 bytes of E2M1 and a 1-byte E4M3 scale; a partial block keeps its scale.
        assert_eq!(d.bytes_of(16), 9);
        assert_eq!(d.bytes_of(17), 18);
        assert_eq!(d.bytes_of(1_600), 900);
        assert!(d.needs_fp4_tensor_cores());
        assert!(!Dtype::Fp8Block.needs_fp4_tensor_cores());
        assert_eq!(Dtype::Bf16.bytes_of(3), 6);
    }

    #[test]
    fn unknown_dtype_lists_nvfp4() {
        let e = Dtype::parse("fp4").unwrap_err().to_string();
        assert!(e.contains("nvfp4"), "{e}");
    }
}
