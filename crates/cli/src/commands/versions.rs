//! `stratus publish N` (PublishVersion) and `stratus alias N A --version V [--weight V=W]`
//! (CreateAlias, or UpdateAlias when it exists).

use http::Method;
use serde_json::{json, Map, Value};

use super::{function_path, progress};
use crate::client::{enc, Client, Error};

#[derive(clap::Args)]
pub struct PublishArgs {
    /// Function name.
    pub name: String,
    /// A description for the version.
    #[arg(long)]
    pub description: Option<String>,
}

pub async fn publish(client: &Client, args: PublishArgs) -> Result<(), Error> {
    let mut body = Map::new();
    if let Some(d) = args.description {
        body.insert("Description".into(), json!(d));
    }
    let path = format!("{}/versions", function_path(&args.name));
    let v = client
        .lambda(Method::POST, &path, Some(&Value::Object(body)))
        .await?;
    println!("version: {}", v["Version"].as_str().unwrap_or_default());
    println!("arn:     {}", v["FunctionArn"].as_str().unwrap_or_default());
    println!("sha256:  {}", v["CodeSha256"].as_str().unwrap_or_default());
    Ok(())
}

#[derive(clap::Args)]
pub struct AliasArgs {
    /// Function name.
    pub name: String,
    /// Alias name.
    pub alias: String,
    /// The version the alias points to.
    #[arg(long)]
    pub version: String,
    /// Send a share of traffic to another version, e.g. 3=0.4 (repeatable).
    #[arg(long = "weight", value_name = "VERSION=WEIGHT")]
    pub weights: Vec<String>,
}

pub async fn alias(client: &Client, args: AliasArgs) -> Result<(), Error> {
    let mut weights = Map::new();
    for w in &args.weights {
        let (v, share) = w
            .split_once('=')
            .ok_or_else(|| Error::other(format!("--weight {w}: expected VERSION=WEIGHT")))?;
        let share: f64 = share
            .parse()
            .map_err(|_| Error::other(format!("--weight {w}: the weight must be a number")))?;
        weights.insert(v.into(), json!(share));
    }
    let body = json!({
        "FunctionVersion": args.version,
        "RoutingConfig": { "AdditionalVersionWeights": weights },
    });
    let path = format!("{}/aliases", function_path(&args.name));
    let created = {
        let mut create = body.clone();
        create["Name"] = json!(args.alias);
        client.lambda(Method::POST, &path, Some(&create)).await
    };
    let a = match created {
        Ok(a) => {
            progress(&format!("Created alias {}", args.alias));
            a
        }
        Err(e) if e.code() == Some("ResourceConflictException") => {
            let a = client
                .lambda(
                    Method::PUT,
                    &format!("{path}/{}", enc(&args.alias)),
                    Some(&body),
                )
                .await?;
            progress(&format!("Updated alias {}", args.alias));
            a
        }
        Err(e) => return Err(e),
    };
    println!("alias:   {}", a["Name"].as_str().unwrap_or_default());
    println!(
        "version: {}",
        a["FunctionVersion"].as_str().unwrap_or_default()
    );
    if let Some(w) = a["RoutingConfig"]["AdditionalVersionWeights"].as_object() {
        for (v, share) in w {
            println!("weight:  {v}={share}");
        }
    }
    println!("arn:     {}", a["AliasArn"].as_str().unwrap_or_default());
    Ok(())
}
