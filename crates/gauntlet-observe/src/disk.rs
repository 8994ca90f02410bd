//! What is on a block device, read-only: file-system signatures, partition
//! tables and volume metadata in its first mebibyte — what a destructive
//! stage must not overwrite unless an operator said so. The signatures
//! are those `blkid` and `wipefs` look for, at the same offsets; parsing
//! ([`signatures`]) is separate from reading ([`probe_device`]).

use std::fmt;
use std::io::Read;
use std::path::Path;

/// How much of a device is read: every signature below lies inside it.
pub const PROBE_BYTES: usize = 1 << 20;

/// Something found on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `ext4`, `xfs`, `gpt`, `dos`, `LVM2_member`, ... (blkid's words).
    pub kind: &'static str,
    /// What it is: a file system, a partition table, volume metadata.
    pub class: SignatureClass,
    /// Where on the device, bytes.
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureClass {
    FileSystem,
    PartitionTable,
    /// LVM, RAID, encryption: data that lives below a file system.
    VolumeMetadata,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.class {
            SignatureClass::FileSystem => "signature",
            SignatureClass::PartitionTable => "partition table",
            SignatureClass::VolumeMetadata => "metadata",
        };
        write!(f, "{} {what} at offset {:#x}", self.kind, self.offset)
    }
}

/// Reads the first [`PROBE_BYTES`] of `path` (opened read-only; nothing is
/// written) and looks for signatures.
pub fn probe_device(path: &Path) -> std::io::Result<Vec<Signature>> {
    let mut head = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(path)?
        .take(PROBE_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(signatures(&head))
}

fn at(head: &[u8], offset: usize, magic: &[u8]) -> bool {
    head.get(offset..offset + magic.len()) == Some(magic)
}

fn le32(head: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        head.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

/// The signatures in a device's first bytes, in the order of their offsets.
pub fn signatures(head: &[u8]) -> Vec<Signature> {
    let mut found = Vec::new();
    let mut add = |kind, class, offset: usize| {
        found.push(Signature {
            kind,
            class,
            offset: offset as u64,
        })
    };
    use SignatureClass::*;

    // Partition tables. GPT's header is in LBA 1 (512- or 4096-byte sectors).
    let gpt = [512, 4096].into_iter().find(|&o| at(head, o, b"EFI PART"));
    if let Some(o) = gpt {
        add("gpt", PartitionTable, o);
    }
    let boot_signature = at(head, 510, &[0x55, 0xAA]);
    let fat =
        at(head, 0x36, b"FAT12   ") || at(head, 0x36, b"FAT16   ") || at(head, 0x52, b"FAT32   ");
    let ntfs = at(head, 3, b"NTFS    ");
    let exfat = at(head, 3, b"EXFAT   ");
    if boot_signature && gpt.is_none() && !fat && !ntfs && !exfat {
        // A DOS table has an entry with a type, and boot flags 0 or 0x80.
        let entries = (0..4).map(|i| 446 + 16 * i);
        let valid = entries.clone().all(|e| matches!(head[e], 0x00 | 0x80));
        if valid && entries.clone().any(|e| head[e + 4] != 0) {
            add("dos", PartitionTable, 0);
        }
    }

    // File systems.
    if fat {
        add("vfat", FileSystem, 0);
    }
    if ntfs {
        add("ntfs", FileSystem, 3);
    }
    if exfat {
        add("exfat", FileSystem, 3);
    }
    if at(head, 0, b"XFSB") {
        add("xfs", FileSystem, 0);
    }
    if at(head, 0, b"hsqs") {
        add("squashfs", FileSystem, 0);
    }
    if at(head, 1024 + 0x38, &[0x53, 0xEF]) {
        add(ext_kind(head), FileSystem, 1024 + 0x38);
    }
    if le32(head, 1024) == Some(0xF2F5_2010) {
        add("f2fs", FileSystem, 1024);
    }
    if at(head, 0x8001, b"CD001") {
        add("iso9660", FileSystem, 0x8001);
    }
    if at(head, 0x10040, b"_BHRfS_M") {
        add("btrfs", FileSystem, 0x10040);
    }
    for page in [4096usize, 8192, 16384, 65536] {
        if at(head, page - 10, b"SWAPSPACE2") || at(head, page - 10, b"SWAP-SPACE") {
            add("swap", FileSystem, page - 10);
            break;
        }
    }

    // Volume metadata.
    if let Some(sector) = (0..4).find(|s| at(head, s * 512, b"LABELONE")) {
        let o = sector * 512;
        let kind = if at(head, o + 24, b"LVM2 001") {
            "LVM2_member"
        } else {
            "LVM1_member"
        };
        add(kind, VolumeMetadata, o);
    }
    if at(head, 0, b"LUKS\xba\xbe") {
        add("crypto_LUKS", VolumeMetadata, 0);
    }
    // md superblocks 1.1 (offset 0) and 1.2 (4 KiB); 0.90 and 1.0 are at
    // the device's end, beyond a head probe.
    for o in [0usize, 4096] {
        if le32(head, o) == Some(0xA92B_4EFC) {
            add("linux_raid_member", VolumeMetadata, o);
        }
    }
    found.sort_by_key(|s| s.offset);
    found
}

/// ext2, ext3 or ext4, as blkid tells them: by the superblock's features.
fn ext_kind(head: &[u8]) -> &'static str {
    let sb = 1024;
    let compat = le32(head, sb + 0x5C).unwrap_or(0);
    let incompat = le32(head, sb + 0x60).unwrap_or(0);
    const HAS_JOURNAL: u32 = 0x4;
    // Extents, 64-bit, flex_bg, ...: anything ext3 does not know.
    const EXT3_INCOMPAT: u32 = 0x0002 | 0x0004 | 0x0010;
    if incompat & !EXT3_INCOMPAT != 0 {
        "ext4"
    } else if compat & HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_hold_nothing() {
        assert!(signatures(&vec![0; PROBE_BYTES]).is_empty());
        assert!(signatures(&[]).is_empty());
    }

    #[test]
    fn random_data_is_not_a_signature() {
        // Bytes from a seeded generator: no magic by accident.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let head: Vec<u8> = (0..PROBE_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(signatures(&head).is_empty(), "{:?}", signatures(&head));
    }

    #[test]
    fn a_dos_table_needs_a_typed_entry() {
        let mut head = vec![0; 4096];
        head[510] = 0x55;
        head[511] = 0xAA;
        assert!(signatures(&head).is_empty(), "an empty table is no table");
        head[446 + 4] = 0x83;
        assert_eq!(signatures(&head)[0].kind, "dos");
    }
}
