//! Kind-5 lane words coded straight into the payload's spare room (compress peak memory,
//! issue 12, target 4).
//!
//! A block's sixteen lane streams must be whole before the block can be laid out (its word
//! counts come first), so each lane's words were held in a vector of their own beside the
//! payload, whose reserved room was waiting for them: the same bytes twice (0.11 × the input
//! for a block of the MiniLM intermediate weight in max-abs mode). Here each lane is given a
//! room in the payload's spare capacity (the group's blocks share all of it, each lane by its
//! count of values) and fills it from the end backwards: the encoder makes a lane's words last
//! word first, so the room's tail is the lane in decode order. Once the group is coded, the
//! lanes are moved down to their places after the word counts; what overflowed a room (a
//! lane with more words than its share, or a payload larger than its estimate) was kept in a
//! vector and is written in front of the lane's room words. Only if the group's blocks do not
//! fit in the spare capacity are they gathered into vectors and appended as before. The same
//! bytes either way.

use super::lanes::{self, LANES};
use std::mem::MaybeUninit;
use std::ops::Range;

/// Bytes of a block's word counts (16 × u32), written in front of its lanes.
const HEAD: usize = 4 * LANES;

/// Where one lane's words go as the encoder makes them (last word of the stream first).
pub(crate) struct LaneDest<'a> {
    /// Filled from the end: `room[room.len() − filled..]` are the first `filled` words made,
    /// in decode order, as little-endian `u16`s.
    room: &'a mut [MaybeUninit<u16>],
    filled: usize,
    /// The words made after the room was full, in the order made.
    spill: Vec<u16>,
    /// What the spill is first made room for: the lane's expected words beyond the room.
    spill_hint: usize,
}

