//! Parsing the `FunctionName` argument every Lambda operation takes: a bare name, a partial
//! ARN (`000000000000:function:NAME`, `function:NAME`) or a full ARN, each optionally followed by
//! `:QUALIFIER`. Parsed once at the edge into a [`FunctionRef`].

use std::sync::OnceLock;

use regex::Regex;

use crate::error::{constraint_message, Error, Result};

/// AWS's `FunctionName` pattern (botocore's `NamespacedFunctionName`, which also admits `.`).
const PATTERN: &str = r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?((\d{12}):)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?$";

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(PATTERN).expect("valid pattern"))
}

/// A reference to a function, as a caller named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    /// The qualifier embedded in the name (`NAME:3`, `...:function:NAME:prod`).
    pub qualifier: Option<String>,
    /// The region of a full ARN, if one was given.
    pub region: Option<String>,
}

impl FunctionRef {
    /// Parses a `FunctionName` argument as received on the wire (already URL-decoded).
    pub fn parse(raw: &str) -> Result<Self> {
        // A bare name (the common case) is what the pattern admits without any `:`.
        let bare = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if (1..=64).contains(&raw.len()) && raw.bytes().all(bare) {
            return Ok(FunctionRef {
                name: raw.to_string(),
                qualifier: None,
                region: None,
            });
        }
        let caps = pattern().captures(raw).ok_or_else(|| {
            Error::validation(constraint_message(&[(
                raw.to_string(),
                "functionName",
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    PATTERN_DOC
                ),
            )]))
        })?;
        let name = caps
            .name("name")
            .map(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        if name.len() > 64 {
            return Err(Error::invalid(constraint_message(&[(
                name,
                "functionName",
                "Member must have length less than or equal to 64",
            )])));
        }
        if raw.len() > 256 {
            return Err(Error::validation(constraint_message(&[(
                raw.to_string(),
                "functionName",
                "Member must have length less than or equal to 256",
            )])));
        }
        Ok(FunctionRef {
            name,
            qualifier: caps.name("qualifier").map(|m| m.as_str().to_string()),
            region: caps.name("region").map(|m| m.as_str().to_string()),
        })
    }

    /// Checks an ARN's region against the request's and merges an explicit `Qualifier`
    /// parameter with the one embedded in the name.
    pub fn resolve(mut self, request_region: &str, explicit: Option<&str>) -> Result<Self> {
        if let Some(region) = &self.region {
            if region != request_region {
                return Err(Error::not_found(format!(
                    "Functions from '{region}' are not reachable in this region ('{request_region}')"
                )));
            }
        }
        match (self.qualifier.as_deref(), explicit) {
            (Some(a), Some(b)) if a != b => Err(Error::invalid(
                "The derived qualifier from the function name does not match the specified qualifier.",
            )),
            (None, Some(b)) => {
                validate_qualifier(b)?;
                self.qualifier = Some(b.to_string());
                Ok(self)
            }
            _ => Ok(self),
        }
    }

    /// Rejects a qualifier for operations that act on the function as a whole.
    pub fn unqualified(&self, message: &str) -> Result<()> {
        match self.qualifier {
            Some(_) => Err(Error::invalid(message)),
            None => Ok(()),
        }
    }
}

const PATTERN_DOC: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";

/// A qualifier: `$LATEST`, a version number or an alias name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    Latest,
    Version(u64),
    Alias(String),
}

impl Qualifier {
    pub fn parse(q: Option<&str>) -> Qualifier {
        match q {
            None | Some("$LATEST") => Qualifier::Latest,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if !s.starts_with('+') => Qualifier::Version(n),
                _ => Qualifier::Alias(s.to_string()),
            },
        }
    }
}

pub fn validate_qualifier(q: &str) -> Result<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re =
        RE.get_or_init(|| Regex::new(r"^(\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+)$").unwrap());
    if q.is_empty() || q.len() > 128 || !re.is_match(q) {
        return Err(Error::validation(constraint_message(&[(
            q.to_string(),
            "qualifier",
            r"Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
        )])));
    }
    Ok(())
}

/// Validates a bare function name for CreateFunction (no ARN forms with other accounts).
pub fn validate_bare_name(name: &str) -> Result<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^[a-zA-Z0-9-_]+$").unwrap());
    if !re.is_match(name) {
        return Err(Error::validation(constraint_message(&[(
            name.to_string(),
            "functionName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+",
        )])));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_form() {
        let plain = FunctionRef::parse("hello").unwrap();
        assert_eq!((plain.name.as_str(), plain.qualifier), ("hello", None));
        let q = FunctionRef::parse("hello:3").unwrap();
        assert_eq!(q.qualifier.as_deref(), Some("3"));
        let partial = FunctionRef::parse("000000000000:function:hello:prod").unwrap();
        assert_eq!(partial.name, "hello");
        assert_eq!(partial.qualifier.as_deref(), Some("prod"));
        let arn =
            FunctionRef::parse("arn:aws:lambda:eu-west-1:000000000000:function:hello:$LATEST")
                .unwrap();
        assert_eq!(arn.region.as_deref(), Some("eu-west-1"));
        assert_eq!(arn.qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(FunctionRef::parse("function:hello").unwrap().name, "hello");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(
            FunctionRef::parse("bad name").unwrap_err().code,
            "ValidationException"
        );
        let long = "a".repeat(65);
        assert_eq!(
            FunctionRef::parse(&long).unwrap_err().code,
            "InvalidParameterValueException"
        );
    }

    #[test]
    fn region_and_qualifier_conflicts() {
        let r =
            FunctionRef::parse("arn:aws:lambda:ap-southeast-1:000000000000:function:f").unwrap();
        let e = r.resolve("us-east-1", None).unwrap_err();
        assert_eq!(e.kind, crate::Kind::NotFound);
        assert!(e.message.contains("'ap-southeast-1'"));
        let r = FunctionRef::parse("f:1").unwrap();
        assert_eq!(
            r.clone().resolve("us-east-1", Some("2")).unwrap_err().kind,
            crate::Kind::InvalidInput
        );
        assert_eq!(
            r.resolve("us-east-1", Some("1"))
                .unwrap()
                .qualifier
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn qualifier_kinds() {
        assert_eq!(Qualifier::parse(None), Qualifier::Latest);
        assert_eq!(Qualifier::parse(Some("12")), Qualifier::Version(12));
        assert_eq!(
            Qualifier::parse(Some("prod")),
            Qualifier::Alias("prod".into())
        );
    }
}
