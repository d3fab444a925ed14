//! Host state with compare-and-swap: where the privacy ledger lives.
//!
//! The engine never keeps the ledger only in its own memory: every spend is a
//! read-modify-write on host state guarded by a version, so several engine
//! instances (Envoy workers, Fluent Bit filter sections, restarts) share one
//! budget without overspending it.
//!
//! Implementations here: [`InMemoryState`] (tests, and the harness's model of
//! proxy-wasm shared data across VMs) and [`FileState`] (one file per key in a
//! directory, for Fluent Bit's preopened paths). The Envoy shared-data
//! implementation lives in the host glue over the same trait (Envoy's CAS
//! token is the version; note that Envoy treats CAS 0 as "unconditional", so
//! the glue must map `expected: None` to an explicit existence check).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Why a state operation failed. Carries static reasons only: keys and values
/// may be derived from configuration but are never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// The stored version differs from the expected one (or the key exists
    /// when it was expected absent, or another writer holds the key briefly).
    /// The caller should re-read and retry.
    CasMismatch,
    /// The host could not read or write its state.
    Io(&'static str),
    /// The stored bytes are not a valid record of the expected kind.
    Corrupt(&'static str),
    /// A compare-and-swap loop gave up after its bounded number of retries.
    Contended,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::CasMismatch => {
                write!(f, "state changed concurrently (compare-and-swap mismatch)")
            }
            StateError::Io(why) => write!(f, "host state I/O failed: {why}"),
            StateError::Corrupt(why) => write!(f, "host state is corrupt: {why}"),
            StateError::Contended => {
                write!(f, "host state too contended: gave up after bounded retries")
            }
        }
    }
}

impl std::error::Error for StateError {}

/// Key-value state provided by the host, with versioned compare-and-swap.
pub trait HostState {
    /// The current value and its version, or `None` if the key was never set.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError>;
    /// Stores `value` if the key is currently at version `expected`
    /// (`None`: the key must not exist yet); otherwise `CasMismatch`.
    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError>;
}

impl<T: HostState + ?Sized> HostState for &T {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        (**self).set(key, value, expected)
    }
}

impl<T: HostState + ?Sized> HostState for std::sync::Arc<T> {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        (**self).set(key, value, expected)
    }
}

/// Thread-safe in-memory state. Versions start at 1 and grow by one per write.
///
/// Poisoning: the map sits behind a `Mutex`, and a lock that was poisoned by
/// a panic elsewhere is recovered with `PoisonError::into_inner`. That is
/// sound because every critical section is a single lookup or a single
/// `insert` of a complete `(value, version)` pair: no panic can leave a
/// half-updated entry behind, so there is nothing for poisoning to protect.
/// Without the recovery, one panicking test thread (or one trapped call in a
/// host emulation) would make every later call fail forever, which is exactly
/// the failure mode hosts.md describes for Fluent Bit. The critical sections
/// contain no operation that can panic except allocation failure, which
/// aborts the process anyway. Inside a wasm module (no unwinding) a lock would
/// stay *held*, not poisoned, after a trap; that is why module-side code must
/// keep the ledger in host state, never in an in-module lock.
#[derive(Debug, Default)]
pub struct InMemoryState {
    map: Mutex<HashMap<String, (Vec<u8>, u64)>>,
}

impl InMemoryState {
    pub fn new() -> Self {
        Self::default()
    }
}

impl HostState for InMemoryState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let current = map.get(key).map(|(_, v)| *v);
        if current != expected {
            return Err(StateError::CasMismatch);
        }
        let next = current
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(StateError::Io("version counter overflow"))?;
        map.insert(key.to_owned(), (value.to_vec(), next));
        Ok(())
    }
}

