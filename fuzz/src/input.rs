//! Reading a fuzz input as a stream of small decisions: every read succeeds,
//! with zeros once the input is used up, so any byte string is a valid input.

/// A cursor over the fuzz input.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// The next byte, or 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian u16 (zeros past the end).
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// Splits `data` into pieces whose sizes come from `sizes` (each byte a
/// size of 1 to 256; when `sizes` runs out, the rest is one piece). The same
/// bytes in other pieces must get the same answer everywhere in the core.
pub fn pieces<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter();
    while !rest.is_empty() {
        let n = sizes.next().map_or(rest.len(), |&s| usize::from(s) + 1);
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.u16(), 0x0201);
        assert_eq!(i.bytes(5), &[3]);
        assert_eq!(i.byte(), 0);
        assert!(i.is_empty());
    }

    #[test]
    fn pieces_cover_the_bytes_in_order() {
        let data: Vec<u8> = (0..20).collect();
        let p = pieces(&data, &[0, 2]);
        assert_eq!(p, [&data[..1], &data[1..4], &data[4..]]);
        assert_eq!(pieces(&[], &[1]), Vec::<&[u8]>::new());
    }
}
