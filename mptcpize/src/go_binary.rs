//! The Go toolchain version a Go executable was built with, read from its build information
//! (what `go version FILE` prints), so that `mptcpize run` can tell whether the program opens
//! MPTCP sockets itself under `GODEBUG=multipathtcp=1` (Go 1.21 and later).
//!
//! Go programs make the `socket` system call themselves, so the `LD_PRELOAD` shim never sees
//! it; a statically linked Go program ignores `LD_PRELOAD` altogether. A Go 1.21+ program
//! needs neither the shim nor seccomp mode: the environment variable the launcher sets is
//! enough. Older Go, and any file whose version cannot be read, keep seccomp mode.
//!
//! The format is the one Go's `debug/buildinfo` reads. The linker writes a 32-byte header at
//! a 16-byte boundary, in an ELF section of its own (`.go.buildinfo`) or near the start of
//! the first writable, non-executable `PT_LOAD` segment (where the section headers were
//! stripped): the 14 bytes `"\xff Go buildinf:"`, the pointer size, and a flags byte. With
//! flag 2 (Go 1.18 and later) the version follows the header as a string prefixed by its
//! length (an unsigned LEB128 varint); without it, the header holds the virtual address of
//! a Go string header (data pointer, length) for the version, in the flag-1 byte order.

use std::fs::File;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::read::{FileKind, ReadCache, ReadRef};
use object::Endianness;

/// The first 14 bytes of the build information header.
const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// The header's size and alignment (`cmd/link`'s `buildinfo` symbol).
const HEADER_LEN: usize = 32;
const HEADER_ALIGN: usize = 16;
/// Flags byte: big-endian pointers (old format).
const FLAG_BIG_ENDIAN: u8 = 1;
/// Flags byte: the strings follow the header inline (Go 1.18 and later).
const FLAG_INLINE_STRINGS: u8 = 2;
/// How much of a data segment is searched for the header, as Go's `debug/buildinfo` does.
const SEARCH_LEN: u64 = 64 * 1024;
/// A version string longer than this is not one.
const MAX_VERSION_LEN: u64 = 256;

/// The first Go release whose `net` package honours `GODEBUG=multipathtcp=1` (Go 1.21 added
/// MPTCP support to `net`, opt-in through that setting or `Dialer.SetMultipathTCP`).
pub const FIRST_WITH_MULTIPATHTCP: (u32, u32) = (1, 21);

/// What the build information of a Go executable says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoBuild {
    /// The toolchain version exactly as recorded (`runtime.Version()`): `go1.27.3`,
    /// `go1.22.1 X:boringcrypto`, `devel go1.24-abcdef01 Tue …`.
    pub version: String,
}

impl GoBuild {
    /// Reads the build information of the executable at `path`. `None` when the file cannot
    /// be read, is not ELF, or has no Go build information (not a Go program, a Go older
    /// than 1.13, a damaged file): the caller then keeps its default.
    pub fn read(path: &Path) -> Option<GoBuild> {
        // Only the headers and the few bytes of the build information are read, not the
        // whole (often tens of megabytes) executable.
        let cache = ReadCache::new(File::open(path).ok()?);
        GoBuild::parse(&cache)
    }

    /// [`GoBuild::read`] on an executable already in memory (or any [`ReadRef`]).
    pub fn parse<'data, R: ReadRef<'data>>(data: R) -> Option<GoBuild> {
        let version = match FileKind::parse(data).ok()? {
            FileKind::Elf32 => version_in_elf::<elf::FileHeader32<Endianness>, R>(data),
            FileKind::Elf64 => version_in_elf::<elf::FileHeader64<Endianness>, R>(data),
            _ => None,
        }?;
        Some(GoBuild { version })
    }

    /// The release as (major, minor): `(1, 27)` for `go1.27.3`, `go1.27rc1` and
    /// `devel go1.27-abcdef01 …`. `None` for a version without a release number (an old
    /// development build, `devel +abcdef01 …`).
    pub fn release(&self) -> Option<(u32, u32)> {
        parse_release(&self.version)
    }

