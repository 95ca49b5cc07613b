//! What a record costs the store in memory, so the log can keep a byte
//! budget beside its row budget.
//!
//! The estimate is of heap bytes, not of the serialised row: it is what the
//! app holds for as long as a record is kept, it is cheap to recompute after
//! every event (a sum of a few lengths, no serialisation on the hot path),
//! and the page's own budget covers what the page holds. It errs high: every
//! allocation is charged the allocator's header and rounding, and every
//! index the store keeps for a record is charged at its worst load. The
//! `log_memory` example checks it against a counting allocator.

use std::mem::size_of;
use std::net::IpAddr;

use burrow_core::log::ConnectionRecord;
use burrow_core::tls::SniCheck;
use burrow_core::PeerText;

use super::Entry;

/// What one heap allocation costs beyond its bytes: glibc's 8-byte header
/// and rounding up to 16 bytes, with room to spare.
const PER_ALLOCATION: usize = 32;

/// What the store spends on a record besides the record's own heap data:
/// its slot in the `BTreeMap` (nodes are at least half full, so twice the
/// pair), its `(run, id)` index entry (a hash table at 7/8 load that
/// doubles: up to 2.3 times the pair plus a control byte, rounded to 3),
/// its place in the eviction queues and the dirty set (doubling buffers
/// and B-tree nodes: twice each).
pub(super) const PER_RECORD: usize = 2 * size_of::<(u64, Entry)>()
    + 3 * (size_of::<((u64, u64), u64)>() + 1)
    + 2 * 2 * size_of::<u64>()
    + 2 * size_of::<u64>();

/// The heap bytes the store holds for `r`, filed with its indexes.
pub(super) fn record_bytes(r: &ConnectionRecord) -> usize {
    let texts = [&r.method, &r.target, &r.reason, &r.sni]
        .into_iter()
        .flatten()
        .map(peer_text)
        .sum::<usize>();
    let check = match &r.sni_check {
        Some(SniCheck::Mismatch { sni }) => peer_text(sni),
        Some(SniCheck::Ech { outer }) => peer_text(outer),
        _ => 0,
    };
    let alpn = vec_bytes::<PeerText>(r.alpn.len()) + r.alpn.iter().map(peer_text).sum::<usize>();
    PER_RECORD
        + texts
        + check
        + alpn
        + r.rule.as_deref().map_or(0, text)
        + vec_bytes::<IpAddr>(r.resolved.len())
}

fn peer_text(t: &PeerText) -> usize {
    text(t.as_str())
}

/// A string's heap block. Records hold clones of the events' strings, and a
/// clone allocates exactly its length (none when empty).
fn text(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + PER_ALLOCATION
    }
}

/// A vector's heap block; cloned, so its capacity is its length.
fn vec_bytes<T>(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len * size_of::<T>() + PER_ALLOCATION
    }
}
