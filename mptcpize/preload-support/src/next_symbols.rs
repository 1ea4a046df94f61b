//! `dlsym(RTLD_NEXT, name)` for several names in one pass, without entering `dlsym`.
//!
//! Why: each `dlsym` call costs the dynamic loader's locking, error-catching and caller
//! lookup on top of the symbol lookup itself, and the shim makes five (`socket`,
//! `setsockopt`, `close`, `dup2`, `dup3`) in every program's start-up; five `dlsym` calls
//! put its start-up above Debian's shim, one walk of the loaded objects keeps it below
//! (BENCHMARKS.md, "every next definition found at load, in one walk", measured by
//! `cargo bench -p mptcpize --bench shim`).
//!
//! What: [`next_symbols`] walks the loaded objects with `dl_iterate_phdr` (load order),
//! skips those up to and including the object it is linked into, and looks each name up in
//! the later objects' `DT_GNU_HASH` tables, accepting a symbol the way glibc's
//! `_dl_lookup_symbol_x` does for `dlsym` (elf/dl-lookup.c `check_match`, `do_lookup_x`):
//! a defined (or `SHN_ABS`) function, object, or untyped symbol, global or weak; in an
//! object with symbol versions, an unversioned one at once, else the one default
//! (non-hidden) version. Any case it does not model makes it give up and call `dlsym` for
//! every name, so the answer is always `dlsym(RTLD_NEXT)`'s:
//!
//! - `LD_AUDIT` (auditors see `dlsym` results) or `LD_DYNAMIC_WEAK` (weak definitions are
//!   passed over) in the environment;
//! - the C library is loaded before the calling object (that object was `dlopen`ed, whose
//!   `RTLD_NEXT` searches its own dependencies, not the objects loaded after it);
//! - an object after it has no `DT_GNU_HASH` (only the old `DT_HASH`);
//! - the symbol found is an indirect function (its resolver must run), thread-local, or
//!   `STB_GNU_UNIQUE`.
//!
//! Not modelled, and not detected: auditors named in the main program itself (linked with
//! `--audit`/`--depaudit`, `DT_AUDIT`), whose `la_symbind` may change what `dlsym` returns;
//! the walk gives the definition itself. Looking for those tags costs about 400
//! instructions at every start (BENCHMARKS.md), enough to put the shim above Debian's, for a
//! link option programs do not use; auditors given by `LD_AUDIT` are detected.
//!
//! Load order is `RTLD_NEXT`'s order for the objects of a program's start-up: the loader
//! maps the preloaded libraries and the dependencies breadth-first, in the order of the
//! main program's search list, and puts its own entry back at its place in that list.
//!
//! `dl_iterate_phdr` takes the loader's write lock: like `dlsym`, this runs in a
//! constructor, never in a hook.

use core::ffi::{c_void, CStr};

use crate::env::{value_of, Environment};
use crate::errno::SavedErrno;
use crate::real::next_symbol;

/// How [`next_symbols`] found its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// One walk of the loaded objects' symbol tables.
    Walk,
    /// `dlsym(RTLD_NEXT)` for each name: the walk met a case it does not model.
    Dlsym,
}

/// For each `names[i]`, what `dlsym(RTLD_NEXT, names[i])` gives when called from the
/// object this code is linked into (the library's next definition after itself), or NULL
/// where nothing defines it; written to `found[i]`. `env` is the process's environment as
/// the loader passed it to the constructor. Keeps errno.
///
/// # Panics
/// When `names` and `found` differ in length.
#[cold]
pub fn next_symbols(env: Environment, names: &[&CStr], found: &mut [*mut c_void]) -> Lookup {
    assert_eq!(names.len(), found.len());
    let _errno = SavedErrno::save();
    if walk_applies(env) && walk_after(next_symbols as *const c_void, names, found) {
        return Lookup::Walk;
    }
    // `dlsym` takes the caller's object from its return address: this library's.
    for (name, slot) in names.iter().zip(found.iter_mut()) {
        *slot = next_symbol(name);
    }
    Lookup::Dlsym
}

/// False when a variable changes what `dlsym` answers (see the module doc).
fn walk_applies(mut env: Environment) -> bool {
    !env.any(|var| {
        // SAFETY: the environment's strings are NUL-terminated.
        unsafe {
            value_of(var, b"LD_AUDIT=").is_some() || value_of(var, b"LD_DYNAMIC_WEAK=").is_some()
        }
    })
}

