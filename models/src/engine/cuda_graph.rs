//! CUDA graphs of decode steps: the batch sizes an engine captures, and what a decode-only
//! step of `n` sequences runs — the graph of `n`, the graph of the next captured size
//! (padded with dummy sequences), or every kernel launched eagerly from the host.
//!
//! Each backend's defaults, with the source they follow:
//! - **TensorRT-LLM 1.0** (PyTorch flow, `tensorrt_llm/llmapi/llm_args.py`): `CudaGraphConfig`
//!   captures graphs for decode-only batches ("enabled for batches that consist of decoding
//!   requests *only*"), `enable_padding` off by default, `max_batch_size` 128 when not set;
//!   `_generate_cuda_graph_batch_sizes` then captures 1–31, 32, 64 and 128 without padding,
//!   and 1, 2, 4 and every multiple of 8 up to 128 with it (then powers of two and the
//!   maximum beyond 128). A batch of no captured size runs eagerly unless padding is on,
//!   which "rounds batches up to the nearest cuda_graph_batch_size".
//! - **vLLM 0.12** (V1, `vllm/config/compilation.py`): `cudagraph_mode` FULL_AND_PIECEWISE,
//!   capture sizes 1, 2, 4, then steps of 8 up to 248 and of 16 from 256 up to
//!   `max_cudagraph_capture_size` = min(2 × `max_num_seqs`, 512); a uniform decode batch is
//!   padded to the next size (`pad_for_cudagraph`); above the largest it runs without a
//!   full graph (piecewise compiled, no eager launch floor in this model).
//! - **SGLang 0.5** (`python/sglang/srt/model_executor/cuda_graph_runner.py`,
//!   `get_batch_sizes_to_capture`): 1, 2, 4, 8, 12, then steps of 8 up to 256 and of 16 up
//!   to 512, cut at `cuda_graph_max_bs` (256 for TP < 4 on GPUs of 80 GB or more, 512 from
//!   TP 4, `server_args.py`); a decode batch is padded to the next captured size, a larger
//!   one runs eagerly.
//!
//! Under attention data parallelism each rank is its own process with its own batch, so a
//! graph is captured and replayed per rank for the rank's local batch (TensorRT-LLM's
//! `cuda_graph_config.max_batch_size`, like its `max_batch_size`, is per rank; SGLang's
//! `cuda_graph_max_bs` is per DP rank). The ranks step together, so the fullest rank's
//! batch picks the graph for all of them: TensorRT-LLM and SGLang gather every rank's
//! batch and replay graphs only when all can, padding to the same size (SGLang's
//! `can_run_dp_cuda_graph`).

use crate::backend::Backend;

/// What a decode-only step of some batch size runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphStep {
    /// Replays the graph captured for `batch` sequences (the real ones and the padding).
    Replay {
        /// Captured batch size (≥ the real batch).
        batch: u32,
    },
    /// No graph fits: the host launches every kernel.
    Eager,
}

/// The decode batch sizes an engine captured CUDA graphs for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaGraphs {
    /// Captured batch sizes, ascending, no duplicates, none zero.
    sizes: Vec<u32>,
    /// A batch of no captured size runs the next larger graph, padded.
    padding: bool,
    /// Attention-DP ranks whose local batches the graphs are captured for (1 without).
    ranks: u32,
}

impl CudaGraphs {
    /// Graphs for `sizes` (sorted and deduplicated; zeros dropped).
    pub fn new(mut sizes: Vec<u32>, padding: bool) -> CudaGraphs {
        sizes.retain(|&s| s > 0);
        sizes.sort_unstable();
        sizes.dedup();
        CudaGraphs {
            sizes,
            padding,
            ranks: 1,
        }
    }

    /// The same graphs captured on each of `ranks` attention-DP ranks, for the rank's own
    /// batch (see the module documentation).
    pub fn per_rank(self, ranks: u32) -> CudaGraphs {
        CudaGraphs {
            ranks: ranks.max(1),
            ..self
        }
    }

    /// No graphs: every decode step runs eagerly.
    pub fn none() -> CudaGraphs {
        CudaGraphs::new(Vec::new(), false)
    }

    /// The captured sizes, ascending.
    pub fn sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// Attention-DP ranks the graphs are captured on, each for its own batch (1 without).
    pub fn ranks(&self) -> u32 {
        self.ranks
    }

    /// Whether batches are padded to the next captured size.
    pub fn padding(&self) -> bool {
        self.padding
    }

    /// What a decode-only step of `batch` sequences runs.
    pub fn step(&self, batch: u32) -> GraphStep {
        let at = self.sizes.partition_point(|&s| s < batch);
        match self.sizes.get(at) {
            Some(&s) if s == batch || self.padding => GraphStep::Replay { batch: s },
            _ => GraphStep::Eager,
        }
    }

    /// A decode-only step of `seqs` sequences attending to `kv_tokens` in all, as it runs:
    /// `(sequences, KV tokens, eager)` with the padding's dummy one-token sequences counted.
    /// Under attention DP the fullest rank's batch (`⌈seqs / ranks⌉`) picks the graph and
    /// every rank pads to it.
    pub fn decode_batch(&self, seqs: u32, kv_tokens: u64) -> (u32, u64, bool) {
        match self.step(seqs.div_ceil(self.ranks)) {
            GraphStep::Replay { batch } => {
                let padded = batch.saturating_mul(self.ranks).max(seqs);
                (padded, kv_tokens + u64::from(padded - seqs), false)
            }
            GraphStep::Eager => (seqs, kv_tokens, true),
        }
    }

