//! Kind-5 lane words coded straight into the payload's spare room (compress peak memory,
//! issue 12, target 4).
//!
//! A block's sixteen lane streams must be whole before the block can be laid out (its word
//! counts come first), so each lane's words were held in a vector of their own beside the
//! payload, whose reserved room was waiting for them: the same bytes twice (0.11 × the input
//! for a block of the MiniLM intermediate weight in max-abs mode). Here each lane is given a
//! room in the payload's spare capacity (the group's blocks share all of it, each lane by its
//! count of values) and fills it with its words in the order the encoder makes them (last word
//! of the stream first); once the lane is coded, the room's words are reversed in place, into
//! decode order. Once the group is coded, the lanes are moved to their places after the word
//! counts; what overflowed a room (a lane with more words than its share) was kept in a vector
//! and is written in front of the lane's room words. If the group does not fit in the spare
//! capacity (the payload's estimate was short), the rooms become bytes of the payload, which
//! grows by what is missing, and the lanes are laid out in it the same way. The same bytes
//! either way.

use super::lanes::{self, LANES};
use std::mem::MaybeUninit;
use std::ops::Range;

/// Bytes of a block's word counts (16 × u32), written in front of its lanes.
const HEAD: usize = 4 * LANES;

/// Where one lane's words go as the encoder makes them (last word of the stream first).
pub(crate) struct LaneDest<'a> {
    /// `room[..filled]` are the first `filled` words made: in the order made until
    /// [`seal`](LaneDest::seal), then in decode order, as little-endian `u16`s.
    room: &'a mut [MaybeUninit<u16>],
    filled: usize,
    /// The words made after the room was full, in the order made.
    spill: Vec<u16>,
    /// What the spill is first made room for: the lane's expected words beyond the room.
    spill_hint: usize,
}

impl<'a> LaneDest<'a> {
    /// A lane with no room (a lane a work item does not code, or a test's): its words, if
    /// any, go to a vector.
    pub(crate) fn owned() -> LaneDest<'static> {
        LaneDest {
            room: &mut [],
            filled: 0,
            spill: Vec::new(),
            spill_hint: 0,
        }
    }

    /// A lane filling `room`, expected to take about `words` words.
    fn in_room(room: &'a mut [MaybeUninit<u16>], words: usize) -> LaneDest<'a> {
        LaneDest {
            spill_hint: words.saturating_sub(room.len()),
            room,
            filled: 0,
            spill: Vec::new(),
        }
    }

    /// Appends the words `run` (in the order made). In the order made, not reversed word by
    /// word into the room's end: that store loop cost 4 % of a compression of the word
    /// embeddings (relative L2 1e-2, one thread); the room is reversed once, by `seal`.
    #[inline]
    pub(crate) fn append(&mut self, run: &[u16]) {
        let k = run.len().min(self.room.len() - self.filled);
        let dst = &mut self.room[self.filled..self.filled + k];
        // SAFETY: `dst` is `k` writable words (`MaybeUninit<u16>` is laid out as `u16`), not
        // overlapping `run` (a shared borrow of other memory). One `memcpy`: a store loop
        // here (the runs are 20–60 words) cost 3 % more of the compression.
        unsafe { std::ptr::copy_nonoverlapping(run.as_ptr(), dst.as_mut_ptr().cast::<u16>(), k) };
        self.filled += k;
        if k < run.len() {
            self.spill_more(&run[k..]);
        }
    }

    /// Puts the room's words in decode order, little-endian: once the lane is coded.
    fn seal(&mut self) {
        let words = &mut self.room[..self.filled];
        words.reverse();
        #[cfg(target_endian = "big")]
        for w in words.iter_mut() {
            // SAFETY: `append` wrote the first `filled` words.
            w.write(unsafe { w.assume_init() }.to_le());
        }
    }

    #[cold]
    fn spill_more(&mut self, run: &[u16]) {
        if self.spill.capacity() == 0 {
            self.spill
                .reserve_exact(self.spill_hint + self.spill_hint / 64 + 64);
        }
        append_words(&mut self.spill, run);
    }

    /// The lane's words in decode order.
    #[cfg(test)]
    pub(crate) fn into_vec(mut self) -> Vec<u16> {
        self.seal();
        let LaneDest {
            room,
            filled,
            mut spill,
            ..
        } = self;
        spill.reverse();
        // SAFETY: `append` wrote the first `filled` words of `room` (little-endian, sealed).
        spill.extend(
            room[..filled]
                .iter()
                .map(|w| u16::from_le(unsafe { w.assume_init() })),
        );
        spill
    }

    /// What is left once the room's borrow ends: the words in the room and the spill.
    fn into_tail(self) -> (usize, Vec<u16>) {
        (self.filled, self.spill)
    }
}

