//! CloudWatch Logs filter patterns for unstructured text: terms (`ERROR`), quoted phrases
//! (`"request failed"`), any-of terms (`?ERROR ?WARN`) and exclusions (`ERROR -retrying`).
//! Matching is case-sensitive, as on AWS. The empty pattern matches every event. JSON
//! (`{ $.x = 1 }`) and space-delimited (`[ip, user, ...]`) patterns are not offered. Errors
//! are the message of CloudWatch Logs' `InvalidParameterException`.

#[derive(Debug, Default, PartialEq)]
pub struct Pattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl Pattern {
    /// Parses a pattern; the error is the message of an `InvalidParameterException`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text.starts_with('{') || text.starts_with('[') {
            return Err(
                "Invalid filter pattern: JSON and space-delimited filter patterns are not supported by this endpoint.".into(),
            );
        }
        let mut p = Pattern::default();
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else {
                break;
            };
            let list = match first {
                '?' => &mut p.any,
                '-' => &mut p.none,
                _ => &mut p.all,
            };
            if first == '?' || first == '-' {
                chars.next();
            }
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                let mut term = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => term.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => term.push(c),
                        None => {
                            return Err("Invalid filter pattern: unterminated quoted term.".into())
                        }
                    }
                }
                term
            } else {
                let mut term = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
                term
            };
            if !term.is_empty() {
                list.push(term);
            }
        }
        Ok(p)
    }

    /// Whether an event's message passes the pattern.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        Pattern::parse(p).unwrap().matches(msg)
    }

    #[test]
    fn terms_phrases_options_and_exclusions() {
        assert!(m("", "anything"));
        assert!(m("ERROR db", "ERROR: db down"));
        assert!(!m("ERROR db", "ERROR: cache down"));
        assert!(!m("error", "ERROR"));
        assert!(m("\"db down\"", "ERROR: db down"));
        assert!(!m("\"db down\"", "down db"));
        assert!(m("?WARN ?ERROR", "WARN x"));
        assert!(!m("?WARN ?ERROR", "INFO x"));
        assert!(!m("ERROR -retrying", "ERROR retrying"));
        assert!(Pattern::parse("{ $.a = 1 }").is_err());
    }
}
