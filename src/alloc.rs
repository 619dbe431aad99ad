//! Fallible allocation for buffers whose size a caller or an upstream
//! controls: running out of memory there is an error the call returns
//! (`BodyTooLarge`), never an abort of the whole process.

use crate::error::{Error, ErrorKind, Result};

fn too_large(what: &str, len: usize) -> Error {
    Error::new(
        ErrorKind::BodyTooLarge,
        format!("{what} of {len} bytes is more than this process can hold"),
    )
}

/// A copy of `bytes`, or an error naming `what` when memory runs out.
pub fn try_copy(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut copy = Vec::new();
    try_extend(&mut copy, bytes, what)?;
    Ok(copy)
}

/// Appends `bytes` to `buf`, or fails (leaving `buf` as it was) when memory
/// runs out.
pub fn try_extend(buf: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<()> {
    buf.try_reserve(bytes.len())
        .map_err(|_| too_large(what, buf.len().saturating_add(bytes.len())))?;
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Room for `len` bytes in a new buffer, checked before anything reads
/// them (a length from C may be larger than any buffer behind it).
pub fn try_with_capacity(len: usize, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| too_large(what, len))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors() {
        let e = try_with_capacity(1 << 62, "the body").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BodyTooLarge);
        assert!(e.message.contains("the body"), "{}", e.message);
        assert_eq!(try_copy(b"abc", "x").unwrap(), b"abc");
        let mut buf = b"a".to_vec();
        try_extend(&mut buf, b"bc", "x").unwrap();
        assert_eq!(buf, b"abc");
    }
}
