//! Checked bytes: payloads drawn from a seeded generator, so either end can make the same bytes
//! again and any byte a proxy loses, adds or reorders shows up as a difference.

/// SplitMix64: tiny, fast and well mixed; the soak needs bytes no relay bug reproduces by chance,
/// not cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// `len` bytes made from `seed`: the same on both ends of a tunnel.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    Rng::new(seed).fill(&mut bytes);
    bytes
}

/// A payload size from 1 byte to `max`, uniform in its logarithm: mostly small transfers, as on
/// the web, and now and then one large enough to fill every buffer on the way.
pub fn size(rng: &mut Rng, max: usize) -> usize {
    let bits = usize::BITS - max.leading_zeros();
    let top = 1usize << rng.below(u64::from(bits));
    (top + rng.below(top as u64) as usize).clamp(1, max)
}

/// Where `got` first differs from `want`, if it does (a shorter `got` differs where it ends).
pub fn first_difference(want: &[u8], got: &[u8]) -> Option<usize> {
    if want == got {
        return None;
    }
    Some(
        want.iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_repeat_and_differ() {
        assert_eq!(payload(7, 100), payload(7, 100));
        assert_ne!(payload(7, 100), payload(8, 100));
        assert_eq!(payload(7, 13).len(), 13);
    }

    #[test]
    fn sizes_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let n = size(&mut rng, 1 << 20);
            assert!((1..=1 << 20).contains(&n), "{n}");
        }
    }

    #[test]
    fn differences() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
    }
}
