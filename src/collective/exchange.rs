//! One tensor's compressed reduce-scatter + all-gather, seen from one rank: the shards, the
//! residuals of both stages, and the accumulator.

use std::ops::Range;

use super::accumulate::Accumulator;
use super::message::{frame_of_message, message_of_frame};
use super::shard::{shard_ranges, shard_shape, ShardLayout};
use super::store::ResidualStore;
use crate::codec::decoder::DecodeOptions;
use crate::codec::encoder::{Compressed, Encoder};
use crate::codec::feedback::ErrorFeedback;
use crate::error::{Error, Result};
use crate::util::shape::check_shape;

/// Which residual of an exchange: the one of the shard sent to rank `j` (first stage) or the
/// one of this rank's reduced shard (second stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The reduce-scatter residual of the shard for rank `j`.
    Scatter(usize),
    /// The all-gather residual of this rank's reduced shard.
    Gather,
}

/// The state of rank `rank` of `ranks` for one tensor of a fixed shape: `ranks` first-stage
/// residuals (one per destination shard), one second-stage residual (this rank's reduced
/// shard), and the accumulator's scratch. Every rank of a job must create it with the same
/// shape and rank count. Not shared between threads while in use; may move between threads.
///
/// ```
/// use alcm::collective::ShardedExchange;
/// let enc = alcm::Encoder::new(alcm::EncoderConfig::default().with_mode(alcm::Mode::RelativeL2(0.01)))?;
/// // Two ranks simulated in one process; each has a gradient of shape [4, 3].
/// let grads = [vec![1.0f32; 12], vec![3.0f32; 12]];
/// let mut ex: Vec<_> = (0..2).map(|r| ShardedExchange::new(&[4, 3], 2, r)).collect::<Result<_, _>>()?;
/// // Stage 1: rank r compresses shard j for rank j.
/// let sent: Vec<Vec<Vec<u8>>> = (0..2)
///     .map(|r| (0..2).map(|j| Ok(ex[r].compress_shard(&enc, &grads[r], j)?.unwrap().bytes)).collect::<alcm::Result<_>>())
///     .collect::<alcm::Result<_>>()?;
/// // Rank j sums what it received (the mean: scale 1/2), compresses it (stage 2) ...
/// let mut reduced = Vec::new();
/// for j in 0..2 {
///     let mut sum = vec![0.0f32; ex[j].shard(j).len()];
///     for r in 0..2 { ex[j].accumulate(&sent[r][j], 0.5, &mut sum)?; }
///     reduced.push(ex[j].compress_reduced(&enc, &sum)?.unwrap().bytes);
/// }
/// // ... and every rank decodes all reduced shards into the full mean gradient.
/// let mut mean = vec![0.0f32; 12];
/// for j in 0..2 { ex[0].decode_shard(&reduced[j], j, &mut mean)?; }
/// // Each stage is within 1 % (relative L2), so the result within about 2 %.
/// assert!(mean.iter().all(|&m| (m - 2.0).abs() < 0.05));
/// # Ok::<(), alcm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShardedExchange {
    shape: Vec<usize>,
    rank: usize,
    shards: Vec<Range<usize>>,
    scatter: Vec<ErrorFeedback>,
    gather: ErrorFeedback,
    acc: Accumulator,
}

impl ShardedExchange {
    /// The state of rank `rank` (< `ranks`) for tensors of `shape`, with zero residuals, split
    /// with the default [`ShardLayout`] (rows spread over all ranks).
    /// `InvalidArgument` for `ranks == 0`, `rank >= ranks` or a bad shape; `TooLarge` as for
    /// [`ErrorFeedback::new`].
    pub fn new(shape: &[usize], ranks: usize, rank: usize) -> Result<Self> {
        Self::with_layout(shape, ranks, rank, ShardLayout::default())
    }