    /// True when the program's `net` package opens MPTCP sockets under
    /// `GODEBUG=multipathtcp=1`: Go 1.21 or later. False when the release is unknown.
    pub fn honours_godebug_multipathtcp(&self) -> bool {
        self.release()
            .is_some_and(|release| release >= FIRST_WITH_MULTIPATHTCP)
    }
}

/// `(major, minor)` from a Go version string (see [`GoBuild::release`]).
fn parse_release(version: &str) -> Option<(u32, u32)> {
    let word = version
        .split_whitespace()
        .find(|word| word.starts_with("go"))?;
    let (major, rest) = leading_number(word.strip_prefix("go")?)?;
    // `go2` would have no minor number; a `.` must be followed by one.
    let minor = match rest.strip_prefix('.') {
        Some(rest) => leading_number(rest)?.0,
        None => 0,
    };
    Some((major, minor))
}

/// The decimal number at the start of `s`, and what follows it.
fn leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// The version recorded in an ELF executable of class `Elf`.
fn version_in_elf<'data, Elf, R>(data: R) -> Option<String>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segments = header.program_headers(endian, data).ok()?;
    // Up to `len` bytes of the file at virtual address `address` (within one segment's
    // file contents; `None` for an unmapped address).
    let read_at = |address: u64, len: u64| -> Option<&'data [u8]> {
        segments.iter().find_map(|segment| {
            let start: u64 = segment.p_vaddr(endian).into();
            let file_len: u64 = segment.p_filesz(endian).into();
            let skip = address.checked_sub(start)?;
            if segment.p_type(endian) != elf::PT_LOAD || skip >= file_len {
                return None;
            }
            let offset = Into::<u64>::into(segment.p_offset(endian)).checked_add(skip)?;
            data.read_bytes_at(offset, len.min(file_len - skip)).ok()
        })
    };
    // Where the header is: its own section (Go's linker has written one since Go 1.13, the
    // first release with build information), or, in a file whose section headers were
    // stripped, near the start of the data segment. A file with section headers but without
    // that section is not a Go program: its data segment is not searched.
    let sections = header.section_headers(endian, data).ok()?;
    let (start, len) = if sections.is_empty() {
        segments
            .iter()
            .find(|segment| {
                segment.p_type(endian) == elf::PT_LOAD
                    && segment.p_flags(endian) & (elf::PF_X | elf::PF_W) == elf::PF_W
            })
            .map(|segment| (segment.p_vaddr(endian).into(), SEARCH_LEN))?
    } else {
        // The section names in one read (object's string table would read them one by one).
        let names = sections
            .get(usize::try_from(header.shstrndx(endian, data).ok()?).ok()?)?
            .data(endian, data)
            .ok()?;
        let section = sections.iter().find(|section| {
            let name = usize::try_from(section.sh_name(endian)).unwrap_or(usize::MAX);
            names
                .get(name..)
                .is_some_and(|rest| rest.starts_with(b".go.buildinfo\0"))
        })?;
        let size: u64 = section.sh_size(endian).into();
        (section.sh_addr(endian).into(), size.min(SEARCH_LEN))
    };
    let window = read_at(start, len)?;
    version_in_blob(window, read_at)
}

