//! The scheduler of one iteration: what runs (decode first, then prefill chunks under the
//! token budget, then admissions up to `max_num_seqs`), what is preempted when KV blocks run
//! out, and what an admission costs in blocks (prefix hits, output reservation).

use servesim_core::{SimDuration, SimTime};

use crate::perf::{BatchShape, PrefillChunk};

use super::decode_set::Slot;
use super::new_token_ratio::{CLIP_MAX_NEW_TOKENS, NewTokenRatio};
use super::{
    BatchSummary, Engine, EngineEvent, HandedFirstToken, IterationOutput, IterationTimer, Phase,
    Seq, ceil_div,
};

impl Engine {
    pub(super) fn plan(
        &mut self,
        now: SimTime,
        timer: &(impl IterationTimer + ?Sized),
        out: &mut IterationOutput,
    ) -> Option<SimDuration> {
        self.plan_chunks.clear();
        self.plan_decode = false;
        self.admit_ready(now, out);
        let budget = self.config.max_batched_tokens;
        if self.config.mixed_batches {
            self.plan_decode = self.prepare_decode(out);
            let used = if self.plan_decode {
                self.decode.len() as u32
            } else {
                0
            };
            self.plan_prefill(budget.saturating_sub(used), out);
        } else {
            self.plan_prefill(budget, out);
            if self.plan_chunks.is_empty() {
                self.plan_decode = self.prepare_decode(out);
            }
        }
        if self.plan_chunks.is_empty() && !self.plan_decode {
            return None;
        }
        self.shape_chunks.clear();
        for &(slot, tokens) in &self.plan_chunks {
            let context = self.seq(slot).prefilled;
            self.shape_chunks.push(PrefillChunk { tokens, context });
        }
        let (decode_seqs, decode_kv_tokens) = if self.plan_decode {
            (
                self.decode.len() as u32,
                self.decode.kv_tokens() + self.decode.len(),
            )
        } else {
            (0, 0)
        };
        // A decode-only step replays the CUDA graph of its size, or of the next captured
        // size with dummy one-token sequences as padding, or runs eagerly.
        let (graph_seqs, graph_kv, eager) = if self.shape_chunks.is_empty() {
            self.config
                .cuda_graphs
                .decode_batch(decode_seqs, decode_kv_tokens)
        } else {
            (decode_seqs, decode_kv_tokens, false)
        };
        let shape = BatchShape {
            prefill: &self.shape_chunks,
            decode_seqs: graph_seqs,
            decode_kv_tokens: graph_kv,
            eager,
        };
        self.last_batch = BatchSummary {
            prefill_seqs: self.shape_chunks.len() as u32,
            prefill_tokens: self.shape_chunks.iter().map(|c| c.tokens).sum(),
            decode_seqs,
            decode_kv_tokens,
            eager,
        };
        self.busy = true;
        Some(timer.iteration_time(&shape))
    }

    /// Moves landed transfers into decode while there is room (under the overlap
    /// schedule, those that landed before the plan was drawn up); a carried first token
    /// streamed on joining shows now.
    fn admit_ready(&mut self, now: SimTime, out: &mut IterationOutput) {
        while self.running() < self.plan_slots() {
            let Some(&slot) = self.ready.front() else {
                break;
            };
            if !self.known_to_plan(slot) {
                break;
            }
            self.ready.pop_front();
            self.incoming -= 1;
            if self.config.handed_first_token == HandedFirstToken::StreamedOnJoin {
                let seq = self.seq_mut(slot);
                seq.first_token_pending = false;
                seq.last_token_at = now;
                out.tokens += 1;
                if !seq.text_pending {
                    out.events.push(EngineEvent::FirstToken {
                        request: seq.spec.request,
                    });
                }
            }
            let kv = u64::from(self.seq(slot).prefill_target);
            self.join_decode(slot, kv);
        }
    }

    /// Sequences the plan may run: `max_num_seqs`, less the slots still held (overlap
    /// schedule) by sequences that finished in the last iteration.
    fn plan_slots(&self) -> u64 {
        u64::from(
            self.config
                .max_num_seqs
                .saturating_sub(self.plan_held_slots),
        )
    }

    /// Whether a queued sequence was known when the plan was drawn up (under the overlap
    /// schedule, queued by the start of the iteration that just ended).
    fn known_to_plan(&self, slot: Slot) -> bool {
        self.plan_cutoff
            .is_none_or(|cutoff| self.seq(slot).queued_at <= cutoff)
    }

