//! `stratus ls`: the functions as a table.

use http::Method;
use serde_json::Value;

use super::function_path;
use crate::client::{enc, Client, Error};
use crate::table::Table;

pub async fn run(client: &Client) -> Result<(), Error> {
    let functions = all_pages(client, "/2015-03-31/functions/", "Functions").await?;
    if functions.is_empty() {
        eprintln!("no functions yet; `stratus deploy ./dir --name N ...` creates one");
        return Ok(());
    }
    let mut table = Table::new(&[
        "NAME",
        "RUNTIME",
        "MEMORY>",
        "TIMEOUT>",
        "LAST MODIFIED",
        "VERSIONS>",
    ]);
    for f in &functions {
        let name = f["FunctionName"].as_str().unwrap_or_default();
        let path = format!("{}/versions", function_path(name));
        let versions = all_pages(client, &path, "Versions").await?;
        let published = versions
            .iter()
            .filter(|v| v["Version"] != "$LATEST")
            .count();
        table.row(vec![
            name.to_string(),
            f["Runtime"].as_str().unwrap_or("-").to_string(),
            format!("{} MB", f["MemorySize"].as_u64().unwrap_or(0)),
            format!("{} s", f["Timeout"].as_u64().unwrap_or(0)),
            short_time(f["LastModified"].as_str().unwrap_or_default()),
            published.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// Every item of a Marker/NextMarker listing.
async fn all_pages(client: &Client, path: &str, key: &str) -> Result<Vec<Value>, Error> {
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page_path = match &marker {
            Some(m) => format!("{path}?Marker={}", enc(m)),
            None => path.to_string(),
        };
        let page = client.lambda(Method::GET, &page_path, None).await?;
        items.extend(page[key].as_array().cloned().unwrap_or_default());
        match page["NextMarker"].as_str() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(items),
        }
    }
}

/// `2026-01-02T03:04:05.678+0000` as `2026-01-02 03:04:05`.
fn short_time(t: &str) -> String {
    match t.get(..19) {
        Some(s) => s.replacen('T', " ", 1),
        None => t.to_string(),
    }
}
