//! The end of an iteration: every sequence in it advances (decode steps, prefill chunks),
//! finished requests leave, and prefills that end join decode or park for their KV hand-off.

use servesim_core::{SimDuration, SimTime};

use super::decode_set::{Slot, SuffixMax};
use super::{Engine, EngineEvent, HandedFirstToken, IterationOutput, Phase, ceil_div};

impl Engine {
    /// Applies the iteration in flight at its end time `now`.
    pub fn complete_iteration(&mut self, now: SimTime, out: &mut IterationOutput) {
        debug_assert!(self.busy, "no iteration in flight");
        self.busy = false;
        self.ended_at = Some(now);
        let finished_before = out.events.len();
        // Decode first: sequences whose prefill ends now join decode after this step.
        if self.plan_decode {
            self.finish_decode_step(now, out);
        }
        for i in 0..self.plan_chunks.len() {
            let (slot, tokens) = self.plan_chunks[i];
            self.queued_prefill_tokens -= u64::from(tokens);
            let seq = self.seq_mut(slot);
            seq.prefilled += tokens;
            if seq.prefilled == seq.prefill_target {
                self.prefill_finished(slot, now, out);
            }
        }
        self.finished_in_last = out.events[finished_before..]
            .iter()
            .filter(|e| matches!(e, EngineEvent::Finished { .. }))
            .count() as u32;
    }

    fn prefill_finished(&mut self, slot: Slot, now: SimTime, out: &mut IterationOutput) {
        let pos = self
            .prefilling
            .iter()
            .position(|&s| s == slot)
            .expect("prefilling");
        self.prefilling.remove(pos);
        let bpe = self.blocks_per_entry;
        let seq = &mut self.seqs[slot];
        // Publish the prompt's full content blocks to the prefix cache.
        self.pool.publish(&seq.keys[seq.shared..]);
        seq.private_blocks -= (seq.keys.len() - seq.shared) as u64 * bpe;
        seq.shared = seq.keys.len();
        let request = seq.spec.request;
        if seq.generated == 0 || seq.first_token_pending {
            seq.generated = seq.generated.max(1);
            seq.last_token_at = now;
            // A prompt handed to a decode worker shows its first token there.
            let last = seq.generated >= seq.spec.output_tokens;
            if seq.spec.decode_here || last {
                seq.first_token_pending = false;
                out.tokens += 1;
                // Behind a response header the client sees nothing yet, unless this token
                // ends the response.
                if !seq.text_pending || last {
                    seq.text_pending = false;
                    out.events.push(EngineEvent::FirstToken { request });
                }
            }
        }
        if seq.generated >= seq.spec.output_tokens {
            out.events.push(EngineEvent::Finished {
                request,
                max_itl: SimDuration::ZERO,
            });
            let private = seq.private_blocks;
            self.forget_running(slot, private);
        } else if seq.spec.decode_here {
            let kv = u64::from(seq.prefill_target);
            self.join_decode(slot, kv);
        } else {
            seq.phase = Phase::Parked;
            out.events.push(EngineEvent::PrefillDone { request, slot });
        }
    }

    /// The first token with text of a sequence whose response header is made.
    fn show_text(&mut self, slot: Slot, out: &mut IterationOutput) {
        let seq = self.seq_mut(slot);
        seq.text_pending = false;
        out.events.push(EngineEvent::FirstToken {
            request: seq.spec.request,
        });
    }

    /// Blocks a decoding sequence of `kv_len` tokens holds of its own (its first `shared`
    /// prefix entries are the cache's), whose output blocks were not reserved: its tokens'
    /// blocks and its fixed state's.
    pub(super) fn decoding_private_blocks(&self, kv_len: u64, shared: usize) -> u64 {
        ceil_div(kv_len, u64::from(self.config.block_tokens))
            - shared as u64 * self.blocks_per_entry
            + self.config.state_blocks
    }

    fn forget_running(&mut self, slot: Slot, private_blocks: u64) {
        let seq = self.seqs.remove(slot).expect("live slot");
        self.pool.release_private(private_blocks);
        self.pool.release_prefix(&seq.keys[..seq.shared]);
    }

    fn finish_decode_step(&mut self, now: SimTime, out: &mut IterationOutput) {
        let veterans = self.decode.len() - self.newcomers.len() as u64;
        let gap = now.saturating_duration_since(self.last_decode_end);
        let step = self.decode.step() + 1;
        // Members still making their response header (all in `showing`): the client sees
        // none of their gaps, which fall within its first token's wait.
        let pending_newcomers = self
            .newcomers
            .iter()
            .filter(|&&s| self.seqs[s].text_pending)
            .count() as u64;
        let hidden_veterans = self.showing.len() as u64 - pending_newcomers;
        if veterans > 0 {
            if veterans > hidden_veterans {
                out.itl_gaps.push((gap, veterans - hidden_veterans));
            }
            self.gaps.push(step, gap.as_nanos());
        }
        for i in 0..self.newcomers.len() {
            let slot = self.newcomers[i];
            let seq = &mut self.seqs[slot];
            if seq.first_token_pending {
                // Handed over: this step's response is the client's first (with the carried
                // token, or the token it recomputed).
                seq.first_token_pending = false;
                seq.first_decode_gap = SimDuration::ZERO;
                if !seq.text_pending {
                    out.events.push(EngineEvent::FirstToken {
                        request: seq.spec.request,
                    });
                }
                if self.config.handed_first_token == HandedFirstToken::StreamedAfterFirstStep {
                    out.tokens += 1; // the carried token, shown with this step's
                    if !seq.text_pending {
                        out.itl_gaps.push((SimDuration::ZERO, 1));
                    }
                }
                continue;
            }
            if seq.text_pending {
                continue; // within the header: part of the first token's wait
            }
            seq.first_decode_gap = now.saturating_duration_since(seq.last_token_at);
            out.itl_gaps.push((seq.first_decode_gap, 1));
        }
        self.newcomers.clear();
        out.tokens += self.decode.len();
        self.last_decode_end = now;
        if let Some(r) = self.config.new_token_ratio {
            self.new_token_ratio = r.decayed(self.new_token_ratio);
        }
        let mut done = std::mem::take(&mut self.done);
        self.decode.advance(&mut done);
        // First text after a response header: before any of this step's finishes.
        while let Some(&(at, slot)) = self.showing.first()
            && at <= self.decode.step()
        {
            self.showing.pop_first();
            self.show_text(slot, out);
        }
        for &slot in &done {
            let Phase::Decoding(member) = self.seq(slot).phase.clone() else {
                unreachable!("finishing slot is decoding")
            };
            // A response no longer than its header shows its text, if any, as it ends.
            if let Some(at) = self.seq(slot).shows_at
                && self.seq(slot).text_pending
            {
                self.showing.remove(&(at, slot));
                self.show_text(slot, out);
            }
            let kv_len = self.decode.kv_len(&member);
            self.decode.leave(slot, &member);
            let seq = self.seq(slot);
            let max_itl = self.longest_gap(seq, &member);
            let private = if self.config.reserve_output {
                seq.private_blocks // prompt tail and the reserved output
            } else {
                self.decoding_private_blocks(kv_len, seq.shared)
            };
            out.events.push(EngineEvent::Finished {
                request: seq.spec.request,
                max_itl,
            });
            self.forget_running(slot, private);
        }
        self.done = done;
        // Gaps before the oldest member's second step can no longer be asked about.
        match self.decode.oldest_join() {
            None => self.gaps = SuffixMax::default(),
            Some(joined) if self.gaps.len() > 64 => self.gaps.forget_before(joined + 2),
            Some(_) => {}
        }
    }
}