    pub(super) fn join_decode(&mut self, slot: Slot, kv_len: u64) {
        let order = self.next_admit;
        self.next_admit += 1;
        let seq = &mut self.seqs[slot];
        let remaining = u64::from(seq.spec.output_tokens - seq.generated);
        seq.admit_order = order;
        let member = self.decode.join(slot, kv_len, remaining, order);
        if seq.text_pending {
            // Token `header + 1` is the first with text; each decode step makes one more.
            let first_text = u64::from(self.config.header_tokens) + 1;
            let at = member.joined + first_text.saturating_sub(u64::from(seq.generated)).max(1);
            seq.shows_at = Some(at);
            self.showing.insert((at, slot));
        }
        seq.phase = Phase::Decoding(member);
        self.newcomers.push(slot);
    }

    /// Makes room for the decode step's new blocks, preempting the newest
    /// members if needed. Returns whether a decode step runs.
    fn prepare_decode(&mut self, out: &mut IterationOutput) -> bool {
        let mut retracted = false;
        let runs = loop {
            if self.decode.is_empty() {
                break false;
            }
            if self.config.reserve_output {
                break true; // every member's growth was reserved at admission
            }
            let need = self.decode.blocks_needed_next_step();
            if self.pool.allocate(need) {
                break true;
            }
            // The newest member: the one with the fewest tokens made here, which SGLang
            // retracts first too (`retract_decode`, ties aside).
            let victim = self.decode.newest().expect("non-empty decode set");
            self.preempt(victim, out);
            retracted = true;
        };
        if retracted && self.config.new_token_ratio.is_some() {
            self.new_token_ratio = self.ratio_after_retraction();
        }
        runs
    }

    /// SGLang's ratio after a retraction, from the members left: the tokens they made and
    /// their output budgets.
    fn ratio_after_retraction(&self) -> f64 {
        let (mut decoded, mut budget) = (0u64, 0u64);
        for slot in self.decode.slots() {
            let seq = self.seq(slot);
            let Phase::Decoding(member) = &seq.phase else {
                continue;
            };
            decoded += u64::from(self.decoded(seq, member).0);
            budget += u64::from(seq.spec.output_tokens);
        }
        NewTokenRatio::after_retraction(decoded, budget, self.decode.len())
    }

    /// SGLang's reserve for the outputs to come of the running requests (decoding, and
    /// admitted but still prefilling), each clipped at [`CLIP_MAX_NEW_TOKENS`] (for the
    /// decoding ones, their sum at their count × the clip: exact when no output to come is
    /// longer).
    fn running_output_reserve(&self) -> f64 {
        let decoding = self
            .decode
            .remaining_tokens()
            .min(self.decode.len() * CLIP_MAX_NEW_TOKENS);
        let prefilling: u64 = self
            .prefilling
            .iter()
            .map(|&s| {
                let seq = self.seq(s);
                u64::from(seq.spec.output_tokens - seq.generated).min(CLIP_MAX_NEW_TOKENS)
            })
            .sum();
        self.new_token_ratio * (decoding + prefilling) as f64
    }

    fn preempt(&mut self, slot: Slot, out: &mut IterationOutput) {
        let Phase::Decoding(member) = self.seq(slot).phase.clone() else {
            unreachable!("only decode members are preempted")
        };
        let kv_len = self.decode.kv_len(&member);
        // Its next gap, once it decodes again, is counted from its last token.
        let (generated, last_token_at) = self.decoded(self.seq(slot), &member);
        self.decode.leave(slot, &member);
        self.newcomers.retain(|&s| s != slot);
        let private = self.decoding_private_blocks(kv_len, self.seq(slot).shared);
        let seq = &mut self.seqs[slot];
        seq.generated = generated;
        seq.last_token_at = last_token_at;
        if let Some(at) = seq.shows_at.take()
            && seq.text_pending
        {
            self.showing.remove(&(at, slot));
        }
        self.pool.release_private(private);
        self.pool.release_prefix(&seq.keys[..seq.shared]);
        seq.shared = 0;
        seq.private_blocks = 0;
        // Recompute the prompt and every token made but the last (which is fed next).
        seq.prefill_target = seq.spec.prompt_tokens + seq.generated - 1;
        seq.prefilled = 0;
        seq.spec.decode_here = true;
        seq.phase = Phase::Waiting;
        self.queued_prefill_tokens += u64::from(seq.prefill_target);
        out.events.push(EngineEvent::Preempted {
            request: seq.spec.request,
        });
        self.waiting.push_front(slot);
    }

