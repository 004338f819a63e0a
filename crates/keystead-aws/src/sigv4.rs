//! AWS Signature Version 4, verified exactly as AWS documents it: the canonical request (method,
//! URI, sorted query, the signed headers trimmed and lower-cased, the payload's SHA-256), the
//! string to sign over the credential scope, and the HMAC chain from the secret. A request
//! dated more than 15 minutes from the server's clock is refused; within the window a replay
//! is accepted, as AWS accepts it.

use axum::http::HeaderMap;
use keystead_crypto::{hmac_sha256, sha256, SecretBytes};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the server's.
pub const MAX_SKEW: Duration = Duration::minutes(15);

/// Why a request's signature was refused before or without the secret.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Authorization` header (AWS: `MissingAuthenticationTokenException`).
    Missing,
    /// An `Authorization` header that is not a well-formed SigV4 one, or a missing date
    /// (AWS: `IncompleteSignatureException`).
    Incomplete(String),
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// The scope's date, `YYYYMMDD`.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed headers, lower-case, as listed.
    pub signed_headers: Vec<String>,
    /// The signature, lower-case hex.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, SignatureError> {
    let value = headers.get("authorization").ok_or(SignatureError::Missing)?;
    let value = value
        .to_str()
        .map_err(|_| SignatureError::Incomplete("the Authorization header is not ASCII".into()))?;
    let incomplete = |what: &str| {
        SignatureError::Incomplete(format!(
            "Authorization header requires {what}; expected \"{ALGORITHM} Credential=..., SignedHeaders=..., Signature=...\""
        ))
    };
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| incomplete("the AWS4-HMAC-SHA256 algorithm"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, field) = part.trim().split_once('=').ok_or_else(|| incomplete("name=value parts"))?;
        match name {
            "Credential" => credential = Some(field),
            "SignedHeaders" => signed = Some(field),
            "Signature" => signature = Some(field),
            _ => return Err(incomplete("only Credential, SignedHeaders and Signature")),
        }
    }
    let credential = credential.ok_or_else(|| incomplete("a 'Credential' parameter"))?;
    let signed = signed.ok_or_else(|| incomplete("a 'SignedHeaders' parameter"))?;
    let signature = signature.ok_or_else(|| incomplete("a 'Signature' parameter"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(incomplete("Credential=ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request"));
    };
    if access_key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("Credential=ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
    if signed_headers.iter().any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase())) {
        return Err(incomplete("SignedHeaders as lower-case names separated by ';'"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("a Signature of 64 hexadecimal digits"));
    }
    Ok(Authorization {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// The request's time from `X-Amz-Date` (`YYYYMMDD'T'HHMMSS'Z'`).
pub fn request_time(headers: &HeaderMap) -> Result<(String, OffsetDateTime), SignatureError> {
    let missing = || {
        SignatureError::Incomplete("the request must carry an X-Amz-Date header (YYYYMMDDTHHMMSSZ)".into())
    };
    let text = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = PrimitiveDateTime::parse(text, format).map_err(|_| missing())?.assume_utc();
    Ok((text.to_owned(), at))
}

/// What a signature is computed over.
pub struct SignedRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The query string, as sent (without `?`).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is `%XX`.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as itself), for re-encoding in canonical form.
fn uri_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(digits, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&uri_decode(name), false), uri_encode(&uri_decode(value), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// A header's values joined by commas, each trimmed with inner runs of spaces collapsed.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| {
            SignatureError::Incomplete(format!("signed header {name} is not printable ASCII"))
        })?;
        values.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if values.is_empty() {
        return Err(SignatureError::Incomplete(format!("signed header {name} is not in the request")));
    }
    Ok(values.join(","))
}

/// The canonical request of SigV4.
pub fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[String],
) -> Result<String, SignatureError> {
    let mut names = signed_headers.to_vec();
    names.sort();
    let mut headers = String::new();
    for name in &names {
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&canonical_header_value(request.headers, name)?);
        headers.push('\n');
    }
    let path = if request.path.is_empty() { "/" } else { request.path };
    let payload_hash = hex::encode(sha256(request.body));
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        uri_encode(&uri_decode(path), true),
        canonical_query(request.query),
        headers,
        names.join(";"),
        payload_hash
    ))
}

