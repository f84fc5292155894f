//! Admission: every invocation holds a permit for as long as it runs. Functions with reserved
//! concurrency draw from their own pool of that size (0 blocks every invocation); the others
//! share the account's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::outcome::Throttle;

pub struct Admission {
    account: Arc<Semaphore>,
    reserved: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Admission {
    pub fn new(account_limit: u32) -> Admission {
        Admission {
            account: Arc::new(Semaphore::new(account_limit as usize)),
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// Records a function's reservation. Invocations in flight keep the permits they hold.
    pub fn set_reserved(&self, name: &str, n: Option<u32>) {
        let mut map = self.reserved.lock().unwrap();
        match n {
            Some(n) if map.get(name).is_none_or(|(cur, _)| *cur != n) => {
                map.insert(name.to_string(), (n, Arc::new(Semaphore::new(n as usize))));
            }
            Some(_) => {}
            None => {
                map.remove(name);
            }
        }
    }

    /// A permit to run one invocation now, or the limit that refused it.
    pub fn admit(
        &self,
        name: &str,
        reserved: Option<u32>,
    ) -> Result<OwnedSemaphorePermit, Throttle> {
        if let Some(n) = reserved {
            self.set_reserved(name, Some(n));
            let sem = self
                .reserved
                .lock()
                .unwrap()
                .get(name)
                .map(|(_, s)| s.clone())
                .expect("just set");
            return sem.try_acquire_owned().map_err(|_| Throttle::Reserved);
        }
        self.set_reserved(name, None);
        self.account
            .clone()
            .try_acquire_owned()
            .map_err(|_| Throttle::Account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_zero_blocks_and_limits_bind() {
        let a = Admission::new(2);
        let e = a.admit("f", Some(0)).unwrap_err();
        assert_eq!(
            e.reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        let p1 = a.admit("g", None).unwrap();
        let _p2 = a.admit("h", None).unwrap();
        assert_eq!(
            a.admit("i", None).unwrap_err().reason(),
            "ConcurrentInvocationLimitExceeded"
        );
        drop(p1);
        assert!(a.admit("i", None).is_ok());
        let _r = a.admit("r", Some(1)).unwrap();
        assert!(a.admit("r", Some(1)).is_err());
    }
}