    /// Fills `budget` tokens with prefill chunks: running prefills first, then admissions.
    /// Under attention DP a sequence runs on one rank, so its chunk is at most that rank's
    /// share of the budget ([`super::EngineConfig::rank_token_budget`]).
    fn plan_prefill(&mut self, mut budget: u32, out: &mut IterationOutput) {
        let chunked = self.config.chunked_prefill;
        let rank_budget = self.config.rank_token_budget();
        if self.config.new_token_ratio.is_some() {
            self.admission_reserve = (self.running_output_reserve(), 0);
        }
        for i in 0..self.prefilling.len() {
            if budget == 0 {
                return;
            }
            let slot = self.prefilling[i];
            let seq = self.seq(slot);
            let left = seq.prefill_target - seq.prefilled;
            let chunk = if chunked {
                left.min(budget).min(rank_budget)
            } else {
                left
            };
            if !chunked && chunk > budget && !self.plan_chunks.is_empty() {
                continue;
            }
            budget = budget.saturating_sub(chunk);
            self.plan_chunks.push((slot, chunk));
        }
        while budget > 0 && self.running() < self.plan_slots() {
            let Some(&slot) = self.waiting.front() else {
                break;
            };
            if !self.known_to_plan(slot) {
                break;
            }
            let left = self.admission_prefill_tokens(slot);
            // Without chunking a prompt runs whole: alone if it exceeds the budget.
            if !chunked && left > budget && !self.plan_chunks.is_empty() {
                break;
            }
            if !self.admit(slot) {
                break; // no blocks: first-come first-served, no overtaking
            }
            self.waiting.pop_front();
            self.prefilling.push_back(slot);
            let seq = self.seq(slot);
            out.events.push(EngineEvent::Admitted {
                request: seq.spec.request,
            });
            let left = seq.prefill_target - seq.prefilled;
            let chunk = if chunked {
                left.min(budget).min(rank_budget)
            } else {
                left
            };
            budget = budget.saturating_sub(chunk);
            self.plan_chunks.push((slot, chunk));
        }
    }

    /// Prefill tokens a waiting sequence would need if admitted now (cache hits excluded).
    fn admission_prefill_tokens(&self, slot: Slot) -> u32 {
        let seq = self.seq(slot);
        let (hit, _) = self.prefix_hit(seq);
        seq.prefill_target - hit
    }

    /// Cache hit of a waiting sequence: (tokens, content blocks). At least one
    /// token is always computed, to produce the next token.
    fn prefix_hit(&self, seq: &Seq) -> (u32, usize) {
        let per = self.config.prefix_block_tokens;
        let mut blocks = self.pool.cached_prefix_len(&seq.keys);
        blocks = blocks.min(((seq.prefill_target - 1) / per.max(1)) as usize);
        (blocks as u32 * per, blocks)
    }

    /// Tokens of output whose blocks are reserved at admission (none unless `reserve_output`).
    fn output_reserve(&self, seq: &Seq) -> u64 {
        if self.config.reserve_output {
            u64::from(seq.spec.output_tokens - seq.generated)
        } else {
            0
        }
    }

    /// Admits the sequence at the head of the queue if its blocks fit above the watermark.
    fn admit(&mut self, slot: Slot) -> bool {
        let seq = self.seq(slot);
        let (hit_tokens, hit_blocks) = self.prefix_hit(seq);
        let all = ceil_div(
            u64::from(seq.prefill_target) + self.output_reserve(seq),
            u64::from(self.config.block_tokens),
        );
        let need = all - hit_blocks as u64 * self.blocks_per_entry + self.config.state_blocks;
        // Evictable cache blocks count as available, except those this request is about to reuse.
        let reusable_evictable = self.pool.unreferenced_blocks(&seq.keys[..hit_blocks]);
        let free = self.pool.available().saturating_sub(reusable_evictable);
        if free < need + self.config.watermark_blocks {
            return false;
        }
        // SGLang: the prompt and the whole output (clipped) beside the running requests'
        // estimated outputs and those admitted before it in this iteration.
        let output = u64::from(seq.spec.output_tokens - seq.generated).min(CLIP_MAX_NEW_TOKENS);
        if self.config.new_token_ratio.is_some() {
            let (running, admitted) = self.admission_reserve;
            let block = u64::from(self.config.block_tokens);
            let wanted = (need * block + output + admitted) as f64 + running;
            if wanted >= (free * block) as f64 {
                return false;
            }
            self.admission_reserve.1 += output;
        }
        let keys = std::mem::take(&mut self.seq_mut(slot).keys);
        self.pool.acquire_prefix(&keys, hit_blocks);
        let ok = self.pool.allocate(need);
        debug_assert!(ok, "checked above");
        self.queued_prefill_tokens -= u64::from(hit_tokens);
        let seq = self.seq_mut(slot);
        seq.keys = keys;
        seq.shared = hit_blocks;
        seq.private_blocks = need;
        seq.prefilled = hit_tokens;
        seq.phase = Phase::Prefilling;
        true
    }
}