/// State kept as one file per key in a directory (for Fluent Bit, a
/// directory listed in `accessible_paths`). Survives restarts.
///
/// File format: the ASCII decimal version, `\n`, then the value bytes.
/// File name: the key with every byte outside `[A-Za-z0-9_-]` written as
/// `%XX`, so keys like `dp-audit/ledger` stay inside the directory.
///
/// A write is atomic: the new content goes to `<name>.tmp`, is synced, and is
/// renamed over `<name>`; readers see the old or the new file, never a mix.
/// Compare-and-swap across threads *and* separate module instances sharing the
/// directory is serialised by a lock file `<name>.lock` created with
/// `create_new` (O_EXCL, which WASI supports): whoever creates it may
/// read-compare-rename, then removes it. A held lock reads as `CasMismatch`
/// (the caller retries). A lock older than [`FileState::STALE_LOCK`] is
/// presumed left by a crashed writer (a wasm trap between create and remove)
/// and is broken; the residual risk is two writers breaking the same stale
/// lock at the same instant, which needs a crash first. Directory entries are
/// not fsynced (WASI offers no portable way): after a power loss the rename
/// may be lost, i.e. the ledger may fall back to its previous version — so a
/// spend that was committed just before a power loss may be forgotten.
#[derive(Debug, Clone)]
pub struct FileState {
    pub dir: PathBuf,
}

impl FileState {
    /// How old a lock file must be before it is presumed stale.
    pub const STALE_LOCK: Duration = Duration::from_secs(30);

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileState { dir: dir.into() }
    }

    fn file_name(key: &str) -> Result<String, StateError> {
        if key.is_empty() || key.len() > 200 {
            return Err(StateError::Io("state key must be 1..=200 bytes"));
        }
        let mut name = String::with_capacity(key.len());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                name.push(char::from(b));
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        Ok(name)
    }

    fn read_file(path: &Path) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(StateError::Io("cannot read state file")),
        };
        let nl = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(StateError::Corrupt("state file has no version line"))?;
        let (head, rest) = bytes.split_at(nl);
        let version: u64 = std::str::from_utf8(head)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(StateError::Corrupt("state file version is not a number"))?;
        let value = rest.get(1..).unwrap_or_default().to_vec();
        Ok(Some((value, version)))
    }

    fn take_lock(lock: &Path) -> Result<(), StateError> {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let stale = fs::metadata(lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > Self::STALE_LOCK);
                if stale {
                    // Break it; the retry by our caller will try to take it afresh.
                    let _ = fs::remove_file(lock);
                }
                Err(StateError::CasMismatch)
            }
            Err(_) => Err(StateError::Io("cannot create state lock file")),
        }
    }

    fn write_locked(path: &Path, tmp: &Path, value: &[u8], version: u64) -> Result<(), StateError> {
        // The file is closed at the end of this block, before the rename.
        // (A block, not `drop(f)`: on wasm32-unknown-unknown `File` has no
        // `Drop` and clippy rejects the call.)
        {
            let mut f = fs::File::create(tmp)
                .map_err(|_| StateError::Io("cannot create state temp file"))?;
            f.write_all(format!("{version}\n").as_bytes())
                .and_then(|()| f.write_all(value))
                .and_then(|()| f.sync_all())
                .map_err(|_| StateError::Io("cannot write state temp file"))?;
        }
        fs::rename(tmp, path).map_err(|_| StateError::Io("cannot rename state temp file"))
    }
}

