//! How a fused mixture-of-experts kernel holds its expert weights: the MoE tables'
//! `moe_dtype`, with the bytes a weight takes and the tensor-core peak its GEMMs run at.

use std::fmt;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

/// How a fused mixture-of-experts kernel holds its expert weights and runs its GEMMs: the
/// `moe_dtype` column of the MoE kernel tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MoeQuant {
    /// bf16 weights and activations.
    Bf16,
    /// Per-tensor FP8 weights and activations.
    Fp8,
    /// Block-scaled FP8 weights and activations.
    Fp8Block,
    /// MXFP4 weights, bf16 activations (`w4a16_mxfp4`: gpt-oss's experts on Hopper, which has
    /// no FP4 tensor cores).
    W4a16Mxfp4,
    /// NVFP4 weights and activations (16-element blocks with an FP8 E4M3 scale, as
    /// [`Dtype::Nvfp4`]): FP4 tensor cores, Blackwell only.
    Nvfp4,
    /// Int4 weights, bf16 activations (`int4_wo`, weight-only: the W4A16 experts of
    /// Kimi-K2-Thinking and Kimi-K2.5, run by vLLM's and SGLang's Marlin MoE kernels).
    Int4Wo,
}

impl MoeQuant {
    /// Every format, in table-code order.
    pub const ALL: [MoeQuant; 6] = [
        MoeQuant::Bf16,
        MoeQuant::Fp8,
        MoeQuant::Fp8Block,
        MoeQuant::W4a16Mxfp4,
        MoeQuant::Nvfp4,
        MoeQuant::Int4Wo,
    ];

    /// The name used in tables (`bf16`, `fp8`, `fp8_block`, `w4a16_mxfp4`, `nvfp4`,
    /// `int4_wo`).
    pub fn name(self) -> &'static str {
        match self {
            MoeQuant::Bf16 => "bf16",
            MoeQuant::Fp8 => "fp8",
            MoeQuant::Fp8Block => "fp8_block",
            MoeQuant::W4a16Mxfp4 => "w4a16_mxfp4",
            MoeQuant::Nvfp4 => "nvfp4",
            MoeQuant::Int4Wo => "int4_wo",
        }
    }

    /// Parses a table name (`bfloat16` is bf16).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => MoeQuant::Bf16,
            "fp8" => MoeQuant::Fp8,
            "fp8_block" => MoeQuant::Fp8Block,
            "w4a16_mxfp4" => MoeQuant::W4a16Mxfp4,
            "nvfp4" => MoeQuant::Nvfp4,
            "int4_wo" => MoeQuant::Int4Wo,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "MoE dtype",
                    name: name.to_string(),
                    known: "bf16 (bfloat16), fp8, fp8_block, w4a16_mxfp4, nvfp4, int4_wo".into(),
                });
            }
        })
    }

    /// Bytes per expert weight: MXFP4 stores 32 four-bit values and one 8-bit scale in 17
    /// bytes (OCP Microscaling Formats v1.0); NVFP4 16 values and one FP8 scale in 9 bytes
    /// ([`Dtype::Nvfp4`]); int4 32 values and one bf16 scale in 18 bytes (Kimi-K2.5's groups
    /// of 32).
    pub fn weight_bytes(self) -> f64 {
        match self {
            MoeQuant::Bf16 => 2.0,
            MoeQuant::Fp8 | MoeQuant::Fp8Block => 1.0,
            MoeQuant::W4a16Mxfp4 => 17.0 / 32.0,
            MoeQuant::Nvfp4 => Dtype::Nvfp4.bytes(),
            MoeQuant::Int4Wo => 18.0 / 32.0,
        }
    }

    /// The dtype whose tensor-core peak the expert GEMMs run at (activations' for w4a16).
    pub fn math_dtype(self) -> Dtype {
        match self {
            MoeQuant::Bf16 | MoeQuant::W4a16Mxfp4 | MoeQuant::Int4Wo => Dtype::Bf16,
            MoeQuant::Fp8 => Dtype::Fp8,
            MoeQuant::Fp8Block => Dtype::Fp8Block,
            MoeQuant::Nvfp4 => Dtype::Nvfp4,
        }
    }
}

impl fmt::Display for MoeQuant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
