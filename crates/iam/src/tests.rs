//! The evaluator against the examples of AWS's policy-evaluation documentation, as a table.

use std::sync::Arc;

use crate::eval::{evaluate, Decision, Request, Who};
use crate::policy::{Kind, Policy};
use crate::Context;

fn identity(doc: &str) -> Arc<Policy> {
    Arc::new(Policy::parse(doc, Kind::Identity).unwrap())
}

const WHO: Who<'static> = Who {
    arn: "arn:aws:iam::000000000000:user/carlos",
    role_arn: None,
    account: "000000000000",
    service: None,
};

struct Case {
    name: &'static str,
    identity: &'static [&'static str],
    resource_policy: Option<&'static str>,
    action: &'static str,
    resource: &'static str,
    context: &'static [(&'static str, &'static str)],
    want: Decision,
}

const ALLOW_S3_READ: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}}"#;
const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}}"#;
const ALL: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
const NOT_IAM: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;
const NOT_RESOURCE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}}"#;
const ONE_TABLE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/Books"}}"#;
const LEADING_KEYS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*","Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["carlos"]}}}}"#;
const TLS_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
const HOME_PREFIX: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home","Condition":{"StringLike":{"s3:prefix":["carlos/*"]}}}}"#;
const BUCKET_POLICY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/carlos"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}"#;
const BUCKET_DENY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::locked/*"}}"#;

const HOME_FOLDER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home","Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}},{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::home/${aws:username}/*"}]}"#;
const LITERAL_STAR: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}"}}"#;
const OFFICE_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}}]}"#;

// Attribute-based access control, as AWS's ABAC tutorial writes it: the caller's tags
// (`aws:PrincipalTag`) against the resource's (`aws:ResourceTag`) and the request's
// (`aws:RequestTag`, `aws:TagKeys`).
const TEAM_TABLES: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:*:*:table/${aws:PrincipalTag/team}-*"}}"#;
const SAME_TEAM_FUNCTIONS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}}"#;
const TAG_OWN_TEAM: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:TagResource","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"${aws:PrincipalTag/team}"},"ForAllValues:StringEquals":{"aws:TagKeys":["team","cost"]}}}}"#;
const NO_OWNER_TAG: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"},{"Effect":"Deny","Action":["lambda:TagResource","lambda:UntagResource"],"Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"owner"}}}]}"#;
const TABLE_BLUE: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/blue-orders";
const FUNCTION_F: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

const CASES: &[Case] = &[
    Case {
        name: "no policy: implicit deny",
        identity: &[],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "wildcard action allows",
        identity: &[ALLOW_S3_READ],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "action names are case-insensitive",
        identity: &[ALLOW_S3_READ],
        resource_policy: None,
        action: "S3:LISTBUCKET",
        resource: "arn:aws:s3:::b",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "unlisted action: implicit deny",
        identity: &[ALLOW_S3_READ],
        resource_policy: None,
        action: "s3:PutObject",
        resource: "arn:aws:s3:::b/k",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "explicit deny beats allow",
        identity: &[ALL, DENY_DELETE],
        resource_policy: None,
        action: "s3:DeleteObject",
        resource: "arn:aws:s3:::b/k",
        context: &[],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "NotAction allows everything else",
        identity: &[NOT_IAM],
        resource_policy: None,
        action: "lambda:InvokeFunction",
        resource: "*",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "NotAction leaves its actions denied",
        identity: &[NOT_IAM],
        resource_policy: None,
        action: "iam:CreateUser",
        resource: "*",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "NotResource deny covers other buckets",
        identity: &[ALL, NOT_RESOURCE],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::private/k",
        context: &[],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "NotResource deny spares its resources",
        identity: &[ALL, NOT_RESOURCE],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::public/k",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "one table allowed",
        identity: &[ONE_TABLE],
        resource_policy: None,
        action: "dynamodb:PutItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/Books",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "another table denied",
        identity: &[ONE_TABLE],
        resource_policy: None,
        action: "dynamodb:PutItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/Music",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "leading keys: own partition",
        identity: &[LEADING_KEYS],
        resource_policy: None,
        action: "dynamodb:GetItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/T",
        context: &[("dynamodb:LeadingKeys", "carlos")],
        want: Decision::Allow,
    },
    Case {
        name: "leading keys: another partition",
        identity: &[LEADING_KEYS],
        resource_policy: None,
        action: "dynamodb:GetItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/T",
        context: &[("dynamodb:LeadingKeys", "maria")],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "secure transport required",
        identity: &[TLS_ONLY],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[("aws:SecureTransport", "false")],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "secure transport present",
        identity: &[TLS_ONLY],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[("aws:SecureTransport", "true")],
        want: Decision::Allow,
    },
    Case {
        name: "s3:prefix within home",
        identity: &[HOME_PREFIX],
        resource_policy: None,
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::home",
        context: &[("s3:prefix", "carlos/docs")],
        want: Decision::Allow,
    },
    Case {
        name: "s3:prefix outside home",
        identity: &[HOME_PREFIX],
        resource_policy: None,
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::home",
        context: &[("s3:prefix", "maria/")],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "s3:prefix absent",
        identity: &[HOME_PREFIX],
        resource_policy: None,
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::home",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "a bucket policy alone allows (same account)",
        identity: &[],
        resource_policy: Some(BUCKET_POLICY),
        action: "s3:GetObject",
        resource: "arn:aws:s3:::shared/k",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "a bucket policy deny beats an identity allow",
        identity: &[ALL],
        resource_policy: Some(BUCKET_DENY),
        action: "s3:GetObject",
        resource: "arn:aws:s3:::locked/k",
        context: &[],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "policy variable: a user reaches its own home folder",
        identity: &[HOME_FOLDER],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::home/carlos/notes.txt",
        context: &[("aws:username", "carlos")],
        want: Decision::Allow,
    },
    Case {
        name: "policy variable: and not another user's",
        identity: &[HOME_FOLDER],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::home/maria/notes.txt",
        context: &[("aws:username", "carlos")],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "policy variable in a condition: listing its own prefix",
        identity: &[HOME_FOLDER],
        resource_policy: None,
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::home",
        context: &[("aws:username", "carlos"), ("s3:prefix", "carlos/")],
        want: Decision::Allow,
    },
    Case {
        name: "policy variable without a value (a role session has no username) matches nothing",
        identity: &[HOME_FOLDER],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::home//notes.txt",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "${*} is a literal asterisk",
        identity: &[LITERAL_STAR],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/*",
        context: &[],
        want: Decision::Allow,
    },
    Case {
        name: "${*} is no wildcard",
        identity: &[LITERAL_STAR],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/anything",
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "aws:SourceIp inside the office ranges",
        identity: &[OFFICE_ONLY],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[("aws:SourceIp", "203.0.113.9")],
        want: Decision::Allow,
    },
    Case {
        name: "aws:SourceIp outside them: denied",
        identity: &[OFFICE_ONLY],
        resource_policy: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &[("aws:SourceIp", "198.51.100.1")],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "${aws:PrincipalTag/team} in a Resource: the team's table",
        identity: &[TEAM_TABLES],
        resource_policy: None,
        action: "dynamodb:PutItem",
        resource: TABLE_BLUE,
        context: &[("aws:PrincipalTag/team", "blue")],
        want: Decision::Allow,
    },
    Case {
        name: "${aws:PrincipalTag/team} in a Resource: another team's table",
        identity: &[TEAM_TABLES],
        resource_policy: None,
        action: "dynamodb:PutItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/red-orders",
        context: &[("aws:PrincipalTag/team", "blue")],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "${aws:PrincipalTag/team} without the tag matches nothing",
        identity: &[TEAM_TABLES],
        resource_policy: None,
        action: "dynamodb:PutItem",
        resource: TABLE_BLUE,
        context: &[],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "a tag's key is case-insensitive in a condition key",
        identity: &[TEAM_TABLES],
        resource_policy: None,
        action: "dynamodb:GetItem",
        resource: TABLE_BLUE,
        context: &[("aws:PrincipalTag/Team", "blue")],
        want: Decision::Allow,
    },
    Case {
        name: "aws:ResourceTag equal to the caller's tag",
        identity: &[SAME_TEAM_FUNCTIONS],
        resource_policy: None,
        action: "lambda:InvokeFunction",
        resource: FUNCTION_F,
        context: &[
            ("aws:PrincipalTag/team", "blue"),
            ("aws:ResourceTag/team", "blue"),
        ],
        want: Decision::Allow,
    },
    Case {
        name: "aws:ResourceTag of another team",
        identity: &[SAME_TEAM_FUNCTIONS],
        resource_policy: None,
        action: "lambda:InvokeFunction",
        resource: FUNCTION_F,
        context: &[
            ("aws:PrincipalTag/team", "blue"),
            ("aws:ResourceTag/team", "red"),
        ],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "an untagged resource against a tag condition",
        identity: &[SAME_TEAM_FUNCTIONS],
        resource_policy: None,
        action: "lambda:InvokeFunction",
        resource: FUNCTION_F,
        context: &[("aws:PrincipalTag/team", "blue")],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "aws:RequestTag of the caller's team, allowed keys",
        identity: &[TAG_OWN_TEAM],
        resource_policy: None,
        action: "lambda:TagResource",
        resource: FUNCTION_F,
        context: &[
            ("aws:PrincipalTag/team", "blue"),
            ("aws:RequestTag/team", "blue"),
            ("aws:TagKeys", "team"),
            ("aws:RequestTag/cost", "7"),
            ("aws:TagKeys", "cost"),
        ],
        want: Decision::Allow,
    },
    Case {
        name: "aws:RequestTag of another team",
        identity: &[TAG_OWN_TEAM],
        resource_policy: None,
        action: "lambda:TagResource",
        resource: FUNCTION_F,
        context: &[
            ("aws:PrincipalTag/team", "blue"),
            ("aws:RequestTag/team", "red"),
            ("aws:TagKeys", "team"),
        ],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "aws:TagKeys beyond the allowed set",
        identity: &[TAG_OWN_TEAM],
        resource_policy: None,
        action: "lambda:TagResource",
        resource: FUNCTION_F,
        context: &[
            ("aws:PrincipalTag/team", "blue"),
            ("aws:RequestTag/team", "blue"),
            ("aws:TagKeys", "team"),
            ("aws:TagKeys", "owner"),
        ],
        want: Decision::ImplicitDeny,
    },
    Case {
        name: "ForAnyValue on aws:TagKeys denies one key",
        identity: &[NO_OWNER_TAG],
        resource_policy: None,
        action: "lambda:UntagResource",
        resource: FUNCTION_F,
        context: &[("aws:TagKeys", "cost"), ("aws:TagKeys", "owner")],
        want: Decision::ExplicitDeny,
    },
    Case {
        name: "ForAnyValue on aws:TagKeys: other keys pass",
        identity: &[NO_OWNER_TAG],
        resource_policy: None,
        action: "lambda:TagResource",
        resource: FUNCTION_F,
        context: &[("aws:TagKeys", "cost")],
        want: Decision::Allow,
    },
];

#[test]
fn documented_examples() {
    for c in CASES {
        let ids: Vec<Arc<Policy>> = c.identity.iter().map(|d| identity(d)).collect();
        let rp = c
            .resource_policy
            .map(|d| Policy::parse(d, Kind::Resource).unwrap());
        let mut ctx = Context::default();
        for (k, v) in c.context {
            ctx.add(k, *v);
        }
        let req = Request {
            action: c.action,
            resource: c.resource,
            context: &ctx,
        };
        assert_eq!(
            evaluate(&ids, rp.as_ref(), &WHO, &req),
            c.want,
            "{}",
            c.name
        );
    }
}

#[test]
fn service_principals_and_source_arns_in_resource_policies() {
    // A function's permission for S3 from one bucket, as AddPermission writes it.
    let doc = r#"{"Version":"2012-10-17","Statement":{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::photos"}}}}"#;
    let p = Policy::parse(doc, Kind::Resource).unwrap();
    let s3 = Who {
        service: Some("s3.amazonaws.com"),
        ..WHO
    };
    let sns = Who {
        service: Some("sns.amazonaws.com"),
        ..WHO
    };
    let check = |who: &Who, source: &str| {
        let mut ctx = Context::default();
        ctx.add("aws:SourceArn", source);
        let req = Request {
            action: "lambda:InvokeFunction",
            resource: "arn:aws:lambda:us-east-1:000000000000:function:f",
            context: &ctx,
        };
        evaluate(&[], Some(&p), who, &req)
    };
    assert_eq!(check(&s3, "arn:aws:s3:::photos"), Decision::Allow);
    assert_eq!(check(&s3, "arn:aws:s3:::other"), Decision::ImplicitDeny);
    assert_eq!(check(&sns, "arn:aws:s3:::photos"), Decision::ImplicitDeny);
}

/// Not an assertion on time: prints how long one cached evaluation takes, for the record.
#[test]
fn evaluation_cost() {
    let ids = vec![
        identity(ONE_TABLE),
        identity(ALLOW_S3_READ),
        identity(TLS_ONLY),
    ];
    let ctx = Context::default();
    let req = Request {
        action: "dynamodb:PutItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/Books",
        context: &ctx,
    };
    let n = 10_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert_eq!(evaluate(&ids, None, &WHO, &req), Decision::Allow);
    }
    eprintln!(
        "one evaluation of three policies: {:?}",
        start.elapsed() / n
    );
}

/// Permissions boundaries and session policies, as AWS's policy evaluation logic documents
/// them: the effective permissions are the intersection with the identity policies.
#[test]
fn boundaries_and_session_policies_intersect() {
    use crate::eval::{evaluate_limited, Limits};
    const S3_AND_DYNAMO: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*","dynamodb:*"],"Resource":"*"}}"#;
    const ONLY_S3: &str =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    const ONLY_GET: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    const DENY_IN_BOUNDARY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#;
    let role_session = Who {
        arn: "arn:aws:sts::000000000000:assumed-role/r/s",
        role_arn: Some("arn:aws:iam::000000000000:role/r"),
        ..WHO
    };
    let ids = [identity(S3_AND_DYNAMO)];
    let boundary = |doc| Limits {
        boundary: Some(identity(doc)),
        session: None,
    };
    let session = |docs: &[&str]| Limits {
        boundary: None,
        session: Some(docs.iter().map(|d| identity(d)).collect::<Vec<_>>().into()),
    };
    let bucket = Policy::parse(BUCKET_POLICY, Kind::Resource).unwrap();
    let session_bucket = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/r"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}"#,
        Kind::Resource,
    )
    .unwrap();
    let empty_ids: [Arc<Policy>; 0] = [];
    /// (name, identity policies, limits, resource policy, caller, action, expected).
    type LimitCase<'a> = (
        &'a str,
        &'a [Arc<Policy>],
        Limits,
        Option<&'a Policy>,
        &'a Who<'a>,
        &'a str,
        Decision,
    );
    let cases: Vec<LimitCase> = vec![
        (
            "no limits: identity decides",
            &ids,
            Limits::default(),
            None,
            &WHO,
            "dynamodb:PutItem",
            Decision::Allow,
        ),
        (
            "boundary allows too",
            &ids,
            boundary(ONLY_S3),
            None,
            &WHO,
            "s3:PutObject",
            Decision::Allow,
        ),
        (
            "outside the boundary",
            &ids,
            boundary(ONLY_S3),
            None,
            &WHO,
            "dynamodb:PutItem",
            Decision::ImplicitDeny,
        ),
        (
            "boundary alone grants nothing",
            &empty_ids,
            boundary(ONLY_S3),
            None,
            &WHO,
            "s3:PutObject",
            Decision::ImplicitDeny,
        ),
        (
            "deny in the boundary",
            &ids,
            boundary(DENY_IN_BOUNDARY),
            None,
            &WHO,
            "s3:DeleteObject",
            Decision::ExplicitDeny,
        ),
        (
            "session policy narrows",
            &ids,
            session(&[ONLY_GET]),
            None,
            &role_session,
            "s3:PutObject",
            Decision::ImplicitDeny,
        ),
        (
            "within the session policy",
            &ids,
            session(&[ONLY_GET]),
            None,
            &role_session,
            "s3:GetObject",
            Decision::Allow,
        ),
        (
            "any session policy may allow",
            &ids,
            session(&[ONLY_GET, ONLY_S3]),
            None,
            &role_session,
            "s3:PutObject",
            Decision::Allow,
        ),
        (
            "a user named by a bucket policy is not bounded",
            &empty_ids,
            boundary(ONLY_GET),
            Some(&bucket),
            &WHO,
            "s3:GetObject",
            Decision::Allow,
        ),
        (
            "a role session named by its role is limited",
            &empty_ids,
            session(&[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}}"#,
            ]),
            Some(&session_bucket),
            &role_session,
            "s3:GetObject",
            Decision::ImplicitDeny,
        ),
        (
            "a role session without limits, named by its role",
            &empty_ids,
            Limits::default(),
            Some(&session_bucket),
            &role_session,
            "s3:GetObject",
            Decision::Allow,
        ),
    ];
    let ctx = Context::default();
    for (name, ids, limits, rp, who, action, want) in cases {
        let req = Request {
            action,
            resource: "arn:aws:s3:::shared/k",
            context: &ctx,
        };
        assert_eq!(
            evaluate_limited(ids, &limits, rp, who, &req),
            want,
            "{name}"
        );
    }
}

/// The kind of policy an AccessDenied message names, from AWS's "access denied error
/// message" examples.
#[test]
fn refusals_name_the_policy_that_refused() {
    use crate::eval::{evaluate_limited, refusal_source, Limits, Source};
    const ADMIN: &str = ALL;
    const BOUNDARY_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
    const SESSION_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#;
    let ids = [identity(ADMIN), identity(DENY_DELETE)];
    let bounded = Limits {
        boundary: Some(identity(BOUNDARY_S3)),
        session: None,
    };
    let session = Limits {
        boundary: None,
        session: Some(vec![identity(SESSION_GET)].into()),
    };
    let locked = Policy::parse(BUCKET_DENY, Kind::Resource).unwrap();
    let none = Limits::default();
    let no_ids: [Arc<Policy>; 0] = [];
    /// (name, identity policies, limits, resource policy, action, resource, expected).
    type SourceCase<'a> = (
        &'a str,
        &'a [Arc<Policy>],
        &'a Limits,
        Option<&'a Policy>,
        &'a str,
        &'a str,
        Source,
    );
    let cases: Vec<SourceCase> = vec![
        (
            "identity deny",
            &ids,
            &none,
            None,
            "s3:DeleteObject",
            "arn:aws:s3:::b/k",
            Source::Identity,
        ),
        (
            "no identity allow",
            &no_ids,
            &none,
            None,
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            Source::Identity,
        ),
        (
            "resource deny",
            &ids,
            &none,
            Some(&locked),
            "s3:GetObject",
            "arn:aws:s3:::locked/k",
            Source::Resource,
        ),
        (
            "boundary deny",
            &ids,
            &bounded,
            None,
            "s3:DeleteBucket",
            "arn:aws:s3:::b",
            Source::Boundary,
        ),
        (
            "outside the boundary",
            &ids,
            &bounded,
            None,
            "lambda:ListFunctions",
            "*",
            Source::Boundary,
        ),
        (
            "session deny",
            &ids,
            &session,
            None,
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            Source::Session,
        ),
        (
            "outside the session policy",
            &ids,
            &session,
            None,
            "s3:ListBucket",
            "arn:aws:s3:::b",
            Source::Session,
        ),
    ];
    let ctx = Context::default();
    for (name, ids, limits, rp, action, resource, want) in cases {
        let req = Request {
            action,
            resource,
            context: &ctx,
        };
        assert_ne!(
            evaluate_limited(ids, limits, rp, &WHO, &req),
            Decision::Allow,
            "{name}"
        );
        assert_eq!(refusal_source(ids, limits, rp, &WHO, &req), want, "{name}");
    }
}
