//! Requests longer than the model's context (prompt and output over its
//! `max_position_embeddings`), counted per stream as they arrive: a real server refuses
//! them, the simulator serves them, so a run that has any says so (`crate::warnings`).

use servesim_traffic::Request;

/// Requests over the context, of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrun {
    /// Requests of the stream that arrived.
    pub arrived: u64,
    /// Those longer than the context.
    pub over: u64,
    /// The longest (prompt and output), tokens.
    pub longest: u64,
}

/// The context length and each stream's overruns.
#[derive(Clone, Debug)]
pub struct ContextCheck {
    /// The model's context, tokens.
    pub context: u64,
    /// By stream id.
    pub streams: Vec<Overrun>,
}

impl ContextCheck {
    /// A check of `streams` streams against `context` tokens.
    pub fn new(context: u32, streams: usize) -> ContextCheck {
        ContextCheck {
            context: u64::from(context),
            streams: vec![Overrun::default(); streams],
        }
    }

    /// Counts request `r` as it arrives.
    pub fn arrived(&mut self, r: &Request) {
        let Some(s) = self.streams.get_mut(r.stream.0 as usize) else {
            return;
        };
        s.arrived += 1;
        let tokens = u64::from(r.input_tokens) + u64::from(r.output_tokens);
        if tokens > self.context {
            s.over += 1;
            s.longest = s.longest.max(tokens);
        }
    }
}
