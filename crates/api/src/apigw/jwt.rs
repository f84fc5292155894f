//! JSON Web Tokens as a JWT authorizer checks them: the compact form decoded, the signature
//! verified with ring against a JSON Web Key (RS256/384/512 and ES256/384), and the claims
//! checked in API Gateway's order (`exp`, `nbf`, `iat`, `iss`, `aud` or `client_id`). Each
//! refusal carries the `error_description` API Gateway puts in its `www-authenticate` header.

use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any decoding (headers are bounded anyway).
const MAX_TOKEN: usize = 16 * 1024;

/// Why a token was refused: the `error_description` of the 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// A decoded, not yet verified token.
#[derive(Debug)]
pub struct Token<'a> {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    pub signed: &'a str,
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// Splits and decodes `header.payload.signature`.
pub fn decode(token: &str) -> Result<Token<'_>, Invalid> {
    const MALFORMED: Invalid = Invalid("the token is malformed");
    if token.len() > MAX_TOKEN {
        return Err(MALFORMED);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MALFORMED);
    };
    let header: Header = b64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(MALFORMED)?;
    let claims: Map<String, Value> = b64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(MALFORMED)?;
    let signature = b64(sig).ok_or(MALFORMED)?;
    Ok(Token {
        alg: header.alg,
        kid: header.kid,
        claims,
        signed: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

/// One key of a JWKS, as much of it as verification needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub kid: Option<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub alg: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

/// Whether `key` verifies the token's signature under the token's algorithm.
pub fn verify(token: &Token, key: &Jwk) -> bool {
    if key.use_.as_deref().is_some_and(|u| u != "sig")
        || key.alg.as_deref().is_some_and(|a| a != token.alg)
    {
        return false;
    }
    let msg = token.signed.as_bytes();
    match (token.alg.as_str(), key.kty.as_str()) {
        ("RS256", "RSA") => rsa(key, &signature::RSA_PKCS1_2048_8192_SHA256, msg, token),
        ("RS384", "RSA") => rsa(key, &signature::RSA_PKCS1_2048_8192_SHA384, msg, token),
        ("RS512", "RSA") => rsa(key, &signature::RSA_PKCS1_2048_8192_SHA512, msg, token),
        ("ES256", "EC") => ec(
            key,
            "P-256",
            32,
            &signature::ECDSA_P256_SHA256_FIXED,
            msg,
            token,
        ),
        ("ES384", "EC") => ec(
            key,
            "P-384",
            48,
            &signature::ECDSA_P384_SHA384_FIXED,
            msg,
            token,
        ),
        _ => false,
    }
}

fn rsa(key: &Jwk, alg: &signature::RsaParameters, msg: &[u8], t: &Token) -> bool {
    let (Some(n), Some(e)) = (
        key.n.as_deref().and_then(b64),
        key.e.as_deref().and_then(b64),
    ) else {
        return false;
    };
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(alg, msg, &t.signature)
        .is_ok()
}

fn ec(
    key: &Jwk,
    curve: &str,
    len: usize,
    alg: &'static signature::EcdsaVerificationAlgorithm,
    msg: &[u8],
    t: &Token,
) -> bool {
    if key.crv.as_deref() != Some(curve) {
        return false;
    }
    let (Some(x), Some(y)) = (
        key.x.as_deref().and_then(b64),
        key.y.as_deref().and_then(b64),
    ) else {
        return false;
    };
    if x.len() != len || y.len() != len {
        return false;
    }
    // The uncompressed SEC1 point ring expects: 0x04 || x || y.
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    UnparsedPublicKey::new(alg, point)
        .verify(msg, &t.signature)
        .is_ok()
}

/// The algorithms [`verify`] knows.
pub fn supported(alg: &str) -> bool {
    matches!(alg, "RS256" | "RS384" | "RS512" | "ES256" | "ES384")
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Invalid> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Invalid("the token is malformed")),
    }
}

