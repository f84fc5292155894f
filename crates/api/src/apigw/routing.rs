//! Route keys (`$default`, `GET /items/{id}`, `ANY /files/{proxy+}`) and the choice of the
//! route a request takes, with API Gateway's precedence: the most specific path wins (all
//! literal segments, then path variables, then a greedy `{proxy+}`; among equals, the one whose
//! first differing segment is literal), then a route for the request's own method beats `ANY`,
//! and `$default` catches what nothing else matched.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use stratus_core::Result;

use super::bad_request;

pub const METHODS: &[&str] = &[
    "ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Var(String),
    /// `{name+}`: one or more remaining segments.
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    Default,
    Path {
        method: String,
        /// The path as written (`/items/{id}`), which 1.0 events call the resource.
        path: String,
        segments: Vec<Segment>,
    },
}

fn invalid(key: &str, why: &str) -> stratus_core::Error {
    bad_request(format!("Invalid route key: {key}. {why}"))
}

/// Parses and validates a route key.
pub fn parse_key(key: &str) -> Result<RouteKey> {
    if key == "$default" {
        return Ok(RouteKey::Default);
    }
    let Some((method, path)) = key.split_once(' ') else {
        return Err(invalid(
            key,
            "A route key must be $default or 'METHOD /path'.",
        ));
    };
    if !METHODS.contains(&method) {
        return Err(invalid(
            key,
            "The method must be one of ANY, GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS.",
        ));
    }
    if !path.starts_with('/') || path.len() > 512 {
        return Err(invalid(key, "The path must start with '/'."));
    }
    Ok(RouteKey::Path {
        method: method.to_string(),
        path: path.to_string(),
        segments: parse_path(key, path)?,
    })
}

fn parse_path(key: &str, path: &str) -> Result<Vec<Segment>> {
    if path == "/" {
        return Ok(Vec::new());
    }
    let raw: Vec<&str> = path[1..].split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let seg = parse_segment(key, s)?;
        if matches!(seg, Segment::Greedy(_)) && i + 1 != raw.len() {
            return Err(invalid(
                key,
                "A greedy path variable must be the last segment.",
            ));
        }
        if let Segment::Var(n) | Segment::Greedy(n) = &seg {
            let dup = segments
                .iter()
                .any(|o| matches!(o, Segment::Var(m) | Segment::Greedy(m) if m == n));
            if dup {
                return Err(invalid(key, "Path variable names must be unique."));
            }
        }
        segments.push(seg);
    }
    Ok(segments)
}

fn parse_segment(key: &str, s: &str) -> Result<Segment> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(n) => (n, true),
            None => (inner, false),
        };
        if !name_ok(name) {
            return Err(invalid(key, "Path variable names must be alphanumeric."));
        }
        return Ok(if greedy {
            Segment::Greedy(name.to_string())
        } else {
            Segment::Var(name.to_string())
        });
    }
    let literal_ok =
        !s.is_empty() && !s.contains(['{', '}', ' ']) && s.bytes().all(|b| b.is_ascii_graphic());
    if !literal_ok {
        return Err(invalid(
            key,
            "Path segments must be non-empty and printable.",
        ));
    }
    Ok(Segment::Literal(s.to_string()))
}

/// The route a request takes, with the path parameters it bound.
#[derive(Debug)]
pub struct Matched<'a, T> {
    pub route: &'a T,
    pub key: RouteKey,
    pub path_parameters: BTreeMap<String, String>,
}

/// How specific a match is: lower sorts first.
type Rank = (u8, Vec<u8>, bool);

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Binds a request path (already split into raw segments) to a route's segments.
fn bind(segments: &[Segment], path: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                let rest = path.get(i..).filter(|r| !r.is_empty())?;
                if rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.clone(), decode(&rest.join("/")));
                return Some(params);
            }
            Segment::Literal(l) => {
                if path.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Segment::Var(name) => {
                let v = path.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), decode(v));
            }
        }
    }
    (segments.len() == path.len()).then_some(params)
}

fn rank(method: &str, segments: &[Segment]) -> Rank {
    let kinds: Vec<u8> = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 0,
            Segment::Var(_) => 1,
            Segment::Greedy(_) => 2,
        })
        .collect();
    let class = kinds.iter().copied().max().unwrap_or(0);
    (class, kinds, method == "ANY")
}

