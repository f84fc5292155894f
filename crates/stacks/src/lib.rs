//! CloudFormation without HTTP: the template model (JSON and YAML, with the short-form
//! tags), parameters, conditions, the intrinsic functions, the dependency graph, the stack
//! store and the executor. The Query protocol around it is `api::services::cloudformation`.

pub mod engine;
pub mod error;
pub mod graph;
pub mod intrinsics;
pub mod params;
pub mod providers;
pub mod store;
pub mod template;
pub mod transform;
pub mod yaml;

pub use error::{Error, Result};
pub use template::Template;