    /// As [`Self::new`], split by `layout` (every rank of a job must use the same layout).
    pub fn with_layout(
        shape: &[usize],
        ranks: usize,
        rank: usize,
        layout: ShardLayout,
    ) -> Result<Self> {
        if rank >= ranks {
            return Err(Error::invalid_argument(format!(
                "rank {rank} is not below the rank count {ranks}"
            )));
        }
        let shards = shard_ranges(shape, ranks, layout)?;
        let scatter = shards
            .iter()
            .map(|r| ErrorFeedback::new(&shard_shape(shape, r.len())?))
            .collect::<Result<Vec<_>>>()?;
        let gather = ErrorFeedback::new(&shard_shape(shape, shards[rank].len())?)?;
        Ok(ShardedExchange {
            shape: shape.to_vec(),
            rank,
            shards,
            scatter,
            gather,
            acc: Accumulator::new(),
        })
    }

    /// The full tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of ranks (and shards).
    pub fn ranks(&self) -> usize {
        self.shards.len()
    }

    /// This rank's index: the shard it reduces.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The values (C order, in the full tensor) of shard `j`; panics if `j >= ranks()`.
    pub fn shard(&self, j: usize) -> Range<usize> {
        self.shards[j].clone()
    }

    /// Stage 1: compresses shard `j` of `gradient` (the full tensor) plus its residual into an
    /// exchange message for rank `j` (a frame without what the ranks' states already know:
    /// docs/FORMAT.md, "Exchange messages"; the report describes the message), and keeps the
    /// new residual; `None` when shard `j` is empty (nothing to send). On error the residual
    /// is unchanged.
    pub fn compress_shard(
        &mut self,
        encoder: &Encoder,
        gradient: &[f32],
        j: usize,
    ) -> Result<Option<Compressed>> {
        self.compress_shard_allocated(encoder, gradient, j, None)
    }

    /// As [`Self::compress_shard`], with a bit allocation for the adaptive mode: one value per
    /// channel of shard `j` (as [`Encoder::compress`] takes for a tensor of the shard's shape,
    /// [`Self::shard_shape`]); `None` or other modes: as without.
    pub fn compress_shard_allocated(
        &mut self,
        encoder: &Encoder,
        gradient: &[f32],
        j: usize,
        allocation: Option<&[f64]>,
    ) -> Result<Option<Compressed>> {
        check_shape(gradient.len(), &self.shape)?;
        let range = self.checked_shard(j)?;
        if range.is_empty() {
            return Ok(None);
        }
        let c = self.scatter[j].compress(encoder, &gradient[range], allocation)?;
        as_message(c).map(Some)
    }

    /// The shape of shard `j` (the full shape with the first axis cut to the shard's rows).
    pub fn shard_shape(&self, j: usize) -> Result<Vec<usize>> {
        shard_shape(&self.shape, self.checked_shard(j)?.len())
    }

    /// Stage 1, receiving side: `out += scale · decode(frame)`, `frame` being a message of
    /// [`Self::compress_shard`] for this rank and `out` this rank's shard
    /// ([`Accumulator::accumulate`]; on error `out` is unchanged, but for a crafted message
    /// that passes its checksum: then it may be partly summed). When this rank's shard is
    /// empty the message must be empty too (nothing was sent) and nothing happens.
    pub fn accumulate(&mut self, frame: &[u8], scale: f32, out: &mut [f32]) -> Result<()> {
        let n = self.shards[self.rank].len();
        if out.len() != n {
            return Err(Error::invalid_argument(format!(
                "the output holds {} values, this rank's shard {n}",
                out.len()
            )));
        }
        if n == 0 {
            return empty_frame(frame, self.rank);
        }
        let frame = frame_of_message(frame, self.gather.shape())?;
        self.acc.accumulate(&frame, scale, out).map(|_| ())
    }

    /// Stage 2: compresses this rank's reduced shard plus the second residual into a message
    /// for the all-gather, and keeps the new residual; `None` when this rank's shard is empty.
    pub fn compress_reduced(
        &mut self,
        encoder: &Encoder,
        reduced: &[f32],
    ) -> Result<Option<Compressed>> {
        self.compress_reduced_allocated(encoder, reduced, None)
    }