/// Chooses the route for `method` and the raw (still percent-encoded) `path`.
pub fn select<'a, T>(
    routes: &'a [T],
    key_of: impl Fn(&T) -> &str,
    method: &str,
    path: &str,
) -> Option<Matched<'a, T>> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let mut best: Option<(Rank, Matched<'a, T>)> = None;
    let mut default = None;
    for route in routes {
        let Ok(key) = parse_key(key_of(route)) else {
            continue;
        };
        let RouteKey::Path {
            method: m,
            segments,
            ..
        } = &key
        else {
            default = Some(route);
            continue;
        };
        if m != "ANY" && m != method {
            continue;
        }
        let Some(params) = bind(segments, &parts) else {
            continue;
        };
        let r = rank(m, segments);
        if best.as_ref().is_none_or(|(b, _)| r < *b) {
            best = Some((
                r,
                Matched {
                    route,
                    key: key.clone(),
                    path_parameters: params,
                },
            ));
        }
    }
    best.map(|(_, m)| m).or_else(|| {
        default.map(|route| Matched {
            route,
            key: RouteKey::Default,
            path_parameters: BTreeMap::new(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[&str] = &[
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "ANY /pets/dog/{id}",
        "GET /pets/{type}/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "GET /",
        "$default",
    ];

    fn pick(method: &str, path: &str) -> (String, BTreeMap<String, String>) {
        let routes: Vec<String> = TABLE.iter().map(|s| s.to_string()).collect();
        let m = select(&routes, |s| s, method, path).expect("a route");
        (m.route.clone(), m.path_parameters)
    }

    #[test]
    fn precedence_table() {
        let cases = [
            ("GET", "/pets/dog/1", "GET /pets/dog/1"),
            ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
            ("POST", "/pets/dog/2", "ANY /pets/dog/{id}"),
            ("GET", "/pets/cat/2", "GET /pets/{type}/{id}"),
            ("GET", "/pets/cat/2/toys", "GET /pets/{proxy+}"),
            ("GET", "/pets", "ANY /{proxy+}"),
            ("POST", "/pets/cat/2", "ANY /{proxy+}"),
            ("GET", "/", "GET /"),
            ("POST", "/", "$default"),
            ("DELETE", "/anything/else", "ANY /{proxy+}"),
        ];
        for (method, path, want) in cases {
            assert_eq!(pick(method, path).0, want, "{method} {path}");
        }
    }

    #[test]
    fn binds_path_parameters_decoded() {
        let (_, p) = pick("GET", "/pets/cat/a%20b");
        assert_eq!(p["type"], "cat");
        assert_eq!(p["id"], "a b");
        let (_, p) = pick("GET", "/pets/x/y/z");
        assert_eq!(p["proxy"], "x/y/z");
    }

    #[test]
    fn no_default_means_no_match() {
        let routes = vec!["GET /items/{id}".to_string()];
        assert!(select(&routes, |s| s, "GET", "/items").is_none());
        assert!(select(&routes, |s| s, "GET", "/items/").is_none());
        assert!(select(&routes, |s| s, "POST", "/items/1").is_none());
        assert!(select(&routes, |s| s, "GET", "/items/1/x").is_none());
        let m = select(&routes, |s| s, "GET", "/items/1").unwrap();
        assert_eq!(m.path_parameters["id"], "1");
    }

    #[test]
    fn greedy_needs_at_least_one_segment() {
        let routes = vec!["ANY /files/{proxy+}".to_string()];
        assert!(select(&routes, |s| s, "GET", "/files").is_none());
        assert!(select(&routes, |s| s, "GET", "/files/").is_none());
        assert!(select(&routes, |s| s, "GET", "/files/a").is_some());
    }

    #[test]
    fn validates_keys() {
        for bad in [
            "GET",
            "FETCH /x",
            "GET x",
            "GET /{proxy+}/x",
            "GET /a//b",
            "GET /{}",
            "GET /{a}/{a}",
            "$connect",
            "get /x",
        ] {
            let e = parse_key(bad).unwrap_err();
            assert_eq!(e.code, "BadRequestException", "{bad}");
        }
        assert_eq!(parse_key("$default").unwrap(), RouteKey::Default);
        assert!(matches!(
            parse_key("ANY /{proxy+}").unwrap(),
            RouteKey::Path { ref segments, .. } if segments == &[Segment::Greedy("proxy".into())]
        ));
    }
}
