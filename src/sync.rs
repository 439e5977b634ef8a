//! Small helpers over `std::sync` shared by the whole crate.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Locks `mutex`, taking the state over from a holder that panicked.
///
/// Every critical section in riptide leaves its state consistent before anything that could
/// panic, so a poisoned lock still guards valid data; refusing it would turn one caller's panic
/// into every later caller's.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch of `time` (0 for a time before it: a clock set to 1970).
pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since the Unix epoch now.
pub(crate) fn now_unix_secs() -> u64 {
    unix_secs(SystemTime::now())
}

/// Read-locks `lock`, like [`lock`] for a `RwLock`.
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, like [`lock`] for a `RwLock`.
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