/// Checks the time claims, the issuer and the audience (`aud`, else `client_id`), at `now`
/// (seconds since the epoch). `exp` is required, as API Gateway requires it.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[String],
    now: f64,
) -> Result<(), Invalid> {
    match number(claims, "exp")? {
        None => return Err(Invalid("the token has no expiration claim")),
        Some(exp) if exp <= now => return Err(Invalid("the token has expired")),
        Some(_) => {}
    }
    if number(claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(Invalid("the token is not valid yet"));
    }
    if number(claims, "iat")?.is_some_and(|iat| iat > now) {
        return Err(Invalid("the token was issued in the future"));
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(Invalid("the token does not have a valid issuer"));
    }
    let presented: Vec<&str> = match claims.get("aud").or_else(|| claims.get("client_id")) {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !presented.iter().any(|a| audiences.iter().any(|w| w == a)) {
        return Err(Invalid("the token does not have a valid audience"));
    }
    Ok(())
}

/// The token's scopes: the space-separated `scope` claim, or the `scp` claim (a string or a
/// list).
pub fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A claim as API Gateway passes claims to integrations: strings as they are, lists as
/// `[a b]`, anything else as its JSON text.
pub fn claim_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(claim_text).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    fn enc(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    /// An ES256 token and its key, made with ring.
    fn es256(claims: Value) -> (String, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some("k1".into()),
            use_: Some("sig".into()),
            alg: None,
            n: None,
            e: None,
            crv: Some("P-256".into()),
            x: Some(enc(&public[1..33])),
            y: Some(enc(&public[33..65])),
        };
        let signed = format!(
            "{}.{}",
            enc(br#"{"alg":"ES256","kid":"k1"}"#),
            enc(claims.to_string().as_bytes())
        );
        let sig = pair.sign(&rng, signed.as_bytes()).unwrap();
        (format!("{signed}.{}", enc(sig.as_ref())), jwk)
    }

    #[test]
    fn es256_signatures_verify_and_tampering_fails() {
        let (token, key) = es256(json!({"sub": "u"}));
        let t = decode(&token).unwrap();
        assert_eq!((t.alg.as_str(), t.kid.as_deref()), ("ES256", Some("k1")));
        assert!(verify(&t, &key));
        let (other, _) = es256(json!({"sub": "u"}));
        let t2 = decode(&other).unwrap();
        assert!(!verify(&t2, &key), "another key's signature");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], enc(br#"{"sub":"admin"}"#), parts[2]);
        assert!(!verify(&decode(&forged).unwrap(), &key));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.!!.AA", "e30.e30.AA"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert!(decode(&"a".repeat(MAX_TOKEN + 1)).is_err());
    }

    #[test]
    fn claims_are_checked_in_order() {
        let aud = vec!["app".to_string()];
        let ok = json!({"exp": 200, "nbf": 50, "iat": 50, "iss": "http://i/", "aud": "app"});
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            check_claims(&m(ok.clone()), "http://i", &aud, 100.0),
            Ok(())
        );
        assert_eq!(
            check_claims(&m(ok.clone()), "http://i", &aud, 300.0),
            Err(Invalid("the token has expired"))
        );
        assert!(check_claims(&m(ok.clone()), "http://i", &aud, 10.0).is_err());
        assert_eq!(
            check_claims(&m(ok.clone()), "http://other", &aud, 100.0),
            Err(Invalid("the token does not have a valid issuer"))
        );
        let wrong_aud = json!({"exp": 200, "iss": "http://i", "aud": ["x", "y"]});
        assert_eq!(
            check_claims(&m(wrong_aud), "http://i", &aud, 100.0),
            Err(Invalid("the token does not have a valid audience"))
        );
        let client = json!({"exp": 200, "iss": "http://i", "client_id": "app"});
        assert_eq!(check_claims(&m(client), "http://i", &aud, 100.0), Ok(()));
        let no_exp = json!({"iss": "http://i", "aud": "app"});
        assert!(check_claims(&m(no_exp), "http://i", &aud, 100.0).is_err());
        let bad_exp = json!({"exp": "soon", "iss": "http://i", "aud": "app"});
        assert!(check_claims(&m(bad_exp), "http://i", &aud, 100.0).is_err());
    }

    #[test]
    fn scopes_and_claim_texts() {
        let c = json!({"scope": "read write", "groups": ["a", "b"], "n": 5});
        let c = c.as_object().unwrap();
        assert_eq!(scopes(c), ["read", "write"]);
        assert_eq!(claim_text(&c["groups"]), "[a b]");
        assert_eq!(claim_text(&c["n"]), "5");
        let scp = json!({"scp": ["x"]});
        assert_eq!(scopes(scp.as_object().unwrap()), ["x"]);
    }
}
