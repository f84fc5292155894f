//! Time to live: which items have expired. An item expires when its table's TTL attribute is a
//! number of epoch seconds at or before now; like AWS, a time more than five years in the
//! past is taken for a mistake (milliseconds, say) and never expires the item.

use stratus_core::Error;

use crate::store::Db;
use crate::value::{Attr, Item};

/// Rows read per page: each page is one transaction.
const PAGE_ROWS: usize = 1000;
const FIVE_YEARS_SECS: i64 = 5 * 366 * 24 * 3600;

/// One page of a sweep: the expired keys (and items, for their stream records), and the key to continue after (`None`: done).
pub struct Page {
    pub expired: Vec<(Vec<u8>, Vec<u8>, Item)>,
    pub last: Option<(Vec<u8>, Vec<u8>)>,
}

/// Whether `item` has expired at `now` under TTL attribute `attr`.
pub fn expired(item: &Item, attr: &str, now: i64) -> bool {
    let Some(Attr::N(n)) = item.get(attr) else {
        return false;
    };
    let Ok(at) = n.to_string().parse::<f64>() else {
        return false;
    };
    at <= now as f64 && at >= (now - FIVE_YEARS_SECS) as f64
}

/// Reads up to a page of table `name` after `after` and picks out the expired items.
pub fn expired_page(
    db: &Db,
    name: &str,
    after: Option<&(Vec<u8>, Vec<u8>)>,
    now: i64,
) -> Result<Page, Error> {
    let Some(attr) = db.table_opt(name)?.and_then(|t| t.ttl.clone()) else {
        return Ok(Page {
            expired: Vec::new(),
            last: None,
        });
    };
    let mut page = Page {
        expired: Vec::new(),
        last: None,
    };
    let mut rows = 0;
    db.scan(
        name,
        after.map(|(p, s)| (p.as_slice(), s.as_slice())),
        |row| {
            rows += 1;
            if expired(&row.item, &attr, now) {
                page.expired
                    .push((row.pk.clone(), row.sk.clone(), row.item.clone()));
            }
            if rows == PAGE_ROWS {
                page.last = Some((row.pk, row.sk));
                return Ok(false);
            }
            Ok(true)
        },
    )?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::item_from_json;
    use serde_json::json;

    #[test]
    fn expiry_follows_the_ttl_attribute() {
        let now = 1_700_000_000;
        let item = |v: serde_json::Value| item_from_json(&json!({ "exp": v })).unwrap();
        assert!(expired(&item(json!({"N": "1699999999"})), "exp", now));
        assert!(expired(&item(json!({"N": "1700000000.5"})), "exp", now + 1));
        assert!(!expired(&item(json!({"N": "1700000001"})), "exp", now));
        // Not a number, or long before now (milliseconds mistaken for seconds): kept.
        assert!(!expired(&item(json!({"S": "1"})), "exp", now));
        assert!(!expired(&item(json!({"N": "1000"})), "exp", now));
        assert!(!expired(&item(json!({"N": "1"})), "other", now));
    }
}
