//! Range arithmetic shared by the blob stores.

use crate::blob::BlobError;

/// Checks `offset`/`len` against a blob of `size` bytes and returns the byte range
/// `[start, end)` to read.
pub(crate) fn checked_range(
    size: u64,
    offset: u64,
    len: Option<u64>,
) -> Result<(u64, u64), BlobError> {
    if offset > size {
        return Err(BlobError::InvalidRange);
    }
    let end = match len {
        None => size,
        Some(len) => {
            offset.checked_add(len).filter(|&end| end <= size).ok_or(BlobError::InvalidRange)?
        }
    };
    Ok((offset, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(size: u64, offset: u64, len: Option<u64>, expected: Option<(u64, u64)>) {
        let got = checked_range(size, offset, len).ok();
        assert_eq!(got, expected, "size {size} offset {offset} len {len:?}");
    }

    #[test]
    fn ranges() {
        check(10, 0, None, Some((0, 10)));
        check(10, 10, None, Some((10, 10)));
        check(10, 11, None, None);
        check(10, 3, Some(4), Some((3, 7)));
        check(10, 6, Some(4), Some((6, 10)));
        check(10, 7, Some(4), None);
        check(10, 10, Some(0), Some((10, 10)));
        check(10, 11, Some(0), None);
        check(0, 0, None, Some((0, 0)));
        check(0, 0, Some(1), None);
        check(10, 1, Some(u64::MAX), None);
    }
}