/// `w.extend_from_slice(run)`, growing `w` by an eighth (at least) instead of doubling it: a
/// spill is held until its group is laid out, and doubling could leave half of it unused. A
/// copy every eighth of growth costs far less than coding the words.
#[inline]
fn append_words(w: &mut Vec<u16>, run: &[u16]) {
    if w.capacity() - w.len() < run.len() {
        w.reserve_exact(run.len().max(w.capacity() / 8));
    }
    w.extend_from_slice(run);
}

/// One block of a group: its rows and each lane's values (for the lanes' share of the room).
pub(crate) struct GroupBlock {
    pub(crate) rows: Range<usize>,
    pub(crate) lane_values: [usize; LANES],
}

/// A work item: the lanes `lanes` of block `block` of the group.
struct Item<'a> {
    block: usize,
    lanes: Range<usize>,
    dests: Vec<LaneDest<'a>>,
}

/// Codes the blocks of a group on up to `threads` threads (each block whole, or in its two
/// halves of lanes when `halves`) by `code(rows, lanes, dests)`, which appends the words of
/// lane `l` of `rows` to `dests[l]`, and appends the blocks to `out` (`lanes::push_block`'s
/// layout). `words_per_value`: the payload's expected words per value, for the spills'
/// first capacity.
pub(crate) fn code_group(
    out: &mut Vec<u8>,
    blocks: &[GroupBlock],
    halves: bool,
    threads: usize,
    words_per_value: f64,
    code: impl Fn(Range<usize>, Range<usize>, &mut [LaneDest]) + Sync,
) {
    let expected = |v: usize| (v as f64 * words_per_value) as usize + 2;
    let spare = out.spare_capacity_mut();
    // SAFETY: any bytes are a valid `MaybeUninit<u16>`; `align_to_mut` keeps the alignment.
    let (pre, rooms, _) = unsafe { spare.align_to_mut::<MaybeUninit<u16>>() };
    let pre = pre.len();
    // The group shares the spare room by its lanes' values (a block's word counts first).
    let values: usize = blocks.iter().flat_map(|b| b.lane_values).sum();
    let room_words = rooms.len().saturating_sub(HEAD / 2 * blocks.len());
    let mut rest = rooms;
    // Per block and lane: the word offset (in `rooms`) of its room.
    let mut starts = Vec::with_capacity(blocks.len());
    let mut items = Vec::with_capacity(2 * blocks.len());
    let mut at = 0;
    for (k, b) in blocks.iter().enumerate() {
        let skip = (HEAD / 2).min(rest.len());
        rest = &mut std::mem::take(&mut rest)[skip..];
        at += skip;
        let mut dests = Vec::with_capacity(LANES);
        let mut start = [0usize; LANES];
        for (l, &v) in b.lane_values.iter().enumerate() {
            let share = (room_words as u128 * v as u128 / values.max(1) as u128) as usize;
            let (room, tail) = std::mem::take(&mut rest).split_at_mut(share);
            rest = tail;
            start[l] = at;
            at += share;
            dests.push(LaneDest::in_room(room, expected(v)));
        }
        starts.push(start);
        if halves {
            let high = dests.split_off(lanes::HIGH_LANES.start);
            let pad = || (0..LANES / 2).map(|_| LaneDest::owned());
            dests.extend(pad());
            let high = pad().chain(high).collect();
            items.push(Item {
                block: k,
                lanes: lanes::LOW_LANES,
                dests,
            });
            items.push(Item {
                block: k,
                lanes: lanes::HIGH_LANES,
                dests: high,
            });
        } else {
            items.push(Item {
                block: k,
                lanes: lanes::ALL_LANES,
                dests,
            });
        }
    }
    crate::util::par::map_chunks_mut(threads, &mut items, 1, |_, it| {
        for it in it.iter_mut() {
            code(
                blocks[it.block].rows.clone(),
                it.lanes.clone(),
                &mut it.dests,
            );
            for d in &mut it.dests {
                d.seal();
            }
        }
    });
    // Per block and lane: the words in its room and the spill.
    let mut tails: Vec<[(usize, Vec<u16>); LANES]> = (0..blocks.len())
        .map(|_| std::array::from_fn(|_| (0, Vec::new())))
        .collect();
    for it in items {
        for (l, d) in it.dests.into_iter().enumerate() {
            if it.lanes.contains(&l) {
                tails[it.block][l] = d.into_tail();
            }
        }
    }
    // Each lane's room words (bytes from, length, bytes to, all after `out.len()`), in layout
    // order, and the group's size.
    let mut moves = Vec::with_capacity(LANES * blocks.len());
    let mut total = 0;
    for (t, start) in tails.iter().zip(&starts) {
        total += HEAD;
        for ((filled, spill), &at) in t.iter().zip(start) {
            let to = total + 2 * spill.len();
            moves.push((pre + 2 * at, 2 * filled, to));
            total = to + 2 * filled;
        }
    }
    let len = out.len();
    if total <= out.capacity() - len {
        lay_out(out.spare_capacity_mut(), &moves, &tails, MaybeUninit::new);
        // SAFETY: `lay_out` wrote the `total` bytes after `len`: each block's word counts,
        // then per lane its spill and its room words moved after it.
        unsafe { out.set_len(len + total) };
        return;
    }
    // The payload outgrew its room (its estimate was short): the rooms made bytes of `out`
    // (what the lanes did not fill zeroed), `out` grown by what is missing (a reallocation
    // that may copy, as a payload larger than its first room always did) and the lanes
    // moved in it the same way.
    let extent = moves.last().map_or(0, |m| m.0 + m.1);
    let spare = out.spare_capacity_mut();
    let mut at = 0;
    for &(from, n, _) in &moves {
        spare[at..from].fill(MaybeUninit::new(0));
        at = from + n;
    }
    // SAFETY: the bytes `len..len + extent` are the lanes' room words (written by
    // `LaneDest::append`) and the bytes between them, zeroed just above.
    unsafe { out.set_len(len + extent) };
    out.reserve_exact(total - extent);
    out.resize(len + total, 0);
    lay_out(&mut out[len..], &moves, &tails, |b| b);
}