/// The string to sign for a canonical request at `amz_date` within the scope of `auth`.
pub fn string_to_sign(auth: &Authorization, amz_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        hex::encode(sha256(canonical_request.as_bytes()))
    )
}

/// The signature of `string_to_sign` under the key derived from `secret` for the scope.
pub fn signature(secret: &SecretBytes, auth: &Authorization, string_to_sign: &str) -> String {
    let mut start = b"AWS4".to_vec();
    start.extend_from_slice(secret.expose_secret());
    let mut key = SecretBytes::new(start);
    for part in [auth.date.as_str(), auth.region.as_str(), auth.service.as_str(), "aws4_request"] {
        key = SecretBytes::from_slice(&hmac_sha256(&key, part.as_bytes()));
    }
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// Everything needed to check a request once the secret is known.
pub struct PendingCheck {
    /// The parsed header.
    pub auth: Authorization,
    /// The string the client must have signed.
    pub string_to_sign: String,
    /// When the client says it signed it.
    pub signed_at: OffsetDateTime,
}

impl PendingCheck {
    /// Prepares the check of `request` for `region` and `service`; errors that need no secret
    /// come out here.
    pub fn new(request: &SignedRequest<'_>) -> Result<Self, SignatureError> {
        let auth = parse_authorization(request.headers)?;
        let (amz_date, signed_at) = request_time(request.headers)?;
        // The operation is chosen by X-Amz-Target: an unsigned header could turn a captured
        // request into another operation. As AWS requires, host and every x-amz-* header sent
        // must be signed.
        let unsigned = std::iter::once("host")
            .chain(request.headers.keys().map(|name| name.as_str()).filter(|name| name.starts_with("x-amz-")))
            .find(|name| !auth.signed_headers.iter().any(|h| h == name));
        if let Some(name) = unsigned {
            return Err(SignatureError::Incomplete(format!("the signed headers must include {name}")));
        }
        let canonical = canonical_request(request, &auth.signed_headers)?;
        let string_to_sign = string_to_sign(&auth, &amz_date, &canonical);
        Ok(Self { auth, string_to_sign, signed_at })
    }

    /// Checks the scope, the time and the signature with `secret`; the error is the message
    /// AWS gives for an `InvalidSignatureException`.
    pub fn verify(&self, secret: &SecretBytes, region: &str, now: OffsetDateTime) -> Result<(), String> {
        if self.auth.service != "kms" {
            return Err(format!(
                "Credential should be scoped to correct service: 'kms', not '{}'.",
                self.auth.service
            ));
        }
        if self.auth.region != region {
            return Err(format!(
                "Credential should be scoped to a valid region, not '{}'. This endpoint serves '{region}'.",
                self.auth.region
            ));
        }
        let date = self.signed_at.date();
        let scope_date = format!("{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day());
        if scope_date != self.auth.date {
            return Err(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{scope_date}'",
                self.auth.date
            ));
        }
        if (now - self.signed_at).abs() > MAX_SKEW {
            return Err(format!(
                "Signature expired: the request was signed at {} and the server's time is {} (at most 15 minutes apart).",
                self.signed_at, now
            ));
        }
        let expected = signature(secret, &self.auth, &self.string_to_sign);
        if !keystead_crypto::ct_eq_str(&expected, &self.auth.signature) {
            return Err("The request signature we calculated does not match the signature you provided. \
                        Check your AWS Secret Access Key and signing method."
                .to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn at(text: &str) -> OffsetDateTime {
        let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        PrimitiveDateTime::parse(text, format).unwrap().assume_utc()
    }

    /// AWS's SigV4 test suite, `get-vanilla` (region us-east-1, service `service`).
    #[test]
    fn the_aws_test_suite_get_vanilla_signature_is_reproduced() {
        let map = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ]);
        let request = SignedRequest { method: "GET", path: "/", query: "", headers: &map, body: b"" };
        let check = PendingCheck::new(&request).unwrap();
        assert_eq!(check.auth.access_key_id, "AKIDEXAMPLE");
        let secret = SecretBytes::from_slice(SECRET.as_bytes());
        assert_eq!(signature(&secret, &check.auth, &check.string_to_sign), check.auth.signature);
    }

    fn kms_request(body: &[u8], date: &str, secret: &str, region: &str) -> HeaderMap {
        let mut map = headers(&[
            ("host", "127.0.0.1:8745"),
            ("x-amz-date", date),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "TrentService.Encrypt"),
        ]);
        let names: Vec<String> =
            ["content-type", "host", "x-amz-date", "x-amz-target"].map(str::to_owned).to_vec();
        let auth = Authorization {
            access_key_id: "AKKS0000000000000000".into(),
            date: date[..8].to_owned(),
            region: region.into(),
            service: "kms".into(),
            signed_headers: names.clone(),
            signature: String::new(),
        };
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &map, body };
        let canonical = canonical_request(&request, &names).unwrap();
        let to_sign = string_to_sign(&auth, date, &canonical);
        let sig = signature(&SecretBytes::from_slice(secret.as_bytes()), &auth, &to_sign);
        let value = format!(
            "AWS4-HMAC-SHA256 Credential=AKKS0000000000000000/{}/{region}/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}",
            &date[..8]
        );
        map.insert("authorization", HeaderValue::from_str(&value).unwrap());
        map
    }

    #[test]
    fn a_signed_request_verifies_and_every_change_breaks_it() {
        let body = br#"{"KeyId":"alias/app","Plaintext":"aGk="}"#;
        let date = "20261203T120000Z";
        let now = at(date) + Duration::minutes(3);
        let secret = SecretBytes::from_slice(SECRET.as_bytes());
        let map = kms_request(body, date, SECRET, "us-east-1");
        let check = |map: &HeaderMap, body: &[u8], now| {
            let request = SignedRequest { method: "POST", path: "/", query: "", headers: map, body };
            PendingCheck::new(&request).map_err(|e| format!("{e:?}"))?.verify(&secret, "us-east-1", now)
        };
        check(&map, body, now).unwrap();
        // Another body, another target, another secret, a skewed clock, another region.
        assert!(check(&map, br#"{"KeyId":"alias/other","Plaintext":"aGk="}"#, now).is_err());
        let mut other = map.clone();
        other.insert("x-amz-target", HeaderValue::from_static("TrentService.Decrypt"));
        assert!(check(&other, body, now).is_err());
        let wrong = kms_request(body, date, "another secret", "us-east-1");
        assert!(check(&wrong, body, now).unwrap_err().contains("does not match"));
        assert!(check(&map, body, at(date) + Duration::minutes(16)).unwrap_err().contains("expired"));
        assert!(check(&map, body, at(date) - Duration::minutes(16)).unwrap_err().contains("expired"));
        let elsewhere = kms_request(body, date, SECRET, "eu-west-1");
        assert!(check(&elsewhere, body, now).unwrap_err().contains("region"));
    }

    #[test]
    fn host_and_every_x_amz_header_must_be_signed() {
        let date = "20261203T120000Z";
        let mut map = kms_request(b"{}", date, SECRET, "us-east-1");
        let value = map.get("authorization").unwrap().to_str().unwrap().replace(";x-amz-target", "");
        map.insert("authorization", HeaderValue::from_str(&value).unwrap());
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &map, body: b"{}" };
        let Err(SignatureError::Incomplete(why)) = PendingCheck::new(&request) else {
            panic!("a request with an unsigned X-Amz-Target was accepted for checking")
        };
        assert!(why.contains("x-amz-target"), "{why}");
    }

    #[test]
    fn malformed_headers_are_incomplete_not_panics() {
        for value in [
            "AWS4-HMAC-SHA1 Credential=a/20261203/r/kms/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/2026/r/kms/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20261203/r/kms/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/20261203/r/kms/aws4_request, SignedHeaders=Host, Signature=00",
            "AWS4-HMAC-SHA256 garbage",
            "AWS4-HMAC-SHA256",
        ] {
            let map = headers(&[("authorization", value), ("x-amz-date", "20261203T120000Z"), ("host", "h")]);
            let err = parse_authorization(&map).unwrap_err();
            assert!(matches!(err, SignatureError::Incomplete(_)), "{value}: {err:?}");
        }
        assert_eq!(parse_authorization(&HeaderMap::new()).unwrap_err(), SignatureError::Missing);
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=1&c=x%20y"), "a=1&b=2&c=x%20y");
        assert_eq!(canonical_query(""), "");
    }
}
