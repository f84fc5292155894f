use super::*;

fn ev<'a>(ts: i64, message: &'a str) -> Event<'a> {
    Event {
        timestamp: ts,
        ingestion_time: ts,
        message,
        stream: "s",
        group: "/aws/lambda/f",
        ptr: "p",
    }
}

fn q(query: &str, events: &[(i64, &str)]) -> Vec<Vec<(String, String)>> {
    let q = Query::parse(query).unwrap_or_else(|e| panic!("{query}: {e:?}"));
    q.run(events.iter().map(|(t, m)| ev(*t, m)), 10_000).rows
}

fn cell<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

const REPORTS: &[(i64, &str)] = &[
    (0, "START RequestId: a Version: $LATEST"),
    (1, "REPORT RequestId: a\tDuration: 10.50 ms\tBilled Duration: 11 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 100.00 ms\t"),
    (60_000, "REPORT RequestId: b\tDuration: 20.00 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\t"),
    (400_000, "REPORT RequestId: c\tDuration: 30.00 ms\tBilled Duration: 30 ms\tMemory Size: 128 MB\tMax Memory Used: 42 MB\t"),
    (400_001, r#"{"level": "ERROR", "user": {"id": 7}, "latency": 250}"#),
];

#[test]
fn stats_by_bin_over_report_lines() {
    let rows = q(
        "filter @type = \"REPORT\" | stats count(*) as n, avg(@duration), max(@maxMemoryUsed / 1000 / 1000) as mem by bin(5m) | sort n desc",
        REPORTS,
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(cell(&rows[0], "n"), Some("2"));
    assert_eq!(cell(&rows[0], "bin(5m)"), Some("1970-01-01 00:00:00.000"));
    assert_eq!(cell(&rows[0], "avg(@duration)"), Some("15.25"));
    assert_eq!(cell(&rows[0], "mem"), Some("41"));
    assert_eq!(cell(&rows[1], "bin(5m)"), Some("1970-01-01 00:05:00.000"));
    let rows = q("stats pct(@duration, 50) as p50, count_distinct(@requestId) as ids, sum(@billedDuration) as billed", REPORTS);
    assert_eq!(
        rows,
        vec![vec![
            ("p50".into(), "20".into()),
            ("ids".into(), "3".into()),
            ("billed".into(), "61".into())
        ]]
    );
}

#[test]
fn fields_filter_sort_limit_and_json() {
    let rows = q(
        "fields @timestamp, @requestId, @initDuration | filter ispresent(@initDuration) | limit 5",
        REPORTS,
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(cell(&rows[0], "@initDuration"), Some("100"));
    assert_eq!(cell(&rows[0], "@ptr"), Some("p"));
    let rows = q(
        "filter level = 'ERROR' and user.id in [7, 8] and latency > 200 | display user.id, latency",
        REPORTS,
    );
    assert_eq!(
        rows,
        vec![vec![
            ("user.id".into(), "7".into()),
            ("latency".into(), "250".into()),
            ("@ptr".into(), "p".into())
        ]]
    );
    let rows = q("filter @message like /Duration: [23]0/ | sort @timestamp desc | limit 1 | fields @requestId", REPORTS);
    assert_eq!(cell(&rows[0], "@requestId"), Some("c"));
    let rows = q(
        "filter @message =~ \"RequestId\" and not @message like 'START'",
        REPORTS,
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(
        q(
            "filter @requestId not in ['a', 'b'] or @type = 'START'",
            REPORTS
        )
        .len(),
        2
    );
}

#[test]
fn parse_with_globs_and_regexes() {
    let events = [(0, "user=alice action=login took 12 ms"), (1, "noise")];
    let rows = q("parse @message 'user=* action=* took * ms' as user, action, ms | filter ms > 10 | display user, action", &events);
    assert_eq!(
        rows,
        vec![vec![
            ("user".into(), "alice".into()),
            ("action".into(), "login".into()),
            ("@ptr".into(), "p".into())
        ]]
    );
    let rows = q(
        "parse @message /user=(?<who>\\w+) action=(?<what>\\w+)/ | stats count(*) by who",
        &events,
    );
    assert_eq!(cell(&rows[0], "who"), Some("alice"));
    assert_eq!(cell(&rows[0], "count(*)"), Some("1"));
}

#[test]
fn malformed_queries() {
    let err = |s: &str| Query::parse(s).unwrap_err().message;
    assert_eq!(
        err("fields @message | bogus x"),
        "unexpected symbol found bogus at line 1 and position 19"
    );
    assert_eq!(
        err("filter"),
        "unexpected symbol found <EOF> at line 1 and position 7"
    );
    assert_eq!(
        err("stats count(*) by"),
        "unexpected symbol found <EOF> at line 1 and position 18"
    );
    assert!(err("filter (a = 1").starts_with("unexpected symbol found"));
    assert!(err("limit 0").starts_with("unexpected symbol found 0"));
    assert!(err("parse @message 'a*b*' as x").starts_with("unexpected symbol found"));
    assert_eq!(err("   "), "Query string cannot be empty");
    assert_eq!(
        err("stats @duration"),
        "Expression @duration is not an aggregate function"
    );
    assert!(err("filter @message like /(/").starts_with("unexpected symbol found"));
    assert!(err("filter nosuchfn(1)").starts_with("unexpected symbol found nosuchfn"));
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let deep = format!("filter {}a = 1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(Query::parse(&deep).is_err());
    let nots = format!("filter {}a = 1", "not ".repeat(5000));
    assert!(Query::parse(&nots).is_err());
    let ok = format!("filter {}a = 1{}", "(".repeat(10), ")".repeat(10));
    assert!(Query::parse(&ok).is_ok());
}
