//! Any bytes → an exchange's message readers (`message_len`, `accumulate`, `decode_shard`): a
//! typed error or values, never a panic. The CRC of a message whose length parses is
//! recomputed first, so mutations reach the compact body behind it.
#![no_main]
use alcm::collective::{message_len, ShardedExchange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let mut fixed = raw.to_vec();
    if let Ok(n) = message_len(&fixed) {
        if n >= 5 {
            // The CRC covers everything after the length prefix.
            let start = (0..n).find(|&i| fixed[i] & 0x80 == 0).map_or(n, |i| i + 1);
            if start + 4 <= n {
                let crc = crc32fast::hash(&fixed[start..n - 4]);
                fixed[n - 4..n].copy_from_slice(&crc.to_le_bytes());
            }
        }
        fixed.truncate(n);
    }
    // Rank 0 of 2 over a [64, 40] tensor: both shards are [32, 40].
    let mut ex = ShardedExchange::new(&[64, 40], 2, 0).unwrap();
    let mut acc = vec![0.0f32; 32 * 40];
    let _ = ex.accumulate(&fixed, 0.5, &mut acc);
    let mut out = vec![0.0f32; 64 * 40];
    let _ = ex.decode_shard(&fixed, 1, &mut out);
});
