//! The runtimes Stratus accepts and how each one runs.

/// Every runtime identifier in AWS's `Runtime` enum (botocore's model).
pub const ALL: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "java8",
    "java8.al2",
    "java11",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
    "provided.al2",
    "nodejs18.x",
    "python3.10",
    "java17",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "python3.11",
    "nodejs20.x",
    "provided.al2023",
    "python3.12",
    "java21",
    "python3.13",
    "nodejs22.x",
    "nodejs24.x",
    "python3.14",
    "java25",
    "dotnet10",
    "ruby4.0",
];

/// Runtimes AWS no longer lets anyone create or update functions with. (`provided`, the
/// Amazon Linux 1 custom runtime, is deprecated on AWS too, but Stratus keeps running it: the
/// host is the OS here, so nothing is end-of-life about it.)
const DEPRECATED: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs4.3-edge",
    "java8",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
];

/// How an execution environment of this runtime starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The host's `python3` with Stratus's bootstrap.
    Python,
    /// The host's `node` with Stratus's bootstrap.
    Node,
    /// The package's own `bootstrap` executable.
    Provided,
    /// Accepted by the control plane, but this build has no way to run it.
    Unsupported,
}

pub fn kind(runtime: &str) -> Kind {
    if runtime.starts_with("python3.") {
        Kind::Python
    } else if runtime.starts_with("nodejs") {
        Kind::Node
    } else if runtime.starts_with("provided") {
        Kind::Provided
    } else {
        Kind::Unsupported
    }
}

pub fn is_known(runtime: &str) -> bool {
    ALL.contains(&runtime)
}

pub fn is_deprecated(runtime: &str) -> bool {
    DEPRECATED.contains(&runtime)
}

/// The runtimes AWS offers SnapStart for (`SnapStart.ApplyOn: PublishedVersions`). Of them,
/// Stratus runs the python ones; the others are accepted as AWS accepts them and, like every
/// function of those runtimes, cannot be invoked.
pub const SNAP_START: &[&str] = &[
    "java11",
    "java17",
    "java21",
    "java25",
    "python3.12",
    "python3.13",
    "python3.14",
    "dotnet8",
    "dotnet10",
];

pub fn supports_snap_start(runtime: &str) -> bool {
    SNAP_START.contains(&runtime)
}

/// `AWS_EXECUTION_ENV` for a runtime; AWS sets none for custom runtimes.
pub fn execution_env(runtime: &str) -> Option<String> {
    match kind(runtime) {
        Kind::Provided => None,
        _ => Some(format!("AWS_Lambda_{runtime}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_flags() {
        assert_eq!(kind("python3.12"), Kind::Python);
        assert_eq!(kind("nodejs20.x"), Kind::Node);
        assert_eq!(kind("provided.al2023"), Kind::Provided);
        assert_eq!(kind("java21"), Kind::Unsupported);
        assert!(is_deprecated("python3.7") && !is_deprecated("provided"));
        assert!(is_known("python3.13") && !is_known("python4"));
        assert_eq!(execution_env("provided.al2"), None);
        assert_eq!(
            execution_env("python3.12").as_deref(),
            Some("AWS_Lambda_python3.12")
        );
    }
}