/// The walk alone, for the object that holds `after` (any loaded object: the tests compare
/// it with `dlsym(RTLD_NEXT)` called from each): true when `found` holds `dlsym`'s
/// answers, false when [`next_symbols`] would fall back on `dlsym` (the environment is not
/// checked here).
///
/// # Panics
/// When `names` and `found` differ in length.
pub fn walk_after(after: *const c_void, names: &[&CStr], found: &mut [*mut c_void]) -> bool {
    assert_eq!(names.len(), found.len());
    walk(after, names, found)
}

#[cfg(all(target_env = "gnu", target_pointer_width = "64"))]
use elf64::walk;

/// Elsewhere (32-bit, other C libraries): no walk, `dlsym` for each name.
#[cfg(not(all(target_env = "gnu", target_pointer_width = "64")))]
fn walk(_after: *const c_void, _names: &[&CStr], _found: &mut [*mut c_void]) -> bool {
    false
}

#[cfg(all(target_env = "gnu", target_pointer_width = "64"))]
mod elf64 {
    use core::ffi::{c_int, c_void, CStr};
    use libc::{dl_phdr_info, size_t, Elf64_Phdr, Elf64_Sym, PT_DYNAMIC, PT_LOAD};

    // ELF constants (elf.h) the libc crate does not have for this target.
    const DT_NULL: i64 = 0;
    const DT_HASH: i64 = 4;
    const DT_STRTAB: i64 = 5;
    const DT_SYMTAB: i64 = 6;
    const DT_GNU_HASH: i64 = 0x6fff_fef5;
    const DT_VERSYM: i64 = 0x6fff_fff0;
    const SHN_UNDEF: u16 = 0;
    const SHN_ABS: u16 = 0xfff1;
    const STB_GLOBAL: u8 = 1;
    const STB_WEAK: u8 = 2;
    const STT_NOTYPE: u8 = 0;
    const STT_OBJECT: u8 = 1;
    const STT_FUNC: u8 = 2;
    const STT_COMMON: u8 = 5;
    const STT_TLS: u8 = 6;
    const STT_GNU_IFUNC: u8 = 10;
    const STB_GNU_UNIQUE: u8 = 10;
    const VERSYM_HIDDEN: u16 = 0x8000;
    /// Version indices 0 (local) and 1 (global) mean "no version".
    const VER_NDX_FIRST_VERSION: u16 = 2;

    /// One `Elf64_Dyn` entry.
    #[repr(C)]
    struct Dyn {
        tag: i64,
        value: u64,
    }

