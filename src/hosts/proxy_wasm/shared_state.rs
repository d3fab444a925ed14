//! The DP ledger's host state over proxy-wasm shared data.
//!
//! Shared data lives in the Envoy process, namespaced by `vm_id`: it
//! survives VM reloads (`failure_policy: FAIL_RELOAD`) and plugin
//! configuration updates, not Envoy restarts (see envoy/README.md).
//! Versions are Envoy's CAS tokens, which are never 0. Envoy treats CAS 0 as
//! "write unconditionally" and has no create-if-absent, so `expected: None`
//! is an existence check followed by an unconditional write; that is exact
//! here because only the singleton writes the ledger, and Envoy runs its
//! callbacks one at a time on the main thread.

use super::abi::{self, Status};
use crate::dp::{HostState, StateError};

pub struct SharedData;

impl HostState for SharedData {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        match abi::get_shared_data(key) {
            Ok(Some((value, cas))) => Ok(Some((value, u64::from(cas)))),
            Ok(None) => Ok(None),
            Err(_) => Err(StateError::Io("proxy_get_shared_data failed")),
        }
    }

    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        let cas = match expected {
            Some(v) => match u32::try_from(v) {
                Ok(c) if c != 0 => c,
                _ => return Err(StateError::CasMismatch),
            },
            None => {
                if self.get(key)?.is_some() {
                    return Err(StateError::CasMismatch);
                }
                0
            }
        };
        match abi::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(Status::CAS_MISMATCH) => Err(StateError::CasMismatch),
            Err(_) => Err(StateError::Io("proxy_set_shared_data failed")),
        }
    }
}
