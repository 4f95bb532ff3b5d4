//! Byte comparison for the SDK's hot paths. Inside a policy, `==` on
//! strings calls wasi-libc's `memcmp`, which compares a byte at a time; this
//! compares eight at a time, and is the same thing natively.

/// `a == b`, eight bytes at a time.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (wa.remainder(), wb.remainder());
    wa.zip(wb).all(|(x, y)| word(x) == word(y)) && ra.iter().zip(rb).all(|(x, y)| x == y)
}

/// `bytes.is_ascii()`, 32 bytes at a time (core's is a byte or a word at a
/// time inside a policy; a batch's text is tens of kilobytes).
pub(crate) fn ascii(bytes: &[u8]) -> bool {
    let blocks = bytes.chunks_exact(32);
    let rest = blocks.remainder().iter().fold(0u8, |acc, &b| acc | b);
    let high = blocks.fold(0u64, |acc, c| acc | word(&c[..8]) | word(&c[8..16]) | word(&c[16..24]) | word(&c[24..]));
    (high & 0x8080_8080_8080_8080) == 0 && rest < 0x80
}

fn word(chunk: &[u8]) -> u64 {
    u64::from_ne_bytes(chunk.try_into().expect("chunks of eight"))
}

#[cfg(test)]
mod tests {
    use super::{ascii, same};

    #[test]
    fn ascii_is_core_is_ascii() {
        for n in [0, 1, 7, 31, 32, 33, 64, 100] {
            let text = "a".repeat(n);
            assert!(ascii(text.as_bytes()), "{n}");
            for at in 0..n {
                let mut bytes = text.clone().into_bytes();
                bytes[at] = 0x80 | (at as u8);
                assert!(!ascii(&bytes), "{n} {at}");
            }
        }
    }

    #[test]
    fn same_is_byte_equality() {
        let texts = ["", "a", "b", "gw-4000", "gw-4001", "gw-40000", "gw-4000-rev-b2-long", "gw-4000-rev-b3-long"];
        for a in texts {
            for b in texts {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
        let long = "x".repeat(1000);
        let mut other = long.clone().into_bytes();
        other[999] = b'y';
        assert!(same(long.as_bytes(), long.clone().as_bytes()));
        assert!(!same(long.as_bytes(), &other));
    }
}
