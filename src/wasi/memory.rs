//! Guest memory access. Every pointer and length a guest passes goes through these checks:
//! an access that does not lie wholly inside memory is `EFAULT` (never a panic, never an
//! out-of-bounds access); integers are little-endian as in wasm.

#![forbid(unsafe_code)]

use crate::vfs::{Errno, Result};

/// Most iovecs one call may pass (Linux's `IOV_MAX`); more is `EINVAL`.
pub const MAX_IOVS: u32 = 1024;

/// A guest's linear memory.
pub trait GuestMemory {
    /// The checked byte range `[ptr, ptr + len)`.
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]>;
    /// The checked byte range `[ptr, ptr + len)`, writable.
    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]>;

    /// `EFAULT` unless `[ptr, ptr + len)` lies wholly in memory; reads nothing (a memory that
    /// copies what it hands out need not copy for a check).
    fn check(&self, ptr: u32, len: u32) -> Result<()> {
        self.slice(ptr, len).map(|_| ())
    }

    /// Copies `buf.len()` bytes at `ptr` into `buf`.
    fn read(&self, ptr: u32, buf: &mut [u8]) -> Result<()> {
        let len = u32::try_from(buf.len()).map_err(|_| Errno::Fault)?;
        buf.copy_from_slice(self.slice(ptr, len)?);
        Ok(())
    }

    /// Copies `data` to `ptr`.
    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(data);
        Ok(())
    }

    /// A little-endian `u32` at `ptr`.
    fn read_u32(&self, ptr: u32) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read(ptr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a byte at `ptr`.
    fn write_u8(&mut self, ptr: u32, v: u8) -> Result<()> {
        self.write(ptr, &[v])
    }

    /// Writes a little-endian `u16` at `ptr`.
    fn write_u16(&mut self, ptr: u32, v: u16) -> Result<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u32` at `ptr`.
    fn write_u32(&mut self, ptr: u32, v: u32) -> Result<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u64` at `ptr`.
    fn write_u64(&mut self, ptr: u32, v: u64) -> Result<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// A UTF-8 string argument (`EILSEQ` if it is not UTF-8).
    fn read_str(&self, ptr: u32, len: u32) -> Result<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::Ilseq)
    }

    /// An (c)iovec array: `count` pairs of (buf: u32, len: u32). Only the array itself is
    /// checked here (`EFAULT` if it leaves memory, then `EINVAL` beyond `MAX_IOVS`); callers
    /// check each buffer before using any of them.
    fn read_iovecs(&self, ptr: u32, count: u32) -> Result<Vec<(u32, u32)>> {
        let raw = self.slice(ptr, count.checked_mul(8).ok_or(Errno::Fault)?)?;
        if count > MAX_IOVS {
            return Err(Errno::Inval);
        }
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect())
    }
}

/// Guest memory over a plain byte slice: wasmer's memory during a call, or a test buffer.
pub struct SliceMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> SliceMemory<'a> {
    /// Guest memory over `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        SliceMemory { bytes }
    }
}

fn range(len: usize, ptr: u32, n: u32) -> Result<std::ops::Range<usize>> {
    let start = ptr as usize;
    let end = start.checked_add(n as usize).ok_or(Errno::Fault)?;
    if end > len {
        return Err(Errno::Fault);
    }
    Ok(start..end)
}

impl GuestMemory for SliceMemory<'_> {
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        Ok(&self.bytes[range(self.bytes.len(), ptr, len)?])
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        let r = range(self.bytes.len(), ptr, len)?;
        Ok(&mut self.bytes[r])
    }
}

impl GuestMemory for Vec<u8> {
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        Ok(&self[range(self.len(), ptr, len)?])
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        let r = range(self.len(), ptr, len)?;
        Ok(&mut self[r])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_exact() {
        let mut m = vec![0u8; 16];
        assert!(m.slice(16, 0).is_ok());
        assert!(m.slice(12, 4).is_ok());
        assert_eq!(m.slice(13, 4).err(), Some(Errno::Fault));
        assert_eq!(m.slice(17, 0).err(), Some(Errno::Fault));
        assert_eq!(m.slice(u32::MAX, 2).err(), Some(Errno::Fault));
        assert_eq!(m.write_u64(9, 1), Err(Errno::Fault));
        m.write_u32(4, 0x0403_0201).unwrap();
        assert_eq!(&m[4..8], &[1, 2, 3, 4]);
        assert_eq!(m.read_u32(4).unwrap(), 0x0403_0201);
        m[0] = 0xff;
        assert_eq!(m.read_str(0, 1).err(), Some(Errno::Ilseq));
        // An array outside memory is EFAULT whatever its count; a valid one that is too
        // long is EINVAL.
        assert_eq!(m.read_iovecs(0, MAX_IOVS + 1).err(), Some(Errno::Fault));
        assert_eq!(m.read_iovecs(0, 0x2000_0000).err(), Some(Errno::Fault));
        let big = vec![0u8; (MAX_IOVS as usize + 1) * 8];
        assert_eq!(big.read_iovecs(0, MAX_IOVS + 1).err(), Some(Errno::Inval));
        assert_eq!(m.read_iovecs(8, 2).err(), Some(Errno::Fault));
        assert_eq!(m.read_iovecs(4, 1).unwrap(), vec![(0x0403_0201, 0)]);
    }
}
