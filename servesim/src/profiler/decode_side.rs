//! What a disaggregated request's first token waits for on the decode side, in the fast
//! search: the client reads the decode worker's stream, so the token shows once the KV has
//! moved and the decode worker has made (or returned) its first token with text.

use servesim_models::engine::{EngineConfig, HandedFirstToken};
use servesim_models::hardware::GpuSku;
use servesim_models::llm::LlmSpec;
use servesim_models::network::DEFAULT_TRANSFER_LATENCY;

use super::candidate::Split;

/// What a disaggregated request's first token waits for after its prefill: the client reads
/// the decode worker's stream ([`HandedFirstToken`]), so the token shows once the KV has
/// moved and the decode worker has taken the request in.
#[derive(Clone)]
pub struct DecodeSideWait {
    llm: LlmSpec,
    /// Bytes/s of one GPU's NVLink, each way.
    nvlink_bytes_per_s: f64,
    /// Bytes/s of one GPU's NIC, each way.
    nic_bytes_per_s: f64,
    /// GPUs in one NVLink domain.
    nvlink_domain: u32,
    /// Decode iterations before the token shows: half of the one in flight when the KV
    /// lands, one more under the overlap schedule (the next plan was drawn up before it
    /// landed), and the steps after joining until the first token with text: the first
    /// step where the decode worker returns or recomputes the token then, and those that
    /// make the rest of a response header ([`LlmSpec::response_header_tokens`]).
    iterations: f64,
    /// Of those, the ones an idle decode worker does not run: half of the one in flight and,
    /// under an overlap schedule, the one planned before the KV landed.
    in_flight: f64,
}

impl DecodeSideWait {
    pub(super) fn new(llm: &LlmSpec, gpu: &GpuSku, engine: &EngineConfig) -> Self {
        // Decode steps after joining until the first token with text: token `header + 1`,
        // of which the prefill worker made the first unless the decode worker recomputes it;
        // a carried token returned with the first step's shows no sooner than that step.
        let header = llm.response_header_tokens;
        let steps = match engine.handed_first_token {
            HandedFirstToken::StreamedOnJoin => header,
            HandedFirstToken::StreamedAfterFirstStep => header.max(1),
            HandedFirstToken::Recomputed => header + 1,
        };
        let in_flight = 0.5 + f64::from(u8::from(engine.overlap_schedule));
        DecodeSideWait {
            llm: llm.clone(),
            nvlink_bytes_per_s: gpu.nvlink_bytes_per_s_per_direction,
            nic_bytes_per_s: gpu.nic_bytes_per_s_per_direction,
            nvlink_domain: gpu.nvlink_domain(),
            iterations: in_flight + f64::from(steps),
            in_flight,
        }
    }

    /// The wait, ms, for `isl` prompt tokens moved from a worker split as `from` to one split
    /// as `to` whose decode iterations take `itl_ms`. As the simulator's hand-off: the KV
    /// moves from the GPUs of the request's attention rank to every GPU of the receiving
    /// rank, each getting what it keeps (all of it where each keeps it whole), one flow per
    /// GPU pair, over NVLink where the two workers fit one NVLink domain together, else
    /// over the NICs.
    pub fn ms(&self, isl: u32, from: &Split, to: &Split, itl_ms: f64) -> f64 {
        let bytes = f64::from(isl)
            * self.llm.kv_bytes_per_token_per_gpu(to.tp) as f64
            * f64::from(to.tp.max(1));
        let link = if from.gpus().saturating_add(to.gpus()) <= self.nvlink_domain {
            self.nvlink_bytes_per_s
        } else {
            self.nic_bytes_per_s
        };
        let bandwidth = f64::from(from.tp.min(to.tp).max(1)) * link;
        bytes / bandwidth * 1e3
            + DEFAULT_TRANSFER_LATENCY.as_millis_f64()
            + self.iterations * itl_ms
    }

    /// What [`ms`](Self::ms) counts, ms, for an iteration in flight when the KV lands (and
    /// one planned before it, under an overlap schedule), which a decode worker holding no
    /// other request does not run: an idle engine plans at once.
    pub fn in_flight_ms(&self, itl_ms: f64) -> f64 {
        self.in_flight * itl_ms
    }
}