/// Finds the build information header in `window` (at a 16-byte boundary, as the linker
/// aligns it) and returns the version it records. `read_at(address, len)` reads up to
/// `len` bytes at a virtual address, for the old, pointer-based format.
fn version_in_blob<'m>(
    window: &[u8],
    read_at: impl Fn(u64, u64) -> Option<&'m [u8]>,
) -> Option<String> {
    let blob = (0..window.len())
        .step_by(HEADER_ALIGN)
        .map(|at| &window[at..])
        .find(|rest| rest.len() >= HEADER_LEN && rest.starts_with(MAGIC))?;
    let pointer_size = usize::from(blob[14]);
    let flags = blob[15];
    let bytes = if flags & FLAG_INLINE_STRINGS != 0 {
        let (len, used) = read_uvarint(&blob[HEADER_LEN..])?;
        let start = HEADER_LEN + used;
        let len = usize::try_from(len).ok()?;
        blob.get(start..start.checked_add(len)?)?.to_vec()
    } else {
        let big_endian = flags & FLAG_BIG_ENDIAN != 0;
        let read_pointer = |bytes: &[u8]| -> Option<u64> {
            match pointer_size {
                4 => {
                    let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
                    Some(u64::from(if big_endian {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    }))
                }
                8 => {
                    let b: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
                    Some(if big_endian {
                        u64::from_be_bytes(b)
                    } else {
                        u64::from_le_bytes(b)
                    })
                }
                _ => None,
            }
        };
        // The header holds the address of `runtime.buildVersion`, a Go string header:
        // the address of the bytes, then their length.
        let string_header_at = read_pointer(&blob[16..])?;
        let string_header = read_at(string_header_at, 2 * pointer_size as u64)?;
        let data_at = read_pointer(string_header)?;
        let len = read_pointer(string_header.get(pointer_size..)?)?;
        if len > MAX_VERSION_LEN {
            return None;
        }
        let bytes = read_at(data_at, len)?;
        if bytes.len() as u64 != len {
            return None;
        }
        bytes.to_vec()
    };
    let version = String::from_utf8(bytes).ok()?;
    (!version.is_empty() && version.len() as u64 <= MAX_VERSION_LEN).then_some(version)
}

