//! Requests and the small ids they carry.

use std::fmt;
use std::sync::Arc;

use servesim_core::SimTime;
use servesim_core::hash::word_hash;

/// Unique id of a request within a workload, in the order the workload emitted them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Index into the workload's class-name table (see `Workload::class_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassId(pub u16);

/// Index of a stream in the workload (see `Workload::stream_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u16);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Where a closed-loop request sits in its conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionInfo {
    /// The user, 0-based within its stream.
    pub user: u32,
    /// The user's conversation, 0-based (a user runs sessions back to back).
    pub session: u32,
    /// The turn within the conversation, 0-based.
    pub turn: u32,
}

/// One inference request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Unique id, in emission order.
    pub id: RequestId,
    /// When it reaches the cluster.
    pub arrival: SimTime,
    /// When its client issued it: its arrival, or earlier for a request that waited in a
    /// benchmark client for a connection. What the client measures counts from here.
    pub issued: SimTime,
    /// Prompt length.
    pub input_tokens: u32,
    /// Tokens to generate.
    pub output_tokens: u32,
    /// One id per `block_tokens`-token block of the prompt (the last one may be partial),
    /// as in Mooncake traces: equal ids mean equal content, so a cache can reuse the
    /// longest common leading run. Always `input_tokens.div_ceil(block_tokens)` long for
    /// synthetic streams; trace streams carry the trace's ids when it has them.
    pub prefix_blocks: Arc<[u64]>,
    /// Class label for reports.
    pub class: ClassId,
    /// The stream that produced it.
    pub stream: StreamId,
    /// Conversation position, for closed-loop streams.
    pub session: Option<SessionInfo>,
}

/// Block ids of one prompt: `shared` leading tokens common to the whole stream (a system
/// prompt), then content private to `seq` (a conversation, or a single request).
///
/// A block's id depends only on what it holds, so a follow-up whose prompt extends the
/// previous one repeats the previous prompt's full blocks. A partial last block gets an
/// id of its own, tied to the prompt length, because the next turn changes its content.
/// Ids are only compared for equality, so they use the word-at-a-time [`word_hash`].
pub(crate) fn prompt_blocks(
    namespace: u64,
    block_tokens: u32,
    shared: u32,
    seq: u64,
    input_tokens: u32,
) -> Arc<[u64]> {
    let b = u64::from(block_tokens);
    let len = u64::from(input_tokens);
    (0..len.div_ceil(b))
        .map(|j| {
            let end = (j + 1) * b;
            if end <= u64::from(shared) {
                word_hash(&[namespace, u64::MAX, j])
            } else if end <= len {
                word_hash(&[namespace, seq, j])
            } else {
                word_hash(&[namespace, seq, j, len])
            }
        })
        .collect()
}

/// Block ids of a trace row, moved into the stream's namespace so two traces in one mix
/// never share blocks by accident.
pub(crate) fn trace_blocks(namespace: u64, ids: &[u64]) -> Arc<[u64]> {
    ids.iter().map(|&id| word_hash(&[namespace, id])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_prompts_share_full_blocks_only() {
        let a = prompt_blocks(1, 512, 0, 7, 1300); // 2 full + 1 partial
        let b = prompt_blocks(1, 512, 0, 7, 2000); // extends a
        assert_eq!(a.len(), 3);
        assert_eq!(b.len(), 4);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        let other = prompt_blocks(1, 512, 0, 8, 1300);
        assert!(a.iter().all(|x| !other.contains(x)));
    }

    #[test]
    fn shared_prefix_is_common_to_all_sequences() {
        let a = prompt_blocks(1, 512, 1024, 1, 3000);
        let b = prompt_blocks(1, 512, 1024, 2, 3000);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        assert_ne!(prompt_blocks(2, 512, 1024, 1, 3000)[0], a[0]);
    }
}
