//! CodeDeploy for Lambda without HTTP (decision 0036).
//!
//! - [`routing`]: deployment configurations' traffic routing (canary, linear, all at once),
//!   the predefined `CodeDeployDefault.Lambda*` ones, and the weight a schedule gives the
//!   target version at a moment.
//! - [`appspec`]: a Lambda AppSpec (already read from YAML or JSON into a value): the alias,
//!   its current and target versions, the hooks.
//! - [`store`]: applications, deployment groups, custom configurations and deployments
//!   (`deploy.db`, or the `deploy` schema on PostgreSQL), each an AWS-shaped document.
//!
//! The JSON protocol around it, and the worker that drives deployments, are
//! `api::services::codedeploy`.

pub mod appspec;
pub mod routing;
pub mod store;