/// An unsigned LEB128 varint (Go's `binary.Uvarint`): the value and how many bytes it used.
fn read_uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return None; // more than 64 bits
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(version: &str) -> GoBuild {
        GoBuild {
            version: version.to_owned(),
        }
    }

    #[test]
    fn releases_from_version_strings() {
        // Version, release, honours GODEBUG=multipathtcp.
        type Case = (&'static str, Option<(u32, u32)>, bool);
        let cases: &[Case] = &[
            ("go1.27.3", Some((1, 27)), true),
            ("go1.21.0", Some((1, 21)), true),
            ("go1.21rc2", Some((1, 21)), true),
            ("go1.21", Some((1, 21)), true),
            ("go1.20.14", Some((1, 20)), false),
            ("go1.20", Some((1, 20)), false),
            ("go1.9", Some((1, 9)), false),
            ("go1.22.1 X:boringcrypto", Some((1, 22)), true),
            (
                "devel go1.24-fba83cdfc6 Mon Jan 1 00:00:00 2024 +0000",
                Some((1, 24)),
                true,
            ),
            ("devel +b7a85e0003 Tue Aug 10 2021", None, false),
            ("go2", Some((2, 0)), true),
            ("go", None, false),
            ("gox1.30", None, false),
            ("", None, false),
            ("go1.99999999999999999999", None, false),
        ];
        for &(version, release, honours) in cases {
            assert_eq!(build(version).release(), release, "{version}");
            assert_eq!(
                build(version).honours_godebug_multipathtcp(),
                honours,
                "{version}"
            );
        }
    }

    #[test]
    fn uvarints() {
        assert_eq!(read_uvarint(&[0x08]), Some((8, 1)));
        assert_eq!(read_uvarint(&[0xad, 0x01]), Some((173, 2)));
        assert_eq!(read_uvarint(&[0x80]), None);
        assert_eq!(read_uvarint(&[]), None);
        assert_eq!(read_uvarint(&[0xff; 10]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_uvarint(&max), Some((u64::MAX, 10)));
    }

    /// A Go 1.18+ header with the version inline, at `pad` bytes into the window.
    fn inline_blob(pad: usize, version: &[u8]) -> Vec<u8> {
        let mut window = vec![0u8; pad];
        window.extend_from_slice(MAGIC);
        window.extend_from_slice(&[8, FLAG_INLINE_STRINGS]);
        window.resize(pad + HEADER_LEN, 0);
        window.push(version.len() as u8);
        window.extend_from_slice(version);
        window.extend_from_slice(&[0x00, 0xff]);
        window
    }

    fn no_memory<'a>(_: u64, _: u64) -> Option<&'a [u8]> {
        None
    }

    #[test]
    fn inline_format() {
        let window = inline_blob(0, b"go1.27.3");
        assert_eq!(
            version_in_blob(&window, no_memory).as_deref(),
            Some("go1.27.3")
        );
        // Found at a later 16-byte boundary, not at an unaligned one.
        let window = inline_blob(48, b"go1.21.0");
        assert_eq!(
            version_in_blob(&window, no_memory).as_deref(),
            Some("go1.21.0")
        );
        let window = inline_blob(8, b"go1.21.0");
        assert_eq!(version_in_blob(&window, no_memory), None);
        // A length running past the end, a header cut short, an empty version.
        let mut window = inline_blob(0, b"go1.27.3");
        window[HEADER_LEN] = 200;
        assert_eq!(version_in_blob(&window, no_memory), None);
        let window = inline_blob(0, b"go1.27.3");
        for cut in 0..HEADER_LEN + 9 {
            assert_eq!(version_in_blob(&window[..cut], no_memory), None, "{cut}");
        }
        assert_eq!(
            version_in_blob(&inline_blob(0, b""), no_memory),
            None,
            "empty"
        );
        assert_eq!(version_in_blob(&inline_blob(0, b"\xffgo"), no_memory), None);
    }

    #[test]
    fn pointer_format() {
        // Memory: the string header at 0x1000, the bytes at 0x2000 (little-endian, 64-bit).
        let mut string_header = Vec::new();
        string_header.extend_from_slice(&0x2000u64.to_le_bytes());
        string_header.extend_from_slice(&9u64.to_le_bytes());
        let memory = |address: u64, len: u64| -> Option<&[u8]> {
            let bytes: &[u8] = match address {
                0x1000 => &string_header,
                0x2000 => b"go1.16.15 and more",
                _ => return None,
            };
            Some(&bytes[..bytes.len().min(len as usize)])
        };
        let mut window = MAGIC.to_vec();
        window.extend_from_slice(&[8, 0]);
        window.extend_from_slice(&0x1000u64.to_le_bytes());
        window.extend_from_slice(&0x3000u64.to_le_bytes());
        assert_eq!(
            version_in_blob(&window, memory).as_deref(),
            Some("go1.16.15")
        );
        // Big-endian flag: the pointer reads differently and points nowhere.
        window[15] = FLAG_BIG_ENDIAN;
        assert_eq!(version_in_blob(&window, memory), None);
        // An odd pointer size.
        window[15] = 0;
        window[14] = 3;
        assert_eq!(version_in_blob(&window, memory), None);
    }

    #[test]
    fn garbage_never_panics() {
        // Not ELF, truncated ELF, random bytes, and every prefix of a real ELF file.
        assert_eq!(GoBuild::parse(&b""[..]), None);
        assert_eq!(GoBuild::parse(&b"#!/bin/sh\n"[..]), None);
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(GoBuild::parse(&me[..]), None, "a Rust program is not Go");
        for cut in (0..4096).step_by(7).chain([64, 65, 4095]) {
            assert_eq!(GoBuild::parse(&me[..cut.min(me.len())]), None);
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut bytes: Vec<u8> = (0..4096)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            // ELF magic, valid class/data/version, then noise: deep into the parser.
            bytes[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
            let _ = GoBuild::parse(&bytes[..]);
            bytes[4] = 1;
            let _ = GoBuild::parse(&bytes[..]);
        }
        assert_eq!(GoBuild::read(Path::new("/nonexistent/program")), None);
        assert_eq!(GoBuild::read(Path::new("/")), None);
    }
}