    /// What the walk carries from one object to the next.
    struct Walk<'a> {
        after: usize,
        libc: usize,
        names: &'a [&'a CStr],
        found: &'a mut [*mut c_void],
        /// The object holding `after` was seen: the next ones are searched.
        searching: bool,
        /// Set when the walk cannot give `dlsym`'s answer.
        gave_up: bool,
        /// Bit `i` set: `found[i]` is written. (A bit mask rather than clearing `found`
        /// first, which the compiler turns into an imported `memset`: one more symbol the
        /// loader binds in every program.)
        done: u64,
    }

    /// True when `found` holds `dlsym(RTLD_NEXT)`'s answers; false when the caller must ask
    /// `dlsym`.
    pub(super) fn walk(after: *const c_void, names: &[&CStr], found: &mut [*mut c_void]) -> bool {
        assert!(names.len() <= 64);
        let mut state = Walk {
            after: after as usize,
            // The C library: the object that defines the `dl_iterate_phdr` we import.
            libc: libc::dl_iterate_phdr as *const () as usize,
            names,
            found: &mut *found,
            searching: false,
            gave_up: false,
            done: 0,
        };
        // SAFETY: `visit` gets `state` back as its data pointer, during this call only.
        unsafe { libc::dl_iterate_phdr(Some(visit), (&mut state as *mut Walk).cast()) };
        let (done, answered) = (state.done, state.searching && !state.gave_up);
        for (i, slot) in found.iter_mut().enumerate() {
            if done & (1 << i) == 0 {
                *slot = core::ptr::null_mut();
            }
        }
        answered
    }

    /// `dl_iterate_phdr`'s callback: nonzero stops the walk.
    unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
        // SAFETY: `walk` passes its `Walk`; the loader passes a valid `info`, whose
        // program headers are mapped (they are in the object's first segment).
        let (state, info) = unsafe { (&mut *data.cast::<Walk>(), &*info) };
        let phdrs: &[Elf64_Phdr] = if info.dlpi_phdr.is_null() {
            &[]
        } else {
            // SAFETY: as above.
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let base = info.dlpi_addr as usize;
        if !state.searching {
            if holds(base, phdrs, state.after) {
                state.searching = true;
            } else if holds(base, phdrs, state.libc) {
                state.gave_up = true;
            }
            return c_int::from(state.gave_up);
        }
        // SAFETY: a loaded object's dynamic section and the tables it points to.
        let Some(object) = (unsafe { Object::new(base, phdrs) }) else {
            state.gave_up = true;
            return 1;
        };
        let mut missing = false;
        for (i, (name, slot)) in state.names.iter().zip(state.found.iter_mut()).enumerate() {
            if state.done & (1 << i) != 0 {
                continue;
            }
            // SAFETY: as above.
            match unsafe { object.lookup(name) } {
                Found::Address(address) => {
                    *slot = address;
                    state.done |= 1 << i;
                }
                Found::Nothing => missing = true,
                Found::NotModelled => {
                    state.gave_up = true;
                    return 1;
                }
            }
        }
        c_int::from(!missing)
    }

    /// True when `address` is in one of the object's loaded segments.
    fn holds(base: usize, phdrs: &[Elf64_Phdr], address: usize) -> bool {
        phdrs.iter().any(|ph| {
            let start = base.wrapping_add(ph.p_vaddr as usize);
            ph.p_type == PT_LOAD && address.wrapping_sub(start) < ph.p_memsz as usize
        })
    }

    /// An object's dynamic symbol table and its GNU hash table.
    struct Object {
        base: usize,
        gnu_hash: *const u32,
        symbols: *const Elf64_Sym,
        strings: *const u8,
        versions: *const u16,
    }

    enum Found {
        Address(*mut c_void),
        Nothing,
        NotModelled,
    }

    impl Object {
        /// The tables of the object loaded at `base`; None when it has `DT_HASH` but no
        /// `DT_GNU_HASH`. An object without either exports nothing (the loader skips it
        /// too): its tables are empty.
        ///
        /// # Safety
        /// `phdrs` are the program headers of an object loaded at `base`.
        unsafe fn new(base: usize, phdrs: &[Elf64_Phdr]) -> Option<Object> {
            let mut object = Object {
                base,
                gnu_hash: core::ptr::null(),
                symbols: core::ptr::null(),
                strings: core::ptr::null(),
                versions: core::ptr::null(),
            };
            let Some(dynamic) = phdrs.iter().find(|ph| ph.p_type == PT_DYNAMIC) else {
                return Some(object);
            };
            let mut has_hash = false;
            let mut entry = base.wrapping_add(dynamic.p_vaddr as usize) as *const Dyn;
            // glibc adds the load address to these entries in place where the dynamic
            // section is writable, and not where it is read-only (the vDSO, MIPS, RISC-V):
            // an address below `base` is still an offset. (An object is never mapped below
            // its own size, so the two cannot be confused; `base` is 0 only for a
            // non-PIE program, where both are the same.)
            let address = |value: u64| {
                let value = value as usize;
                if value < base {
                    value.wrapping_add(base)
                } else {
                    value
                }
            };
            loop {
                // SAFETY: the dynamic section ends with DT_NULL.
                let Dyn { tag, value } = unsafe { entry.read() };
                match tag {
                    DT_NULL => break,
                    DT_HASH => has_hash = true,
                    DT_GNU_HASH => object.gnu_hash = address(value) as *const u32,
                    DT_SYMTAB => object.symbols = address(value) as *const Elf64_Sym,
                    DT_STRTAB => object.strings = address(value) as *const u8,
                    DT_VERSYM => object.versions = address(value) as *const u16,
                    _ => {}
                }
                // SAFETY: not past DT_NULL.
                entry = unsafe { entry.add(1) };
            }
            if object.gnu_hash.is_null() && has_hash {
                return None;
            }
            Some(object)
        }

        /// The definition of `name` in this object, as glibc's `do_lookup_x` accepts it
        /// for `dlsym` (`DL_LOOKUP_RETURN_NEWEST`, no version asked for).
        ///
        /// # Safety
        /// The object's tables are those of a loaded object.
        unsafe fn lookup(&self, name: &CStr) -> Found {
            if self.gnu_hash.is_null() || self.symbols.is_null() || self.strings.is_null() {
                return Found::Nothing;
            }
            let hash = gnu_hash(name.to_bytes());
            // SAFETY: the layout of a DT_GNU_HASH section: nbuckets, symoffset,
            // bloom_size, bloom_shift, the bloom words (pointer-sized), the buckets, then
            // one chain word per symbol from symoffset on.
            unsafe {
                let table = self.gnu_hash;
                let (nbuckets, symoffset) = (*table, *table.add(1));
                let (bloom_size, bloom_shift) = (*table.add(2), *table.add(3));
                if nbuckets == 0 || bloom_size == 0 {
                    return Found::Nothing;
                }
                let bloom = table.add(4).cast::<u64>();
                let word = *bloom.add(((hash / 64) % bloom_size) as usize);
                let mask = (1u64 << (hash % 64)) | (1u64 << ((hash >> bloom_shift) % 64));
                if word & mask != mask {
                    return Found::Nothing;
                }
                let buckets = bloom.add(bloom_size as usize).cast::<u32>();
                let mut index = *buckets.add((hash % nbuckets) as usize);
                if index < symoffset {
                    return Found::Nothing;
                }
                let chain = buckets.add(nbuckets as usize);
                // glibc's `versioned_sym` and `num_versions`: the default version is taken
                // when it is the only non-hidden versioned definition in the object.
                let mut versioned: Option<&Elf64_Sym> = None;
                let mut versions_seen = 0;
                loop {
                    let chain_hash = *chain.add((index - symoffset) as usize);
                    if (chain_hash | 1) == (hash | 1) {
                        let symbol = &*self.symbols.add(index as usize);
                        if self.matches(symbol, name) {
                            let version = if self.versions.is_null() {
                                0
                            } else {
                                *self.versions.add(index as usize)
                            };
                            if version & !VERSYM_HIDDEN < VER_NDX_FIRST_VERSION {
                                return self.accept(symbol);
                            }
                            if version & VERSYM_HIDDEN == 0 {
                                if versions_seen == 0 {
                                    versioned = Some(symbol);
                                }
                                versions_seen += 1;
                            }
                        }
                    }
                    if chain_hash & 1 != 0 {
                        break;
                    }
                    index += 1;
                }
                match versioned {
                    Some(symbol) if versions_seen == 1 => self.accept(symbol),
                    _ => Found::Nothing,
                }
            }
        }

        /// glibc's `check_match` before the version test: a symbol with a value (or
        /// absolute), of a type `dlsym` returns, named `name`. Thread-local symbols are
        /// let through here and refused by [`Object::accept`].
        ///
        /// # Safety
        /// `symbol` is in this object's table.
        unsafe fn matches(&self, symbol: &Elf64_Sym, name: &CStr) -> bool {
            let kind = symbol.st_info & 0xf;
            if symbol.st_value == 0 && symbol.st_shndx != SHN_ABS && kind != STT_TLS {
                return false;
            }
            let allowed = (1 << STT_NOTYPE)
                | (1 << STT_OBJECT)
                | (1 << STT_FUNC)
                | (1 << STT_COMMON)
                | (1 << STT_TLS)
                | (1 << STT_GNU_IFUNC);
            if allowed & (1u32 << kind) == 0 {
                return false;
            }
            // SAFETY: st_name is an offset into the NUL-terminated strings of the table.
            unsafe { same_name(self.strings.add(symbol.st_name as usize), name) }
        }

        /// `do_lookup_x`'s binding test and `dlsym`'s address: global and weak definitions
        /// are taken, local ones passed over (the search goes on in the next object).
        fn accept(&self, symbol: &Elf64_Sym) -> Found {
            let kind = symbol.st_info & 0xf;
            match symbol.st_info >> 4 {
                STB_GLOBAL | STB_WEAK => {}
                STB_GNU_UNIQUE => return Found::NotModelled,
                _ => return Found::Nothing,
            }
            if kind == STT_GNU_IFUNC || kind == STT_TLS || symbol.st_shndx == SHN_UNDEF {
                return Found::NotModelled;
            }
            let offset = symbol.st_value as usize;
            let address = if symbol.st_shndx == SHN_ABS {
                offset
            } else {
                self.base.wrapping_add(offset)
            };
            Found::Address(address as *mut c_void)
        }
    }

    /// True when the NUL-terminated string at `symbol` is `name`. Byte by byte, reading no
    /// further than the first difference: `CStr::from_ptr` and a slice comparison would
    /// import `strlen` and `bcmp`, two more symbols the loader binds in every program.
    ///
    /// # Safety
    /// `symbol` points to a NUL-terminated string.
    unsafe fn same_name(symbol: *const u8, name: &CStr) -> bool {
        for (i, &byte) in name.to_bytes_with_nul().iter().enumerate() {
            // SAFETY: every earlier byte matched a non-NUL byte of `name`, so the string
            // at `symbol` goes on at least to `i`.
            if unsafe { *symbol.add(i) } != byte {
                return false;
            }
        }
        true
    }

    /// The GNU hash of a symbol name (DJB's: h * 33 + c).
    fn gnu_hash(name: &[u8]) -> u32 {
        name.iter().fold(5381u32, |h, &c| {
            h.wrapping_mul(33).wrapping_add(u32::from(c))
        })
    }
}
