//! What travels on the internal channel: a [`Forward`]ed invocation and its [`Answer`], as
//! JSON (bytes as base64). The answer carries everything the caller's node needs to give its
//! client exactly what the running node would have given.

use serde::{Deserialize, Serialize};

/// An invocation handed to another node, its version already chosen by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    /// The trigger's stored name (`direct`, `s3`, ...), metered by the node that runs it.
    pub trigger: String,
    pub region: String,
    pub function: String,
    /// What the caller named (an alias is metered and shown in the invoked ARN as such).
    pub qualifier: Option<String>,
    /// The version the caller's resolution chose (alias weights included).
    pub version: String,
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
    pub request_id: String,
    pub want_log: bool,
    /// The trace header the invocation runs with (lineage already counted by the caller).
    #[serde(default)]
    pub trace: Option<String>,
}

/// The running node's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// The invocation ran (successfully or not).
    Ran(Ran),
    /// A concurrency limit refused it; `reason` is AWS's `Reason`.
    Throttled { reason: String },
    /// The node could not start an environment.
    Platform,
    /// The node has no idle environment for the version and no room for another: the caller
    /// tries the next node.
    Full,
    /// The node could not run what the caller resolved (its metadata disagrees, for a
    /// moment, or a store failed): the caller runs the call itself.
    Rejected { message: String },
}

/// An invocation that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ran {
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// How it ended: `success`, `function_error`, `timed_out`, `exited`, `init_error`,
    /// `init_exited`, `init_timed_out`.
    pub ending: String,
    pub executed_version: String,
    #[serde(with = "b64")]
    pub log: Vec<u8>,
    pub cold: bool,
    pub duration_us: u64,
    pub init_duration_us: Option<u64>,
    pub max_memory_mb: u64,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_and_answers_round_trip() {
        let f = Forward {
            trigger: "direct".into(),
            region: "us-east-1".into(),
            function: "f".into(),
            qualifier: Some("live".into()),
            version: "3".into(),
            payload: vec![0, 255, b'{'],
            client_context: None,
            request_id: "r".into(),
            want_log: true,
            trace: Some("Root=1-00000000-0;Lineage=a87bd80c:3".into()),
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Forward>(&json).unwrap(), f);
        let answers = [
            Answer::Ran(Ran {
                payload: b"\"ok\"".to_vec(),
                ending: "success".into(),
                executed_version: "3".into(),
                log: b"START".to_vec(),
                cold: true,
                duration_us: 1500,
                init_duration_us: Some(90_000),
                max_memory_mb: 40,
            }),
            Answer::Throttled {
                reason: "ConcurrentInvocationLimitExceeded".into(),
            },
            Answer::Full,
            Answer::Platform,
        ];
        for a in answers {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Answer>(&json).unwrap(), a);
        }
        assert_eq!(
            serde_json::to_value(Answer::Full).unwrap(),
            serde_json::json!({"answer": "full"})
        );
    }
}