    /// As [`Self::compress_reduced`], with a bit allocation for the adaptive mode (one value
    /// per channel of this rank's shard).
    pub fn compress_reduced_allocated(
        &mut self,
        encoder: &Encoder,
        reduced: &[f32],
        allocation: Option<&[f64]>,
    ) -> Result<Option<Compressed>> {
        check_shape(reduced.len(), self.gather.shape())?;
        if reduced.is_empty() {
            return Ok(None);
        }
        let c = self.gather.compress(encoder, reduced, allocation)?;
        as_message(c).map(Some)
    }

    /// Stage 2, receiving side: decodes the message of rank `j`'s reduced shard (or any
    /// message of shard `j`) into its place in `out` (the full tensor). The message must hold
    /// exactly that shard's values. An empty shard has an empty message and leaves `out` alone.
    pub fn decode_shard(&self, frame: &[u8], j: usize, out: &mut [f32]) -> Result<()> {
        check_shape(out.len(), &self.shape)?;
        let range = self.checked_shard(j)?;
        if range.is_empty() {
            return empty_frame(frame, j);
        }
        let frame = frame_of_message(frame, &shard_shape(&self.shape, range.len())?)?;
        DecodeOptions::default().decompress_into(&frame, &mut out[range])?;
        Ok(())
    }

    /// The residual of `stage`.
    pub fn residual(&self, stage: Stage) -> Result<&ErrorFeedback> {
        match stage {
            Stage::Gather => Ok(&self.gather),
            Stage::Scatter(j) => Ok(&self.scatter[self.checked_shard(j).map(|_| j)?]),
        }
    }

    /// Clears every residual.
    pub fn reset(&mut self) {
        self.scatter.iter_mut().for_each(ErrorFeedback::reset);
        self.gather.reset();
    }

    /// Puts every residual into `store` under `name/scatter/<j>` and `name/gather`
    /// (replacing entries of those names).
    pub fn save_residuals(&self, name: &str, store: &mut ResidualStore) -> Result<()> {
        for (j, fb) in self.scatter.iter().enumerate() {
            store.insert(&format!("{name}/scatter/{j}"), fb.clone())?;
        }
        store.insert(&format!("{name}/gather"), self.gather.clone())
    }

    /// Restores every residual from the entries [`Self::save_residuals`] wrote under `name`.
    /// A missing entry or one of another shape is an `InvalidArgument` error naming it, and
    /// nothing is changed then (never a silent reset).
    pub fn load_residuals(&mut self, name: &str, store: &ResidualStore) -> Result<()> {
        let mut scatter = Vec::with_capacity(self.scatter.len());
        for (j, fb) in self.scatter.iter().enumerate() {
            scatter.push(store.get_shaped(&format!("{name}/scatter/{j}"), fb.shape())?);
        }
        let gather = store.get_shaped(&format!("{name}/gather"), self.gather.shape())?;
        self.scatter = scatter;
        self.gather = gather;
        Ok(())
    }

    fn checked_shard(&self, j: usize) -> Result<Range<usize>> {
        self.shards.get(j).cloned().ok_or_else(|| {
            Error::invalid_argument(format!(
                "shard {j} does not exist ({} ranks)",
                self.shards.len()
            ))
        })
    }
}

/// `c` with its frame turned into an exchange message and its report describing the message.
fn as_message(c: Compressed) -> Result<Compressed> {
    let bytes = message_of_frame(&c.bytes)?;
    let mut report = c.report;
    report.output_bytes = bytes.len();
    report.ratio = report.input_bytes as f64 / bytes.len() as f64;
    let values = report.input_bytes / 4;
    report.bits_per_value = 8.0 * bytes.len() as f64 / values.max(1) as f64;
    report.caq = report.ratio / (report.cpu_seconds + 1.0);
    Ok(Compressed { bytes, report })
}

/// The message of an empty shard: there is none.
fn empty_frame(frame: &[u8], j: usize) -> Result<()> {
    if frame.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "shard {j} is empty, so its frame must be too ({} bytes given)",
            frame.len()
        )))
    }
}