impl<'a> LaneDest<'a> {
    /// A lane with no room: every word goes to a vector first made for `words` words.
    pub(crate) fn owned(words: usize) -> LaneDest<'static> {
        LaneDest {
            room: &mut [],
            filled: 0,
            spill: Vec::with_capacity(words),
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

    /// Appends the words `run` (in the order made).
    #[inline]
    pub(crate) fn append(&mut self, run: &[u16]) {
        let free = self.room.len() - self.filled;
        let k = run.len().min(free);
        for (d, &w) in self.room[free - k..free].iter_mut().rev().zip(run) {
            d.write(w.to_le());
        }
        self.filled += k;
        if k < run.len() {
            self.spill_more(&run[k..]);
        }
    }

    #[cold]
    fn spill_more(&mut self, run: &[u16]) {
        if self.spill.capacity() == 0 {
            self.spill.reserve_exact(self.spill_hint + self.spill_hint / 64 + 64);
        }
        lanes::append_words(&mut self.spill, run);
    }

    /// The lane's words in decode order.
    pub(crate) fn into_vec(self) -> Vec<u16> {
        let LaneDest {
            room,
            filled,
            mut spill,
            ..
        } = self;
        spill.reverse();
        let at = room.len() - filled;
        // SAFETY: `append` wrote every word of `room[at..]` (little-endian `u16`s).
        spill.extend(room[at..].iter().map(|w| u16::from_le(unsafe { w.assume_init() })));
        spill
    }

    /// What is left once the room's borrow ends: the words in the room and the spill.
    fn into_tail(self) -> (usize, Vec<u16>) {
        (self.filled, self.spill)
    }
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
    // Per block and lane: the word offset (in `rooms`) of the end of its room.
    let mut ends = Vec::with_capacity(blocks.len());
    let mut items = Vec::with_capacity(2 * blocks.len());
    let mut at = 0;
    for (k, b) in blocks.iter().enumerate() {
        let skip = (HEAD / 2).min(rest.len());
        rest = &mut std::mem::take(&mut rest)[skip..];
        at += skip;
        let mut dests = Vec::with_capacity(LANES);
        let mut end = [0usize; LANES];
        for (l, &v) in b.lane_values.iter().enumerate() {
            let share = (room_words as u128 * v as u128 / values.max(1) as u128) as usize;
            let (room, tail) = std::mem::take(&mut rest).split_at_mut(share);
            rest = tail;
            at += share;
            end[l] = at;
            dests.push(LaneDest::in_room(room, expected(v)));
        }
        ends.push(end);
        if halves {
            let high = dests.split_off(lanes::HIGH_LANES.start);
            let pad = || (0..LANES / 2).map(|_| LaneDest::owned(0));
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
            code(blocks[it.block].rows.clone(), it.lanes.clone(), &mut it.dests);
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
    let total: usize = tails
        .iter()
        .map(|t| HEAD + t.iter().map(|(f, s)| 2 * (f + s.len())).sum::<usize>())
        .sum();
    let spare = out.spare_capacity_mut();
    if total > spare.len() {
        // The payload outgrew its room: the blocks gathered and appended as before.
        let gathered: Vec<Vec<Vec<u16>>> = tails
            .into_iter()
            .zip(&ends)
            .map(|(t, end)| {
                t.into_iter()
                    .zip(end)
                    .map(|((filled, spill), &e)| gather(spare, pre + 2 * e, filled, spill))
                    .collect()
            })
            .collect();
        let bytes: usize = gathered.iter().flatten().map(|w| 4 + 2 * w.len()).sum();
        out.reserve_exact(bytes);
        lanes::push_blocks(&gathered, out, threads);
        return;
    }
    // Each lane's room words (bytes from, length, bytes to, all in `spare`), in layout order.
    let mut moves = Vec::with_capacity(LANES * blocks.len());
    let mut pos = 0;
    for (t, end) in tails.iter().zip(&ends) {
        pos += HEAD;
        for ((filled, spill), &e) in t.iter().zip(end) {
            let to = pos + 2 * spill.len();
            moves.push((pre + 2 * (e - filled), 2 * filled, to));
            pos = to + 2 * filled;
        }
    }
    debug_assert_eq!(pos, total);
    // The layout keeps the lanes' order, so the lanes moving down are moved first to last and
    // then those moving up last to first: neither overwrites words not yet moved.
    for &(from, len, to) in moves.iter().filter(|m| m.2 <= m.0) {
        spare.copy_within(from..from + len, to);
    }
    for &(from, len, to) in moves.iter().rev().filter(|m| m.2 > m.0) {
        spare.copy_within(from..from + len, to);
    }
    // Then what is not moved: each block's word counts and the spills in front of the lanes.
    let mut pos = 0;
    for t in &tails {
        for (l, (filled, spill)) in t.iter().enumerate() {
            let count = (filled + spill.len()) as u32;
            put(&mut spare[pos + 4 * l..], &count.to_le_bytes());
        }
        pos += HEAD;
        for (filled, spill) in t {
            for (k, w) in spill.iter().rev().enumerate() {
                put(&mut spare[pos + 2 * k..], &w.to_le_bytes());
            }
            pos += 2 * (spill.len() + filled);
        }
    }
    let len = out.len();
    // SAFETY: the `total` bytes after `len` are each block's word counts, then per lane its
    // spill and its room words moved after it, all written above (`pos` reached `total`).
    unsafe { out.set_len(len + total) };
}

/// `bytes` into the front of `dst`.
fn put(dst: &mut [MaybeUninit<u8>], bytes: &[u8]) {
    for (d, &b) in dst.iter_mut().zip(bytes) {
        d.write(b);
    }
}

/// A lane's words in decode order: its spill reversed, then the `filled` words of its room,
/// which ends at byte `end` of `spare`.
fn gather(spare: &[MaybeUninit<u8>], end: usize, filled: usize, mut spill: Vec<u16>) -> Vec<u16> {
    spill.reverse();
    spill.reserve_exact(filled);
    for w in spare[end - 2 * filled..end].chunks_exact(2) {
        // SAFETY: the room's last `filled` words were written by `LaneDest::append`.
        spill.push(u16::from_le_bytes(unsafe { [w[0].assume_init(), w[1].assume_init()] }));
    }
    spill
}
