//! Lambda layers: names, version ARNs and their validation, the reference a function version
//! keeps to each layer version it uses, and the checks on what PublishLayerVersion accepts.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{runtime, ACCOUNT_ID};

/// At most this many layers per function (AWS's quota).
pub const MAX_LAYERS: usize = 5;
/// At most this many compatible runtimes per layer version.
pub const MAX_COMPATIBLE_RUNTIMES: usize = 15;

/// A layer version a function version uses: enough to render it (`Layers: [{Arn, CodeSize}]`)
/// and to build `/opt` without reading the layer again, so a version keeps working after the
/// layer version is deleted, as on AWS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRef {
    /// The layer version's name and number (the ARN is built with the request's region).
    pub name: String,
    pub version: u64,
    /// Hex SHA-256 of its zip: the key of its package in the code store.
    pub sha256_hex: String,
    /// Zipped size (what AWS reports as `CodeSize`).
    pub code_size: u64,
    /// Unpacked size, counted against the 250 MB of a function and its layers.
    pub unzipped_size: u64,
}

/// `arn:aws:lambda:REGION:ACCT:layer:NAME`.
pub fn layer_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{name}")
}

/// `arn:aws:lambda:REGION:ACCT:layer:NAME:VERSION`.
pub fn layer_version_arn(region: &str, name: &str, version: u64) -> String {
    format!("{}:{version}", layer_arn(region, name))
}

const NAME_PATTERN: &str =
    r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
const VERSION_ARN_PATTERN: &str =
    r"arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+";

/// The layer a `LayerName` path argument names (a bare name or a layer ARN of this account),
/// with AWS's validation message.
pub fn parse_name(raw: &str) -> Result<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(&format!("^(?:{NAME_PATTERN})$")).unwrap());
    if raw.is_empty() || raw.len() > 140 || !re.is_match(raw) {
        return Err(Error::constraint(
            raw,
            "layerName",
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ));
    }
    Ok(raw.rsplit(':').next().unwrap_or(raw).to_string())
}

/// A layer version ARN's region, account, name and number, or `None` if it is not one.
pub fn parse_version_arn(arn: &str) -> Option<(String, String, String, u64)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(&format!("^{VERSION_ARN_PATTERN}$")).unwrap());
    if arn.len() > 140 || !re.is_match(arn) {
        return None;
    }
    let parts: Vec<&str> = arn.split(':').collect();
    let version = parts.get(7)?.parse().ok()?;
    Some((
        parts[3].to_string(),
        parts[4].to_string(),
        parts[6].to_string(),
        version,
    ))
}

/// Checks a function's `Layers` list as AWS does before looking any of them up: at most five,
/// each a layer version ARN, no layer twice.
pub fn check_function_layers(arns: &[String]) -> Result<()> {
    if arns.len() > MAX_LAYERS {
        return Err(Error::invalid(format!(
            "Cannot reference more than {MAX_LAYERS} layers."
        )));
    }
    let mut seen: Vec<String> = Vec::new();
    for arn in arns {
        let Some((_, _, name, _)) = parse_version_arn(arn) else {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '[{}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: {VERSION_ARN_PATTERN}, Member must not be null]",
                arns.join(", ")
            )));
        };
        if seen.contains(&name) {
            return Err(Error::invalid(
                "Two different versions of the same layer are not allowed to be referenced in the same function.",
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// The error for a layer version ARN that names nothing (never published, or deleted).
pub fn missing_version(arn: &str) -> Error {
    Error::invalid(format!("Layer version {arn} does not exist."))
}

/// Checks PublishLayerVersion's lists: runtimes known (at most 15), architectures of
/// `x86_64`/`arm64` (at most 2), a description ≤ 256 and license ≤ 512 characters.
pub fn check_publish(
    runtimes: &[String],
    architectures: &[String],
    description: &str,
    license: &str,
) -> Result<()> {
    let mut violations: Vec<(String, &str, &str)> = Vec::new();
    let runtime_enum = format!(
        "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
        runtime::ALL.join(", ")
    );
    if runtimes.len() > MAX_COMPATIBLE_RUNTIMES {
        violations.push((
            format!("[{}]", runtimes.join(", ")),
            "compatibleRuntimes",
            "Member must have length less than or equal to 15",
        ));
    } else if runtimes.iter().any(|r| !runtime::is_known(r)) {
        violations.push((
            format!("[{}]", runtimes.join(", ")),
            "compatibleRuntimes",
            &runtime_enum,
        ));
    }
    let arch_ok =
        architectures.len() <= 2 && architectures.iter().all(|a| a == "x86_64" || a == "arm64");
    if !arch_ok {
        violations.push((
            format!("[{}]", architectures.join(", ")),
            "compatibleArchitectures",
            "Member must have length less than or equal to 2, Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
        ));
    }
    if description.chars().count() > 256 {
        violations.push((
            description.to_string(),
            "description",
            "Member must have length less than or equal to 256",
        ));
    }
    if license.chars().count() > 512 {
        violations.push((
            license.to_string(),
            "licenseInfo",
            "Member must have length less than or equal to 512",
        ));
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(crate::error::constraint_message(
            &violations,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns() {
        assert_eq!(parse_name("my-layer_1").unwrap(), "my-layer_1");
        assert_eq!(
            parse_name("arn:aws:lambda:us-east-1:000000000000:layer:lib").unwrap(),
            "lib"
        );
        assert_eq!(
            parse_name("bad name").unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(parse_name("").unwrap_err().code, "ValidationException");
        let arn = layer_version_arn("eu-west-1", "lib", 3);
        assert_eq!(arn, "arn:aws:lambda:eu-west-1:000000000000:layer:lib:3");
        assert_eq!(
            parse_version_arn(&arn),
            Some(("eu-west-1".into(), ACCOUNT_ID.into(), "lib".into(), 3))
        );
        assert_eq!(
            parse_version_arn("arn:aws:lambda:eu-west-1:000000000000:layer:lib"),
            None
        );
    }

    #[test]
    fn function_layer_lists() {
        let arn = |n: u64, name: &str| layer_version_arn("us-east-1", name, n);
        let six: Vec<String> = (1..=6).map(|i| arn(1, &format!("l{i}"))).collect();
        assert!(check_function_layers(&six)
            .unwrap_err()
            .message
            .contains("more than 5 layers"));
        assert_eq!(
            check_function_layers(&["nope".into()]).unwrap_err().code,
            "ValidationException"
        );
        assert!(check_function_layers(&[arn(1, "a"), arn(2, "a")])
            .unwrap_err()
            .message
            .starts_with("Two different versions"));
        assert!(check_function_layers(&[arn(1, "a"), arn(1, "b")]).is_ok());
    }

    #[test]
    fn publish_checks() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check_publish(&s(&["python3.12"]), &s(&["x86_64"]), "", "MIT").is_ok());
        let e = check_publish(&s(&["cobol"]), &[], "", "").unwrap_err();
        assert!(e.message.contains("compatibleRuntimes"), "{e}");
        let e = check_publish(&[], &s(&["sparc"]), "", "").unwrap_err();
        assert!(e.message.contains("compatibleArchitectures"), "{e}");
        let many = vec!["python3.12".to_string(); 16];
        assert!(check_publish(&many, &[], "", "").is_err());
    }
}
