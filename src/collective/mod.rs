//! Compressed collectives: the pieces of a compressed reduce-scatter + all-gather whose
//! traffic per rank stays flat as ranks grow, with error feedback on both stages. Transport
//! is the caller's (MPI, gloo, NCCL): these functions only turn tensors into frames and frames
//! back into sums.
//!
//! One step of rank `r` out of `N`, for one tensor `g` (see [`ShardedExchange`]):
//! 1. split `g` into `N` row-aligned shards ([`shard_ranges`]; small tensors into fewer, the
//!    other ranks' shards empty); compress shard `j` with its own residual (stage 1) and send
//!    the frame to rank `j` (an empty shard has no frame: nothing is sent);
//! 2. sum the `N` frames received for shard `r` with [`Accumulator::accumulate`]
//!    (`out += scale · decode(frame)`);
//! 3. compress that reduced shard with a second residual (stage 2) and all-gather it;
//! 4. decode the `N` reduced shards into the full result ([`ShardedExchange::decode_shard`]).
//!
//! The frames travel as exchange messages ([`message_len`]; docs/FORMAT.md, "Exchange
//! messages"): the codec frame without the shape, element type and lengths that every rank's
//! state already knows, which is most of a small shard's overhead.
//!
//! Each rank sends about `2 · size / ratio` bytes per step whatever `N` is. The residuals of
//! both stages are named and saved with a [`ResidualStore`], so a compressed run resumes
//! exactly.

mod accumulate;
mod exchange;
mod message;
mod shard;
mod store;

pub use accumulate::Accumulator;
pub use exchange::{ShardedExchange, Stage};
pub use message::message_len;
pub use shard::{shard_ranges, shard_shape, ShardLayout};
pub use store::{ResidualStore, MAX_NAME_BYTES, MAX_STORE_ENTRIES, MAX_STORE_FILE_BYTES};