/// Moves the lanes' room words to their places in `bytes` and writes each block's word counts
/// and the lanes' spills in front of their room words (`moves` and `tails` from
/// [`code_group`]; `byte` makes an element of `bytes`).
fn lay_out<T: Copy>(
    bytes: &mut [T],
    moves: &[(usize, usize, usize)],
    tails: &[[(usize, Vec<u16>); LANES]],
    byte: impl Fn(u8) -> T,
) {
    // The layout keeps the lanes' order, so the lanes moving down are moved first to last and
    // then those moving up last to first: neither overwrites words not yet moved.
    for &(from, len, to) in moves.iter().filter(|m| m.2 <= m.0) {
        bytes.copy_within(from..from + len, to);
    }
    for &(from, len, to) in moves.iter().rev().filter(|m| m.2 > m.0) {
        bytes.copy_within(from..from + len, to);
    }
    let mut put = |at: usize, b: &[u8]| {
        for (d, &b) in bytes[at..at + b.len()].iter_mut().zip(b) {
            *d = byte(b);
        }
    };
    let mut pos = 0;
    for t in tails {
        for (l, (filled, spill)) in t.iter().enumerate() {
            put(pos + 4 * l, &((filled + spill.len()) as u32).to_le_bytes());
        }
        pos += HEAD;
        for (filled, spill) in t {
            for (k, w) in spill.iter().rev().enumerate() {
                put(pos + 2 * k, &w.to_le_bytes());
            }
            pos += 2 * (spill.len() + filled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words lane `l` of a block starting at row `r0` makes, in the order made: a length
    /// that differs much between lanes (so that some overflow their share of the room and move
    /// up, others move down) and pseudo-random words.
    fn made(r0: usize, l: usize, per_lane: usize) -> Vec<u16> {
        let seed = (r0 as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ l as u64;
        let mut bits = crate::util::test_rng::bits(seed);
        let len = 2 + per_lane * [1, 5, 0, 2, 1, 9, 1, 0, 3, 1, 1, 6, 0, 1, 2, 1][l] / 2;
        (0..len).map(|_| (bits() >> 29) as u16).collect()
    }

    /// `code_group` of blocks of `rows` rows each (lanes sharing the room by values, all
    /// equal), after a 3-byte prefix, in a payload of `room` spare bytes: the bytes
    /// `push_block` writes from each lane's words in decode order, whatever the room (ample,
    /// short of some lanes, short of the group: gathered), halves or not, on 1 to 3 threads.
    #[test]
    fn lanes_coded_in_the_room_are_the_lanes_pushed() {
        for (n_blocks, per_lane) in [(1usize, 0usize), (1, 300), (2, 40), (3, 1000), (4, 7)] {
            let blocks: Vec<GroupBlock> = (0..n_blocks)
                .map(|k| GroupBlock {
                    rows: 10 * k..10 * k + 10,
                    lane_values: [10; LANES],
                })
                .collect();
            let mut want = vec![9u8, 8, 7];
            for b in &blocks {
                let lanes: Vec<Vec<u16>> = (0..LANES)
                    .map(|l| made(b.rows.start, l, per_lane).into_iter().rev().collect())
                    .collect();
                lanes::push_block(&lanes, &mut want);
            }
            let size = want.len() - 3;
            for room in [
                0,
                1,
                63,
                size / 2,
                size - 1,
                size,
                size + 1,
                2 * size + 5,
                4 * size,
            ] {
                for (threads, halves) in [(1, false), (2, false), (2, true), (3, true)] {
                    let mut out = Vec::with_capacity(3 + room);
                    out.extend_from_slice(&[9, 8, 7]);
                    code_group(&mut out, &blocks, halves, threads, 1.0, |rows, ls, d| {
                        for l in ls {
                            let words = made(rows.start, l, per_lane);
                            // Runs of varying length, as the encoder's rows and runs give.
                            for run in words.chunks(1 + (l * 7 + rows.start) % 23) {
                                d[l].append(run);
                            }
                        }
                    });
                    assert!(
                        out == want,
                        "{n_blocks} blocks of {per_lane}, room {room}, {threads} threads, halves {halves}"
                    );
                }
            }
        }
    }

    /// A lane given no room keeps every word, in decode order.
    #[test]
    fn an_owned_lane_is_its_words_reversed() {
        let mut d = LaneDest::owned();
        for run in [&[1u16, 2, 3][..], &[], &[4, 5]] {
            d.append(run);
        }
        assert_eq!(d.into_vec(), [5, 4, 3, 2, 1]);
        let mut room = [MaybeUninit::new(0u16); 3];
        let mut d = LaneDest::in_room(&mut room, 3);
        d.append(&[1, 2]);
        d.append(&[3, 4, 5]);
        assert_eq!(d.into_vec(), [5, 4, 3, 2, 1]);
    }
}
