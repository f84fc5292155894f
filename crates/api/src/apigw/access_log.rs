//! Access logs of HTTP API stages: a stage's `accessLogSettings` name a CloudWatch Logs group
//! (by ARN) and a format with `$context` variables; after each request the stage served, the
//! format with its variables replaced is appended to the stream `<apiId>_<stage>` of that group.
//! As on AWS nothing creates the group: while it does not exist the lines are dropped
//! (decision 0026). Lines are written off the request's path, after its response is ready.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use stratus_core::{Result, ACCOUNT_ID};
use stratus_engine::logs::Captured;
use time::OffsetDateTime;

use super::authorize::Granted;
use super::bad_request;
use crate::Shared;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The log group a destination ARN names: `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`.
pub fn group_of(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:logs:")?;
    let mut parts = rest.splitn(4, ':');
    let (_region, _account, kind, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = name.strip_suffix(":*").unwrap_or(name);
    let valid = kind == "log-group"
        && !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
    valid.then_some(name)
}

/// AWS's checks of `accessLogSettings`: a log group ARN, and a format that names the request.
pub fn check(s: &AccessLogSettings) -> Result<()> {
    let (Some(arn), Some(format)) = (&s.destination_arn, &s.format) else {
        if s.destination_arn.is_some() || s.format.is_some() {
            return Err(bad_request(
                "Access log settings need both a destination ARN and a format.",
            ));
        }
        return Ok(());
    };
    if group_of(arn).is_none() {
        return Err(bad_request(format!(
            "Invalid destination ARN: {arn}. It must be the ARN of a CloudWatch Logs log group."
        )));
    }
    if format.chars().count() > 4096 {
        return Err(bad_request(
            "Access log format must be at most 4096 characters.",
        ));
    }
    if !format.contains("$context.requestId") && !format.contains("$context.extendedRequestId") {
        return Err(bad_request(
            "Access log format must contain at least one of $context.requestId or $context.extendedRequestId",
        ));
    }
    Ok(())
}

/// What one request did, gathered as the data plane serves it.
pub struct Record {
    pub request_id: String,
    pub started: Instant,
    pub time: OffsetDateTime,
    pub api_id: String,
    pub method: String,
    pub path: String,
    pub protocol: String,
    pub source_ip: String,
    pub user_agent: String,
    pub domain_name: String,
    /// Set once a stage is chosen: where its lines go, and their format.
    pub destination: Option<(String, String)>,
    pub stage: Option<String>,
    pub route_key: Option<String>,
    pub status: u16,
    pub response_length: Option<u64>,
    pub integration_latency: Option<u128>,
    pub integration_status: Option<u16>,
    pub integration_error: Option<String>,
    pub error_message: Option<String>,
    pub authorizer: Option<Granted>,
    pub authorizer_error: Option<String>,
}

impl Record {
    pub fn new(request_id: &str, api_id: &str, method: &str, path: &str) -> Record {
        Record {
            request_id: request_id.to_string(),
            started: Instant::now(),
            time: OffsetDateTime::now_utc(),
            api_id: api_id.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            protocol: String::new(),
            source_ip: String::new(),
            user_agent: String::new(),
            domain_name: String::new(),
            destination: None,
            stage: None,
            route_key: None,
            status: 0,
            response_length: None,
            integration_latency: None,
            integration_status: None,
            integration_error: None,
            error_message: None,
            authorizer: None,
            authorizer_error: None,
        }
    }

    /// Takes what the request itself says.
    pub fn describe(&mut self, http: &super::events::HttpRequest) {
        self.protocol = http.protocol.clone();
        self.source_ip = http.source_ip.clone();
        self.domain_name = http.domain_name.clone();
        self.user_agent = http
            .headers
            .get("user-agent")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
    }

    /// The value of `$context.<name>`, if the request has one.
    fn variable(&self, name: &str) -> Option<String> {
        let v = match name {
            "requestId" | "extendedRequestId" => self.request_id.clone(),
            "apiId" | "domainPrefix" => self.api_id.clone(),
            "accountId" => ACCOUNT_ID.to_string(),
            "stage" => self.stage.clone()?,
            "routeKey" => self.route_key.clone()?,
            "httpMethod" => self.method.clone(),
            "path" => self.path.clone(),
            "protocol" => self.protocol.clone(),
            "domainName" => self.domain_name.clone(),
            "identity.sourceIp" => self.source_ip.clone(),
            "identity.userAgent" => self.user_agent.clone(),
            "requestTime" => super::events::clf_time(self.time),
            "requestTimeEpoch" => stratus_core::clock::epoch_ms(self.time).to_string(),
            "status" => self.status.to_string(),
            "responseLength" => self.response_length?.to_string(),
            "responseLatency" => self.started.elapsed().as_millis().to_string(),
            "integrationLatency" | "integration.latency" => self.integration_latency?.to_string(),
            "integrationStatus" | "integration.integrationStatus" | "integration.status" => {
                self.integration_status?.to_string()
            }
            "integrationErrorMessage" | "integration.error" => self.integration_error.clone()?,
            "error.message" => self.error_message.clone()?,
            "error.messageString" => format!("\"{}\"", self.error_message.clone()?),
            "authorizer.error" => self.authorizer_error.clone()?,
            _ => {
                let rest = name.strip_prefix("authorizer.")?;
                self.authorizer.as_ref()?.variable(rest)?
            }
        };
        Some(v)
    }
}

/// Characters that may continue a `$context.` variable name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// The format with every `$context.<name>` replaced by its value, `-` when there is none.
/// Values are escaped as inside a JSON string, so JSON formats stay JSON.
pub fn line(format: &str, r: &Record) -> String {
    const MARK: &str = "$context.";
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARK.len()..];
        let len = after.find(|c| !name_char(c)).unwrap_or(after.len());
        // A trailing dot ends the sentence, not the name.
        let name = after[..len].trim_end_matches('.');
        match r.variable(name) {
            Some(v) => escape_into(&mut out, &v),
            None => out.push('-'),
        }
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Writes the request's line, if its stage logs, on a blocking thread.
pub fn write(s: &Shared, r: Record) {
    let Some((arn, format)) = r.destination.as_ref() else {
        return;
    };
    let Some(group) = group_of(arn).map(str::to_string) else {
        return;
    };
    let stream = format!("{}_{}", r.api_id, r.stage.as_deref().unwrap_or(""));
    let text = line(format, &r);
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let mut captured = Captured::default();
        captured.push(format!("{text}\n").as_bytes());
        let logs = s.invoker.engine().logs();
        match logs.group_exists(&group) {
            Ok(true) => logs.append(&group, &stream, &captured),
            Ok(false) => tracing::debug!(group, "access log group does not exist; line dropped"),
            Err(e) => tracing::warn!(group, error = %e, "access log not written"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_name_log_groups() {
        assert_eq!(
            group_of("arn:aws:logs:us-east-1:000000000000:log-group:/api/access"),
            Some("/api/access")
        );
        assert_eq!(
            group_of("arn:aws:logs:us-east-1:000000000000:log-group:g:*"),
            Some("g")
        );
        assert_eq!(group_of("arn:aws:s3:::bucket"), None);
        assert_eq!(group_of("arn:aws:logs:us-east-1:0:log-group:"), None);
        assert_eq!(group_of("arn:aws:logs:us-east-1:0:log-group:a b"), None);
    }

    #[test]
    fn settings_are_checked() {
        let ok = AccessLogSettings {
            destination_arn: Some("arn:aws:logs:us-east-1:0:log-group:g".into()),
            format: Some("$context.requestId $context.status".into()),
        };
        check(&ok).unwrap();
        let mut no_id = ok.clone();
        no_id.format = Some("$context.status".into());
        assert!(check(&no_id).is_err());
        let mut half = ok.clone();
        half.format = None;
        assert!(check(&half).is_err());
        check(&AccessLogSettings::default()).unwrap();
    }

    #[test]
    fn variables_are_substituted() {
        let mut r = Record::new("rid", "api1", "GET", "/dev/items");
        r.stage = Some("dev".into());
        r.status = 200;
        r.response_length = Some(12);
        r.user_agent = "say \"hi\"".into();
        let l = line(
            r#"{"id":"$context.requestId","s":$context.status,"len":"$context.responseLength","r":"$context.routeKey","ua":"$context.identity.userAgent","x":"$context.nope"}. $context.stage."#,
            &r,
        );
        assert_eq!(
            l,
            r#"{"id":"rid","s":200,"len":"12","r":"-","ua":"say \"hi\"","x":"-"}. dev."#
        );
        assert_eq!(line("no variables", &r), "no variables");
        assert_eq!(line("$context.", &r), "-");
    }
}
