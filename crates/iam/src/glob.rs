//! IAM's wildcards: `*` matches any run of characters (including none) and `?` exactly one.
//! Actions compare case-insensitively, resources and condition values case-sensitively.

/// Whether `text` matches `pattern` (`*` and `?` wildcards), comparing bytes exactly.
pub fn matches(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes(), |a, b| a == b)
}

/// Whether `text` matches `pattern`, ignoring ASCII case (action names: `S3:getobject` is
/// `s3:GetObject`).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes(), |a, b| {
        a.eq_ignore_ascii_case(&b)
    })
}

/// Linear-time wildcard matching with one backtrack point (the last `*` seen): a pattern
/// cannot make it slow, whatever a policy author writes. A byte after
/// [`variables::LITERAL`](crate::variables::LITERAL) is matched as itself (`${*}`).
fn glob(p: &[u8], t: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    use crate::variables::LITERAL;
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi + 1 < p.len() && p[pi] == LITERAL && eq(p[pi + 1], t[ti]) {
            pi += 2;
            ti += 1;
        } else if pi < p.len()
            && p[pi] != LITERAL
            && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], t[ti])))
        {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("s3:Get*", "s3:GetObject", true),
            ("s3:Get*", "s3:PutObject", false),
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b", true),
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*a*b*c", "xxaxxbxxc", true),
            ("*a*b*c", "xxaxxbxxcx", false),
            ("table/Books", "table/books", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p} ~ {t}");
        }
        assert!(matches_ignore_case("S3:getobject", "s3:GetObject"));
        assert!(matches_ignore_case("dynamodb:*Item", "dynamodb:PutItem"));
    }
}
