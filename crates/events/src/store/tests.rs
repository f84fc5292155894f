use super::*;

fn open() -> (tempfile::TempDir, Events) {
    let dir = tempfile::tempdir().unwrap();
    let events = Events::open(&Location::Sqlite(dir.path().into())).unwrap();
    (dir, events)
}

fn rule(bus: &str, name: &str) -> Rule {
    Rule {
        name: name.into(),
        arn: rule_arn("us-east-1", bus, name),
        event_bus_name: bus.into(),
        event_pattern: Some(r#"{"source": ["x"]}"#.into()),
        state: "ENABLED".into(),
        ..Rule::default()
    }
}

fn target(id: &str) -> Target {
    Target {
        id: id.into(),
        arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{id}"),
        rest: Map::new(),
    }
}

#[test]
fn the_default_bus_exists_and_cannot_be_deleted() {
    let (_d, ev) = open();
    assert!(ev.bus("us-east-1", "default").unwrap().is_some());
    assert_eq!(
        ev.delete_bus("default").unwrap_err().code,
        "ValidationException"
    );
    ev.create_bus("us-east-1", "orders", Some("d"), &Tags::new())
        .unwrap();
    let again = ev.create_bus("us-east-1", "orders", None, &Tags::new());
    assert_eq!(again.unwrap_err().code, "ResourceAlreadyExistsException");
    let names: Vec<String> = ev
        .list_buses("us-east-1", "", "", 10)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["default", "orders"]);
}

#[test]
fn rules_need_their_bus_and_keep_tags_when_replaced() {
    let (_d, ev) = open();
    let e = ev.put_rule(&rule("nope", "r"), None).unwrap_err();
    assert_eq!(e.message, "Event bus nope does not exist.");
    let mut r = rule("default", "r");
    r.tags.insert("k".into(), "v".into());
    assert_eq!(
        ev.put_rule(&r, None).unwrap(),
        "arn:aws:events:us-east-1:000000000000:rule/r"
    );
    let mut r2 = rule("default", "r");
    r2.description = Some("new".into());
    ev.put_rule(&r2, None).unwrap();
    let got = ev.rule("default", "r").unwrap();
    assert_eq!(got.description.as_deref(), Some("new"));
    assert_eq!(got.tags.get("k").map(String::as_str), Some("v"));
    assert_eq!(ev.tags(&got.arn).unwrap().len(), 1);
    let e = ev.rule("default", "other").unwrap_err();
    assert_eq!(e.message, "Rule other does not exist on EventBus default.");
}

#[test]
fn a_rule_with_targets_cannot_be_deleted() {
    let (_d, ev) = open();
    ev.put_rule(&rule("default", "r"), None).unwrap();
    ev.put_targets("default", "r", &[target("a"), target("b")])
        .unwrap();
    assert_eq!(
        ev.delete_rule("default", "r").unwrap_err().message,
        "Rule can't be deleted since it has targets."
    );
    let missing = ev
        .remove_targets("default", "r", &["a".into(), "zz".into()])
        .unwrap();
    assert_eq!(missing, ["zz"]);
    assert_eq!(
        ev.rule_names_by_target("default", &target("b").arn)
            .unwrap(),
        ["r"]
    );
    ev.remove_targets("default", "r", &["b".into()]).unwrap();
    ev.delete_rule("default", "r").unwrap();
    assert!(ev.rule("default", "r").is_err());
}

#[test]
fn targets_are_limited_per_rule() {
    let (_d, ev) = open();
    ev.put_rule(&rule("default", "r"), None).unwrap();
    let five: Vec<Target> = (0..5).map(|i| target(&format!("t{i}"))).collect();
    ev.put_targets("default", "r", &five).unwrap();
    // Replacing one is fine; a sixth is not.
    ev.put_targets("default", "r", &[target("t0")]).unwrap();
    let e = ev.put_targets("default", "r", &[target("t5")]).unwrap_err();
    assert_eq!(e.code, "LimitExceededException");
    assert_eq!(ev.targets("default", "r").unwrap().len(), 5);
}

#[test]
fn one_claimer_wins_each_occurrence() {
    let (_d, ev) = open();
    let mut r = rule("default", "tick");
    r.event_pattern = None;
    r.schedule_expression = Some("rate(1 minute)".into());
    ev.put_rule(&r, Some(1_000)).unwrap();
    assert_eq!(ev.due_rules(999, 10).unwrap().len(), 0);
    let due = ev.due_rules(1_000, 10).unwrap();
    assert_eq!(due, [("default".to_string(), "tick".to_string(), 1_000)]);
    assert!(ev
        .claim_rule("default", "tick", 1_000, Some(61_000))
        .unwrap()
        .is_some());
    // A second node that read the same due time loses.
    assert!(ev
        .claim_rule("default", "tick", 1_000, Some(61_000))
        .unwrap()
        .is_none());
    assert_eq!(ev.due_rules(61_000, 10).unwrap()[0].2, 61_000);
}

#[test]
fn a_completed_one_time_schedule_is_deleted_when_asked() {
    let (_d, ev) = open();
    let mut doc = Map::new();
    doc.insert("ActionAfterCompletion".into(), "DELETE".into());
    let s = Schedule {
        group: "default".into(),
        name: "once".into(),
        doc,
        next_fire_ms: Some(5),
    };
    ev.put_schedule(&s, true).unwrap();
    assert_eq!(
        ev.put_schedule(&s, true).unwrap_err().code,
        "ConflictException"
    );
    assert!(ev
        .claim_schedule("default", "once", 5, |_| None)
        .unwrap()
        .is_some());
    assert!(ev.schedule("default", "once").unwrap().is_none());
    let s = Schedule {
        group: "nope".into(),
        name: "x".into(),
        doc: Map::new(),
        next_fire_ms: None,
    };
    assert_eq!(
        ev.put_schedule(&s, true).unwrap_err().code,
        "ResourceNotFoundException"
    );
}
