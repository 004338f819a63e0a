//! Request ids: every response carries `x-request-id` (the client's own when well-formed),
//! every log line of the request is inside a span that names it, the request's audit events
//! record it, and error bodies (5xx ones above all) name it.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use keystead_api::{ErrorBody, ErrorDetail};
use tracing::Instrument as _;

use crate::error::ErrorMarker;

/// The header, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-chosen id accepted; a longer one is replaced by a fresh id.
const MAX_LEN: usize = 128;

/// The id of the request being served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a client's id may be used as it is: 1 to 128 characters of letters, digits and
/// `-_.:`, so it can be logged and stored without escaping.
pub fn well_formed(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh id: `req_` and 24 hex digits from the crypto library's generator.
fn fresh() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    match keystead_crypto::random_array::<12>() {
        Ok(bytes) => format!("req_{}", hex::encode(bytes)),
        // Only uniqueness matters here: a counter is enough if the generator ever fails.
        Err(_) => format!("req_{:024x}", FALLBACK.fetch_add(1, Ordering::Relaxed)),
    }
}

/// The middleware: outermost, so that it covers every route and every error.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(fresh);
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Some(ErrorMarker(code, message)) = response.extensions_mut().remove::<ErrorMarker>() {
        response = with_error_body(
            response,
            ErrorBody { error: ErrorDetail { code, message, request_id: Some(id.clone()) } },
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The same response (status, headers, extensions) with `body` as its JSON body.
fn with_error_body(response: Response, body: ErrorBody) -> Response {
    let (mut parts, _) = response.into_parts();
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_checked() {
        assert!(well_formed("abc-123_x.y:z"));
        assert!(well_formed(&"a".repeat(MAX_LEN)));
        for bad in ["", "a b", "a\nb", "é", "<script>", &"a".repeat(MAX_LEN + 1)] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn fresh_ids_differ() {
        let (a, b) = (fresh(), fresh());
        assert_ne!(a, b);
        assert!(a.starts_with("req_") && a.len() == 28 && well_formed(&a), "{a}");
    }
}
