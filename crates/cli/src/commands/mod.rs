//! The client commands: each talks to a running server through the AWS APIs it serves.
//! Errors are printed with the AWS code and message and a hint at what to do about them.

mod deploy;
mod invoke;
mod logs;
mod ls;
mod nodes;
mod rollout;
mod usage;
mod versions;

use std::process::ExitCode;

use clap::Subcommand;

use crate::client::{enc, Client, Error};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Zip a folder and create the function, or update its code and configuration.
    Deploy(deploy::Args),
    /// Invoke a function and print its response.
    Invoke(invoke::Args),
    /// Publish a version of a function from its current code and configuration.
    Publish(versions::PublishArgs),
    /// Create or update an alias, optionally splitting traffic between two versions.
    Alias(versions::AliasArgs),
    /// List functions.
    Ls,
    /// Print a function's log events.
    Logs(logs::Args),
    /// Invocations and their cost.
    Usage(usage::Args),
    /// The nodes of the cluster: address, uptime, load and warm environments.
    Nodes(nodes::Args),
    /// Roll an alias over to a new version with a canary or linear schedule, rolled back
    /// when an alarm fires; `rollout status <fn>` shows its progress.
    Rollout(rollout::Args),
}

impl ClientCommand {
    /// The function the command is about, for hints.
    fn function(&self) -> Option<&str> {
        match self {
            ClientCommand::Deploy(a) => Some(&a.name),
            ClientCommand::Invoke(a) => Some(&a.name),
            ClientCommand::Publish(a) => Some(&a.name),
            ClientCommand::Alias(a) => Some(&a.name),
            ClientCommand::Logs(a) => Some(&a.name),
            ClientCommand::Rollout(a) => a.function(),
            ClientCommand::Ls | ClientCommand::Usage(_) | ClientCommand::Nodes(_) => None,
        }
    }
}

pub fn run(command: ClientCommand, endpoint: Option<String>) -> ExitCode {
    let client = match Client::from_env(endpoint) {
        Ok(c) => c,
        Err(e) => return fail(&e, None, "http://127.0.0.1:4566"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&Error::other(e.to_string()), None, &client.endpoint),
    };
    let function = command.function().map(str::to_string);
    let result = runtime.block_on(async {
        match command {
            ClientCommand::Deploy(a) => deploy::run(&client, a).await.map(|()| true),
            ClientCommand::Invoke(a) => invoke::run(&client, a).await,
            ClientCommand::Publish(a) => versions::publish(&client, a).await.map(|()| true),
            ClientCommand::Alias(a) => versions::alias(&client, a).await.map(|()| true),
            ClientCommand::Ls => ls::run(&client).await.map(|()| true),
            ClientCommand::Logs(a) => logs::run(&client, a).await.map(|()| true),
            ClientCommand::Usage(a) => usage::run(&client, a).await.map(|()| true),
            ClientCommand::Nodes(a) => nodes::run(&client, a).await.map(|()| true),
            ClientCommand::Rollout(a) => rollout::run(&client, a).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => fail(&e, function.as_deref(), &client.endpoint),
    }
}

fn fail(e: &Error, function: Option<&str>, endpoint: &str) -> ExitCode {
    eprintln!("error: {e}");
    if let Some(h) = hint(e, function, endpoint) {
        eprintln!("hint: {h}");
    }
    ExitCode::FAILURE
}

/// What to try next, for the errors people meet.
fn hint(e: &Error, function: Option<&str>, endpoint: &str) -> Option<String> {
    if let Error::Connect { .. } = e {
        return Some(format!(
            "is `stratus serve` running at {endpoint}? (set --endpoint or STRATUS_ENDPOINT to use another address)"
        ));
    }
    let code = e.code()?;
    Some(match code {
        "ResourceNotFoundException" => match function {
            Some(f) => format!(
                "no function named {f} (or no such version or alias); `stratus ls` lists them"
            ),
            None => "it does not exist; `stratus ls` lists the functions".into(),
        },
        "ResourceConflictException" => {
            "it already exists, or an update is still in progress; try again in a moment".into()
        }
        "InvalidParameterValueException" | "ValidationException" => {
            "check the values given to the command (`stratus <command> --help`)".into()
        }
        "UnrecognizedClientException" | "InvalidSignatureException" => {
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the server's access key pair".into()
        }
        "TooManyRequestsException" => {
            "the concurrency limit is reached; retry shortly or raise the limit".into()
        }
        "InvalidRequestContentException" => "the payload must be a JSON document".into(),
        "RequestEntityTooLargeException" => {
            "the package or payload is too large; leave out files the function does not need".into()
        }
        _ => return None,
    })
}

/// A progress line, on stderr so stdout stays the result.
pub fn progress(msg: &str) {
    eprintln!("{msg}");
}

/// `/2015-03-31/functions/<name>`.
pub fn function_path(name: &str) -> String {
    format!("/2015-03-31/functions/{}", enc(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_function_and_the_endpoint() {
        let nf = Error::Aws {
            code: "ResourceNotFoundException".into(),
            message: "Function not found".into(),
        };
        assert!(hint(&nf, Some("f"), "e")
            .unwrap()
            .starts_with("no function named f"));
        let c = Error::Connect {
            endpoint: "http://h:1".into(),
            reason: "refused".into(),
        };
        assert!(hint(&c, None, "http://h:1")
            .unwrap()
            .contains("is `stratus serve` running at http://h:1?"));
    }
}
