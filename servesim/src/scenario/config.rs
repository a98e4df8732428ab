//! The scenario file as written: serde structs that mirror it with `deny_unknown_fields`.

use serde::{Deserialize, Serialize};
use servesim_models::llm::Parallelism;
use servesim_models::network::Fabric;
use servesim_planner::PlannerConfig;
use servesim_traffic::WorkloadConfig;

use super::faults::FaultsConfig;

/// The scenario file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The seed of every random stream.
    pub seed: u64,
    /// Simulated time, in seconds.
    pub duration_s: f64,
    /// The served model: a built-in name or Hugging Face id, a short form that fits one
    /// built-in alone (`llama-8b`; `servesim list models`), or a path to a `config.json`.
    pub model: String,
    /// KV-cache dtype (default: the model's).
    #[serde(default)]
    pub kv_dtype: Option<String>,
    /// Weight dtype (default: the model's), e.g. `fp8_block` for a block-scaled FP8 checkpoint,
    /// `nvfp4` for an NVFP4 one (Blackwell GPUs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_dtype: Option<String>,
    /// How a mixture of experts' router spreads tokens over its experts, as the MoE kernel
    /// tables measure it: `balanced`, `power_law_1.01` or `power_law_1.2` (default: the
    /// model's, as aiconfigurator times it: 1.01 for the DeepSeek-V3 family, 1.2 for the
    /// other mixtures). Only for models with experts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_routing: Option<String>,
    /// GPU SKU of every worker: a catalog name (`h100_sxm`) or a name that fits one SKU
    /// alone (`H100`, `NVIDIA H100 80GB HBM3`; `servesim list gpus`).
    pub gpu: String,
    /// Serving engine: `vllm`, `sglang` or `trtllm`.
    pub backend: String,
    /// Kernel tables measured on your own GPUs (a folder `<gpu>/<backend>/<family>.csv.gz`, as
    /// the harness or `servesim calibrate import` writes it), relative to the scenario file's
    /// folder: each table takes the place of the shipped table of the same GPU, backend and
    /// family; the others stay shipped (for a GPU without shipped tables, such as `b300_sxm`,
    /// its own tables replace those of the shipped GPU that timed it, and a warning names the
    /// families left to the roofline). The run must read at least one of them (its GPU's, in
    /// a folder its backend reads); the ones it does not are named in a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    /// Latency targets.
    pub slo: SloConfig,
    /// Pools, nodes and network.
    pub cluster: ClusterConfig,
    /// The workload.
    pub traffic: WorkloadConfig,
    /// What to record.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The planner that scales the pools during the run (none: the pools stay as they start).
    #[serde(default)]
    pub planner: Option<PlannerConfig>,
    /// Failures injected during the run.
    #[serde(default)]
    pub faults: Option<FaultsConfig>,
    /// Guards against runaway runs.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The serving frontend's host costs (none: a frontend that costs nothing).
    #[serde(default)]
    pub frontend: Option<FrontendConfig>,
}

impl ScenarioConfig {
    /// A scenario of `model` on `gpu` under `backend`, every optional section left out
    /// (seed 1, default metrics and limits, no planner, faults or frontend).
    pub fn new(
        model: &str,
        gpu: &str,
        backend: &str,
        duration_s: f64,
        slo: SloConfig,
        cluster: ClusterConfig,
        traffic: WorkloadConfig,
    ) -> Self {
        ScenarioConfig {
            name: None,
            seed: 1,
            duration_s,
            model: model.to_string(),
            kv_dtype: None,
            weight_dtype: None,
            expert_routing: None,
            gpu: gpu.to_string(),
            backend: backend.to_string(),
            calibration: None,
            slo,
            cluster,
            traffic,
            metrics: MetricsConfig::default(),
            planner: None,
            faults: None,
            limits: LimitsConfig::default(),
            frontend: None,
        }
    }
}