impl HostState for FileState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        Self::read_file(&self.dir.join(Self::file_name(key)?))
    }

    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        let name = Self::file_name(key)?;
        let path = self.dir.join(&name);
        let lock = self.dir.join(format!("{name}.lock"));
        let tmp = self.dir.join(format!("{name}.tmp"));
        Self::take_lock(&lock)?;
        let result = (|| {
            let current = Self::read_file(&path)?.map(|(_, v)| v);
            if current != expected {
                return Err(StateError::CasMismatch);
            }
            let next = current
                .unwrap_or(0)
                .checked_add(1)
                .ok_or(StateError::Io("version counter overflow"))?;
            Self::write_locked(&path, &tmp, value, next)
        })();
        let unlocked = fs::remove_file(&lock);
        match (result, unlocked) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(_)) => Err(StateError::Io("cannot remove state lock file")),
            (Ok(()), Ok(())) => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dp-audit-state-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cas_semantics(s: &dyn HostState) {
        assert_eq!(s.get("k").unwrap(), None);
        assert_eq!(s.set("k", b"a", Some(1)), Err(StateError::CasMismatch));
        s.set("k", b"a", None).unwrap();
        assert_eq!(s.set("k", b"b", None), Err(StateError::CasMismatch));
        let (v, ver) = s.get("k").unwrap().unwrap();
        assert_eq!((v.as_slice(), ver), (&b"a"[..], 1));
        s.set("k", b"b\n\x00c", Some(1)).unwrap();
        assert_eq!(s.set("k", b"c", Some(1)), Err(StateError::CasMismatch));
        assert_eq!(s.get("k").unwrap(), Some((b"b\n\x00c".to_vec(), 2)));
        assert_eq!(s.get("other").unwrap(), None);
    }

    #[test]
    fn in_memory_cas() {
        cas_semantics(&InMemoryState::new());
    }

    #[test]
    fn in_memory_survives_poisoned_lock() {
        let s = Arc::new(InMemoryState::new());
        s.set("k", b"x", None).unwrap();
        let s2 = Arc::clone(&s);
        let _ = std::thread::spawn(move || {
            let _guard = s2.map.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(s.map.is_poisoned());
        assert_eq!(s.get("k").unwrap(), Some((b"x".to_vec(), 1)));
        s.set("k", b"y", Some(1)).unwrap();
    }

    #[test]
    fn file_state_cas_and_restart() {
        let dir = temp_dir("cas");
        cas_semantics(&FileState::new(&dir));
        // A new FileState over the same directory (a restart) sees the data.
        let again = FileState::new(&dir);
        assert_eq!(again.get("k").unwrap(), Some((b"b\n\x00c".to_vec(), 2)));
        // Keys with slashes and dots stay inside the directory.
        again.set("dp-audit/ledger.v1", b"z", None).unwrap();
        assert!(dir.join("dp-audit%2Fledger%2Ev1").exists());
        assert!(!dir.join("k.lock").exists() && !dir.join("k.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_state_lock_contention_and_stale_lock() {
        let dir = temp_dir("lock");
        let s = FileState::new(&dir);
        s.set("k", b"a", None).unwrap();
        let lock = dir.join("k.lock");
        fs::write(&lock, b"").unwrap();
        // A fresh lock held by someone else: retry later.
        assert_eq!(s.set("k", b"b", Some(1)), Err(StateError::CasMismatch));
        assert!(lock.exists());
        // An old lock is broken, and the next attempt succeeds.
        let old = SystemTime::now() - Duration::from_secs(120);
        fs::File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(s.set("k", b"b", Some(1)), Err(StateError::CasMismatch));
        s.set("k", b"b", Some(1)).unwrap();
        assert_eq!(s.get("k").unwrap(), Some((b"b".to_vec(), 2)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_state_rejects_corrupt_files() {
        let dir = temp_dir("corrupt");
        let s = FileState::new(&dir);
        fs::write(dir.join("k"), b"no newline").unwrap();
        assert!(matches!(s.get("k"), Err(StateError::Corrupt(_))));
        fs::write(dir.join("k"), b"x1\nv").unwrap();
        assert!(matches!(s.get("k"), Err(StateError::Corrupt(_))));
        assert!(matches!(s.set("", b"v", None), Err(StateError::Io(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_state_threads_never_lose_an_increment() {
        let dir = temp_dir("race");
        let s = Arc::new(FileState::new(&dir));
        s.set("n", b"0", None).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let mut done = 0;
                    while done < 25 {
                        let (v, ver) = s.get("n").unwrap().unwrap();
                        let n: u64 = std::str::from_utf8(&v).unwrap().parse().unwrap();
                        if s.set("n", (n + 1).to_string().as_bytes(), Some(ver))
                            .is_ok()
                        {
                            done += 1;
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (v, ver) = s.get("n").unwrap().unwrap();
        assert_eq!(v, b"100");
        assert_eq!(ver, 101);
        fs::remove_dir_all(&dir).unwrap();
    }
}
