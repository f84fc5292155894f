//! The Stratus execution engine: runs function code in sandboxed execution environments that
//! speak the Lambda Runtime API, pools them per function version, admits invocations against
//! concurrency limits, enforces timeouts and memory limits, and captures logs.
//! It knows nothing of AWS's front-end protocols beyond the Runtime API.

use std::sync::Arc;

use stratus_core::function::FunctionConfig;
use stratus_core::Error;

/// How environments are isolated on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Namespaces,
    Process,
}

pub struct EngineConfig {}

pub struct Engine {}

pub struct InvokeRequest {
    pub config: FunctionConfig,
}

pub struct InvokeOutcome {}

impl Engine {
    pub fn new(_cfg: EngineConfig) -> Result<Arc<Engine>, Error> {
        Ok(Arc::new(Engine {}))
    }
    pub fn isolation(&self) -> Isolation {
        Isolation::Process
    }
    pub fn retire(&self, _name: &str, _qualifier: Option<&str>) {}
    pub fn set_reserved(&self, _name: &str, _n: Option<u32>) {}
}