/// The `frontend:` section: the HTTP server, tokenizer and detokenizer in front of the
/// engines (see [`servesim_models::frontend`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    /// Fixed latency of each request before it reaches a worker, ms (left out: 0).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Host time per streamed output token, in the one process all requests share, µs
    /// (left out: 0).
    #[serde(default)]
    pub token_cost_us: Option<f64>,
}

/// Longest frontend latency accepted, ms.
pub const MAX_FRONTEND_LATENCY_MS: f64 = 60_000.0;
/// Largest frontend cost per token accepted, µs.
pub const MAX_TOKEN_COST_US: f64 = 1_000_000.0;

/// Bounds a run stays within; going past one is an error, never a silent cut.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most requests the workload may generate in one run (the run fails beyond it).
    #[serde(default = "default_max_requests")]
    pub max_requests: u64,
}

/// Default of [`LimitsConfig::max_requests`]: a billion requests (about four hours of
/// simulation at the speeds `servesim bench` measures).
pub const DEFAULT_MAX_REQUESTS: u64 = 1_000_000_000;
/// The longest simulated time accepted, s (about 116 days).
pub const MAX_DURATION_S: f64 = 1e7;

fn default_max_requests() -> u64 {
    DEFAULT_MAX_REQUESTS
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// Latency targets of the service.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Time to first token, ms.
    pub ttft_ms: f64,
    /// Mean inter-token latency of a request, ms.
    pub itl_ms: f64,
}

/// The cluster as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Nodes available, each of the SKU's `gpus_per_node` GPUs (a GB200/GB300 node is a
    /// 4-GPU tray, and 18 consecutive trays share one NVL72 NVLink domain).
    pub nodes: u32,
    /// GPUs of a node, fewer than the SKU's (a 4-GPU HGX board of an 8-GPU SKU): a
    /// node-sized NVLink domain narrows with it, so a worker wider than such a node crosses
    /// nodes. Default: the SKU's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Most GPUs held at once (default: every GPU of every node).
    #[serde(default)]
    pub gpu_budget: Option<u32>,
    /// The fabric between nodes.
    #[serde(default = "default_fabric")]
    pub fabric: Fabric,
    /// Each GPU's NIC to the fabric between nodes, GB/s in each direction (default: the
    /// SKU's, `servesim list gpus`). It carries KV hand-offs between nodes and the
    /// collectives of workers wider than an NVLink domain. The catalog gives B200 and GB200
    /// ConnectX-8 (100 GB/s); NVIDIA's DGX B200 and GB200 NVL72 list ConnectX-7 (50 GB/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_gb_per_s: Option<f64>,
    /// Fixed latency of a KV hand-off from the prefill pool to the decode pool, µs, on top
    /// of its bytes over the links (default 10). Only a cluster with a decode pool hands
    /// KV over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_latency_us: Option<f64>,
    /// Conditional disaggregation: prompts up to this many tokens are prefilled on the decode worker.
    #[serde(default)]
    pub local_prefill_max_tokens: Option<u32>,
    /// The pools: one aggregated, or one prefill and one decode.
    pub pools: Vec<PoolConfig>,
}

impl ClusterConfig {
    /// `pools` on `nodes` nodes, every other field at the file's default.
    pub fn new(nodes: u32, pools: Vec<PoolConfig>) -> Self {
        ClusterConfig {
            nodes,
            gpus_per_node: None,
            gpu_budget: None,
            fabric: default_fabric(),
            nic_gb_per_s: None,
            transfer_latency_us: None,
            local_prefill_max_tokens: None,
            pools,
        }
    }
}

fn default_fabric() -> Fabric {
    Fabric::SingleSwitch
}

