//! Aliases: a name pointing at a published version, optionally splitting traffic with one
//! more version by weight.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alias {
    pub name: String,
    pub function_version: String,
    pub description: String,
    /// Additional version → weight in [0, 1].
    pub weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

impl Alias {
    /// Picks the version one invocation runs: the additional version with probability equal to
    /// its weight, the primary otherwise (AWS's "simple probabilistic model"). `roll` is a
    /// uniform sample in [0, 1).
    pub fn pick_version(&self, roll: f64) -> &str {
        match self.weights.iter().next() {
            Some((v, w)) if roll < *w => v,
            _ => &self.function_version,
        }
    }
}

/// Validates an alias name: 1-128 of `[a-zA-Z0-9-_]`, not all digits.
pub fn validate_name(name: &str) -> Result<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^[a-zA-Z0-9-_]+$").unwrap());
    let all_digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    if name.is_empty() || name.len() > 128 || !re.is_match(name) || all_digits {
        return Err(Error::constraint(
            name,
            "name",
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ));
    }
    Ok(())
}

/// Validates the primary version an alias points at: `$LATEST` or digits.
pub fn validate_target(version: &str) -> Result<()> {
    let digits = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
    if version != "$LATEST" && !digits {
        return Err(Error::constraint(
            version,
            "functionVersion",
            r"Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)",
        ));
    }
    Ok(())
}

/// Validates AdditionalVersionWeights against the primary version, with AWS's rules and
/// messages (existence of the versions is checked by the caller, who has the store).
pub fn validate_weights(primary: &str, weights: &BTreeMap<String, f64>) -> Result<()> {
    if weights.is_empty() {
        return Ok(());
    }
    let rendered = format!(
        "{{{}}}",
        weights
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if weights
        .values()
        .any(|w| !(0.0..=1.0).contains(w) || w.is_nan())
    {
        return Err(Error::constraint(
            rendered,
            "routingConfig.additionalVersionWeights",
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
        ));
    }
    let bad_key = weights
        .keys()
        .any(|k| k.is_empty() || k.len() > 1024 || !k.bytes().all(|b| b.is_ascii_digit()));
    if bad_key {
        return Err(Error::constraint(
            rendered,
            "routingConfig.additionalVersionWeights",
            "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
        ));
    }
    if weights.len() > 1 {
        return Err(Error::invalid(
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ));
    }
    if primary == "$LATEST" {
        return Err(Error::invalid(
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ));
    }
    if weights.contains_key(primary) {
        return Err(Error::invalid(format!(
            "Invalid function version {primary}. Function version {primary} is already included in routing configuration."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighted(w: f64) -> Alias {
        Alias {
            name: "prod".into(),
            function_version: "1".into(),
            description: String::new(),
            weights: [("2".to_string(), w)].into_iter().collect(),
            revision_id: "r".into(),
        }
    }

    #[test]
    fn picks_by_weight() {
        let a = weighted(0.4);
        assert_eq!(a.pick_version(0.1), "2");
        assert_eq!(a.pick_version(0.39), "2");
        assert_eq!(a.pick_version(0.4), "1");
        assert_eq!(a.pick_version(0.99), "1");
    }

    #[test]
    fn weight_rules() {
        let one = |k: &str, w: f64| -> BTreeMap<String, f64> {
            [(k.to_string(), w)].into_iter().collect()
        };
        assert!(validate_weights("1", &one("2", 0.4)).is_ok());
        assert_eq!(
            validate_weights("1", &one("2", 2.0)).unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(
            validate_weights("1", &one("$LATEST", 0.5))
                .unwrap_err()
                .code,
            "ValidationException"
        );
        assert!(validate_weights("1", &one("1", 0.5))
            .unwrap_err()
            .message
            .contains("already included"));
        assert!(validate_weights("$LATEST", &one("1", 0.5))
            .unwrap_err()
            .message
            .contains("$LATEST"));
        let mut two = one("2", 0.1);
        two.insert("3".into(), 0.1);
        assert!(validate_weights("1", &two)
            .unwrap_err()
            .message
            .contains("greater than 1"));
    }

    #[test]
    fn alias_names() {
        assert!(validate_name("prod").is_ok());
        assert!(validate_name("2024-01-02").is_ok());
        assert_eq!(
            validate_name("2024").unwrap_err().code,
            "ValidationException"
        );
    }
}
