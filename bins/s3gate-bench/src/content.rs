//! Deterministic benchmark payloads: every byte is a function of a seed and its offset, so a
//! reader can check any range it gets back without keeping the data in memory.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use md5::{Digest as _, Md5};

/// One 64-bit word of the stream `seed` (SplitMix64 over the word index).
fn word(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with the bytes of stream `seed` starting at byte `offset`.
pub(crate) fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = 0;
    let mut at = offset;
    while pos < buf.len() {
        let bytes = word(seed, at / 8).to_le_bytes();
        let start = usize::try_from(at % 8).unwrap_or(0);
        let n = (8 - start).min(buf.len() - pos);
        buf[pos..pos + n].copy_from_slice(&bytes[start..start + n]);
        pos += n;
        at += n as u64;
    }
}

/// The first `len` bytes of stream `seed`.
pub(crate) fn generate(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill(seed, 0, &mut v);
    v
}

/// The S3 ETag (quoted hex MD5) of a single-part object.
pub(crate) fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(data)))
}

/// CRC-64/NVME of `data` in one call (the streaming form checks large downloads).
#[cfg(test)]
pub(crate) fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data)
}

/// A large generated file on disk plus everything needed to check what comes back.
pub(crate) struct LargeFile {
    /// Where the file lives.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) len: u64,
    /// The multipart part size the part MD5s were computed for.
    pub(crate) part_size: u64,
    /// Quoted hex MD5 of the whole file (the single-part ETag).
    pub(crate) etag: String,
    /// Raw MD5 of each part, in order.
    pub(crate) part_md5s: Vec<[u8; 16]>,
    /// CRC-64/NVME of the whole file.
    pub(crate) crc64: u64,
    file: File,
}

impl LargeFile {
    /// Writes `len` bytes of stream `seed` to `path`, hashing as it goes.
    pub(crate) fn create(path: &Path, seed: u64, len: u64, part_size: u64) -> anyhow::Result<Self> {
        const BLOCK: u64 = 4 << 20;
        if !part_size.is_multiple_of(BLOCK) {
            bail!("part size must be a multiple of 4 MiB");
        }
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        let mut whole = Md5::new();
        let mut part = Md5::new();
        let mut part_md5s = Vec::new();
        let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        let mut buf = vec![0u8; usize::try_from(BLOCK)?];
        let mut off = 0;
        while off < len {
            let n = usize::try_from(BLOCK.min(len - off))?;
            fill(seed, off, &mut buf[..n]);
            whole.update(&buf[..n]);
            part.update(&buf[..n]);
            crc.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            off += n as u64;
            if off.is_multiple_of(part_size) || off == len {
                part_md5s.push(part.finalize_reset().into());
            }
        }
        out.flush()?;
        drop(out);
        let file = File::open(path)?;
        Ok(Self {
            path: path.to_owned(),
            len,
            part_size,
            etag: format!("\"{}\"", hex::encode(whole.finalize())),
            part_md5s,
            crc64: crc.finalize(),
            file,
        })
    }

    /// The ETag S3 gives the multipart object built from this file's parts.
    pub(crate) fn multipart_etag(&self) -> String {
        let mut h = Md5::new();
        for p in &self.part_md5s {
            h.update(p);
        }
        format!("\"{}-{}\"", hex::encode(h.finalize()), self.part_md5s.len())
    }

    /// Reads `buf.len()` bytes at `offset` (from the page cache, in practice).
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        self.file.read_exact_at(buf, offset).context("reading the generated file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_at_any_offset_matches_the_stream() {
        let whole = generate(7, 1000);
        for (off, len) in [(0, 1), (3, 17), (8, 8), (13, 500), (999, 1)] {
            let mut part = vec![0; len];
            fill(7, off as u64, &mut part);
            assert_eq!(part, whole[off..off + len], "offset {off} len {len}");
        }
        assert_ne!(generate(8, 64), whole[..64]);
    }

    #[test]
    fn large_file_hashes_match_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let part = 4 << 20;
        let len = 2 * part + 12345;
        let f = LargeFile::create(&dir.path().join("f"), 3, len, part).unwrap();
        let data = std::fs::read(&f.path).unwrap();
        assert_eq!(data, generate(3, usize::try_from(len).unwrap()));
        assert_eq!(f.etag, etag_of(&data));
        assert_eq!(f.crc64, crc64(&data));
        assert_eq!(f.part_md5s.len(), 3);
        let p0: [u8; 16] = Md5::digest(&data[..4 << 20]).into();
        assert_eq!(f.part_md5s[0], p0);
        let mut got = vec![0; 100];
        f.read_at(part + 5, &mut got).unwrap();
        assert_eq!(got, data[(4 << 20) + 5..(4 << 20) + 105]);
        assert!(f.multipart_etag().ends_with("-3\""));
    }
}