/// One pool as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Name for reports.
    pub name: String,
    /// `prefill`, `decode` or `aggregated`.
    pub role: String,
    /// Tensor parallelism of attention (and of the dense layers): a power of two. A worker
    /// holds `tp × attention_dp` GPUs: within one NVLink domain (1–8 on an HGX node, up to 72
    /// in an NVL72 rack), or whole domains joined by InfiniBand (16 on two HGX nodes).
    pub tp: u32,
    /// Attention data parallelism of a mixture of experts inside each worker (default 1):
    /// `attention_dp` attention replicas of `tp` GPUs each, every one with its own batch and
    /// KV cache, while the MoE layers see every replica's tokens (TensorRT-LLM's
    /// `enable_attention_dp`, SGLang's `--enable-dp-attention`). A power of two; `tp ×
    /// attention_dp` fits one NVLink domain (a node, or an NVL72 rack, where a worker
    /// wider than a tray takes whole trays) or spans whole domains.
    #[serde(default = "default_ep", skip_serializing_if = "is_one")]
    pub attention_dp: u32,
    /// Expert parallelism of a mixture of experts inside each worker (default 1): the routed
    /// experts are spread `ep` ways by expert and split `tp × attention_dp / ep` ways within
    /// each expert (attention stays split `tp` ways). Must divide `tp × attention_dp` and the
    /// model's experts.
    #[serde(default = "default_ep", skip_serializing_if = "is_one")]
    pub ep: u32,
    /// How the MoE layers move tokens between attention-DP ranks (default: as the engine
    /// does unless told otherwise, all-gather before the experts and reduce-scatter after). `deepep`: DeepEP's all-to-all, as SGLang's `--moe-a2a-backend deepep` (vLLM's
    /// `--all2all-backend deepep_*`) runs it: its low-latency kernels in decode steps, its
    /// normal ones in steps with prefill; SGLang's experts then run its DeepEP MoE kernels
    /// (DeepGEMM's grouped GEMMs). SGLang and vLLM only; needs `attention_dp` above 1 and
    /// `ep` equal to the worker's GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_a2a_backend: Option<String>,
    /// Workers at time zero (warm).
    pub workers: u32,
    /// Seconds from asking for a worker to its serving.
    #[serde(default = "default_startup_s")]
    pub startup_s: f64,
    /// Router policy (default: `least_outstanding_tokens`; `kv_load` suits decode).
    #[serde(default)]
    pub router: Option<String>,
    /// Engine settings (defaults from the backend).
    #[serde(default)]
    pub engine: EngineOverrides,
}

impl PoolConfig {
    /// The worker's split as written, before validation: attention over `tp` ×
    /// `attention_dp` GPUs, the experts `ep` ways by expert and `GPUs / ep` ways within each
    /// (as [`super::PoolPlan::parallelism`] of the validated pool).
    pub fn parallelism(&self) -> Parallelism {
        let dp = self.attention_dp.max(1);
        Parallelism {
            tp: self.tp,
            attention_dp: dp,
            moe_tp: self.tp.saturating_mul(dp) / self.ep.max(1),
            moe_ep: self.ep,
        }
    }

    /// A pool of `workers` warm workers of `tp` GPUs, every other field at the file's default.
    pub fn new(name: &str, role: &str, tp: u32, workers: u32) -> Self {
        PoolConfig {
            name: name.to_string(),
            role: role.to_string(),
            tp,
            attention_dp: 1,
            ep: 1,
            moe_a2a_backend: None,
            workers,
            startup_s: default_startup_s(),
            router: None,
            engine: EngineOverrides::default(),
        }
    }
}