    /// The backend's defaults (see the module documentation for their sources) for an engine
    /// of `max_num_seqs` sequences on a worker of `tp` GPUs.
    pub fn for_backend(backend: Backend, max_num_seqs: u32, tp: u32) -> CudaGraphs {
        match backend {
            Backend::Trtllm => CudaGraphs::trtllm(TRTLLM_DEFAULT_MAX_BATCH, false),
            Backend::Vllm => {
                let max = max_num_seqs.saturating_mul(2).min(512);
                let sizes = [1, 2, 4]
                    .into_iter()
                    .chain((8..256).step_by(8))
                    .chain((256..=max).step_by(16))
                    .filter(|&s| s <= max)
                    .collect();
                CudaGraphs::new(sizes, true)
            }
            Backend::Sglang => {
                let max = if tp < 4 { 256 } else { 512 };
                let sizes = [1, 2, 4, 8, 12]
                    .into_iter()
                    .chain((16..=256).step_by(8))
                    .chain((272..=512).step_by(16))
                    .filter(|&s| s <= max)
                    .collect();
                CudaGraphs::new(sizes, true)
            }
        }
    }

    /// TensorRT-LLM's generated sizes up to `max_batch` (`_generate_cuda_graph_batch_sizes`).
    pub fn trtllm(max_batch: u32, padding: bool) -> CudaGraphs {
        let max_batch = max_batch.max(1);
        let mut sizes: Vec<u32> = if padding {
            [1, 2, 4].into_iter().chain((8..=128).step_by(8)).collect()
        } else {
            (1..=32).chain([64, 128]).collect()
        };
        // Powers of two from 256 below the maximum, then the maximum itself.
        let mut p = 256u32;
        while p < max_batch {
            sizes.push(p);
            p = p.saturating_mul(2);
        }
        sizes.retain(|&s| s <= max_batch);
        sizes.push(max_batch);
        CudaGraphs::new(sizes, padding)
    }
}

/// TensorRT-LLM's `CudaGraphConfig.max_batch_size` when none is given.
pub const TRTLLM_DEFAULT_MAX_BATCH: u32 = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trtllm_without_padding_runs_uncaptured_sizes_eagerly() {
        let g = CudaGraphs::for_backend(Backend::Trtllm, 2048, 1);
        assert_eq!(g.step(31), GraphStep::Replay { batch: 31 });
        assert_eq!(g.step(37), GraphStep::Eager);
        assert_eq!(g.step(64), GraphStep::Replay { batch: 64 });
        assert_eq!(g.step(129), GraphStep::Eager);
    }

    #[test]
    fn padding_runs_the_next_captured_size() {
        let g = CudaGraphs::trtllm(128, true);
        assert_eq!(g.step(37), GraphStep::Replay { batch: 40 });
        assert_eq!(g.step(3), GraphStep::Replay { batch: 4 });
        assert_eq!(g.step(129), GraphStep::Eager);
        let big = CudaGraphs::trtllm(1000, true);
        assert_eq!(big.step(300), GraphStep::Replay { batch: 512 });
        assert_eq!(big.step(600), GraphStep::Replay { batch: 1000 });
    }

    #[test]
    fn vllm_and_sglang_capture_up_to_their_maxima() {
        let v = CudaGraphs::for_backend(Backend::Vllm, 1024, 1);
        assert_eq!(v.sizes().last(), Some(&512));
        assert_eq!(v.step(250), GraphStep::Replay { batch: 256 });
        assert_eq!(v.step(513), GraphStep::Eager);
        let small = CudaGraphs::for_backend(Backend::Vllm, 64, 1);
        assert_eq!(small.sizes().last(), Some(&128));
        let s1 = CudaGraphs::for_backend(Backend::Sglang, 2048, 1);
        assert_eq!(s1.step(10), GraphStep::Replay { batch: 12 });
        assert_eq!(s1.step(257), GraphStep::Eager);
        let s4 = CudaGraphs::for_backend(Backend::Sglang, 2048, 4);
        assert_eq!(s4.step(257), GraphStep::Replay { batch: 272 });
    }

    #[test]
    fn attention_dp_ranks_replay_the_graph_of_the_fullest_rank() {
        // 32 ranks of up to 128 sequences: 2,048 in all is 64 a rank, a captured size.
        let g = CudaGraphs::trtllm(128, false).per_rank(32);
        assert_eq!(g.decode_batch(2048, 5000), (2048, 5000, false));
        // 2,049: one rank holds 65, no graph of 65 without padding.
        assert_eq!(g.decode_batch(2049, 5000), (2049, 5000, true));
        // With padding every rank runs the graph of 72: 32 × 72 sequences, the dummies one
        // token each.
        let padded = CudaGraphs::trtllm(128, true).per_rank(32);
        assert_eq!(padded.decode_batch(2049, 5000), (2304, 5000 + 255, false));
        // More than 128 a rank runs eagerly, whatever the worker's total.
        assert!(padded.decode_batch(32 * 129, 0).2);
        // One rank is the worker.
        assert_eq!(
            CudaGraphs::trtllm(128, true)
                .per_rank(1)
                .decode_batch(37, 100),
            (40, 103, false)
        );
    }

    #[test]
    fn no_graphs_means_eager() {
        assert_eq!(CudaGraphs::none().step(1), GraphStep::Eager);
        assert_eq!(CudaGraphs::new(vec![0, 8, 8, 4], false).sizes(), &[4, 8]);
    }
}