fn default_ep() -> u32 {
    1
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

fn default_startup_s() -> f64 {
    180.0
}

/// Engine settings that override the backend's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineOverrides {
    /// Most sequences running at once in the worker (all its attention-DP ranks together;
    /// default: the backend's per-rank default times `attention_dp`).
    pub max_num_seqs: Option<u32>,
    /// Token budget per iteration of the worker (all its attention-DP ranks together;
    /// default: the backend's per-rank default times `attention_dp`).
    pub max_batched_tokens: Option<u32>,
    /// Tokens per KV block.
    pub block_tokens: Option<u32>,
    /// Memory share in (0, 1], read as the backend reads its own knob: for vLLM
    /// (`gpu_memory_utilization`) and SGLang (`mem_fraction_static`) the share of the GPU
    /// for weights and KV cache; for TensorRT-LLM (`free_gpu_memory_fraction`) the share of
    /// the memory left after weights and activations that goes to the KV cache.
    pub mem_fraction: Option<f64>,
    /// Split long prompts across iterations (on a decode pool, its recompute of a preempted
    /// sequence and the prompts `cluster.local_prefill_max_tokens` has it prefill).
    pub chunked_prefill: Option<bool>,
    /// Prefill and decode in the same iteration (on a decode pool, as `chunked_prefill`).
    pub mixed_batches: Option<bool>,
    /// Reuse cached prompt prefixes (a pool that prefills them: a decode pool only with
    /// `cluster.local_prefill_max_tokens`, as it keeps no prefix of the KV handed to it).
    pub prefix_caching: Option<bool>,
    /// Reserve the blocks of the whole output at admission (TensorRT-LLM's
    /// `GUARANTEED_NO_EVICT`; its default), instead of preempting when blocks run out.
    pub reserve_output: Option<bool>,
    /// Plan each iteration while the previous one runs (TensorRT-LLM's overlap scheduler and
    /// SGLang's overlap schedule, both on by default; vLLM's async scheduling, its default
    /// from 0.14.0, off by default here as up to 0.13.0): a request that arrives during an
    /// iteration waits one more.
    pub overlap_schedule: Option<bool>,
    /// Share of KV blocks kept free at admission, in [0, 1).
    pub watermark: Option<f64>,
    /// Decode batch sizes with a captured CUDA graph (TensorRT-LLM's
    /// `cuda_graph_config.batch_sizes`, vLLM's `cudagraph_capture_sizes`, SGLang's
    /// `cuda_graph_bs`); by default the backend's own list. An empty list captures none.
    /// Under attention DP they are a rank's batch sizes, as the engines capture them.
    pub cuda_graph_batch_sizes: Option<Vec<u32>>,
    /// Run a decode batch of no captured size as the next larger graph, padded with dummy
    /// sequences (TensorRT-LLM's `cuda_graph_config.enable_padding`, off by default there;
    /// on by default in SGLang, whose `--disable-cuda-graph-padding` turns it off; vLLM
    /// always pads, so `false` is refused for it); otherwise it runs eagerly.
    pub cuda_graph_padding: Option<bool>,
    /// SGLang's `schedule_conservativeness` (> 0, default 1): admission reserves
    /// `0.7 ×` this share of the running requests' outputs to come, decaying to 0.14 of it
    /// over 600 decode steps. SGLang only.
    pub schedule_conservativeness: Option<f64>,
    /// When a request handed over by a prefill worker shows its first token on this decode
    /// worker: `streamed_on_join` (SGLang's way: the prefill worker's token, streamed as the
    /// request joins the decode batch), `streamed_after_first_step` (TensorRT-LLM's: with the
    /// response of its first decode step) or `recomputed` (vLLM's: the decode worker makes it
    /// in its first step over the moved KV). Default: the backend's way. A decode pool's
    /// setting only.
    pub handed_first_token: Option<servesim_models::engine::HandedFirstToken>,
}

/// What the run records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Interval of the per-pool time series, s.
    #[serde(default = "default_sample_s")]
    pub sample_interval_s: f64,
    /// Requests arriving before this time are served but not counted, s.
    #[serde(default)]
    pub warmup_s: f64,
    /// Keep one row per request (columnar), for Python's `Run.requests` (Arrow, pandas or
    /// polars); the command line prints the summary alone (`servesim run --trace` writes
    /// each request's timeline).
    #[serde(default)]
    pub keep_requests: bool,
}

fn default_sample_s() -> f64 {
    10.0
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            sample_interval_s: default_sample_s(),
            warmup_s: 0.0,
            keep_requests: false,
        }
    }
}
