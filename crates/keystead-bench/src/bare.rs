//! The baseline: a bare axum endpoint doing the same cryptography with aws-lc-rs, with the
//! same JSON and base64 framing as Keystead's API, and nothing else (no authentication, no
//! key lookup, no audit). The ratio Keystead / bare is the cost of everything Keystead adds.

use std::sync::Arc;

use anyhow::{Context, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keystead_api::crypto::{Ciphertext, Decrypt, Encrypt, Message, Plaintext, Signature};
use keystead_api::Secret;

/// The baseline's keys, made at start.
struct Keys {
    aes: LessSafeKey,
    ed25519: Ed25519KeyPair,
    p256: EcdsaKeyPair,
    random: SystemRandom,
    /// A key description of about the size of Keystead's `key show` answer.
    show: serde_json::Value,
}

type Failure = (StatusCode, &'static str);

fn bad(_: impl std::fmt::Debug) -> Failure {
    (StatusCode::BAD_REQUEST, "bad request")
}

async fn encrypt(
    State(keys): State<Arc<Keys>>,
    Json(body): Json<Encrypt>,
) -> Result<Json<Ciphertext>, Failure> {
    let mut buffer = STANDARD.decode(body.plaintext.expose_secret()).map_err(bad)?;
    let mut nonce = [0u8; NONCE_LEN];
    keys.random.fill(&mut nonce).map_err(bad)?;
    keys.aes
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buffer)
        .map_err(bad)?;
    let mut framed = nonce.to_vec();
    framed.extend_from_slice(&buffer);
    Ok(Json(Ciphertext { ciphertext: STANDARD.encode(framed) }))
}

async fn decrypt(
    State(keys): State<Arc<Keys>>,
    Json(body): Json<Decrypt>,
) -> Result<Json<Plaintext>, Failure> {
    let framed = STANDARD.decode(&body.ciphertext).map_err(bad)?;
    if framed.len() < NONCE_LEN {
        return Err((StatusCode::BAD_REQUEST, "short ciphertext"));
    }
    let (nonce, sealed) = framed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(bad)?;
    let mut buffer = sealed.to_vec();
    let plain = keys.aes.open_in_place(nonce, Aad::empty(), &mut buffer).map_err(bad)?;
    Ok(Json(Plaintext { plaintext: Secret::new(STANDARD.encode(plain)), warning: None }))
}

async fn sign_ed25519(
    State(keys): State<Arc<Keys>>,
    Json(body): Json<Message>,
) -> Result<Json<Signature>, Failure> {
    let message = STANDARD.decode(&body.message).map_err(bad)?;
    Ok(Json(Signature { signature: STANDARD.encode(keys.ed25519.sign(&message)) }))
}

async fn sign_p256(
    State(keys): State<Arc<Keys>>,
    Json(body): Json<Message>,
) -> Result<Json<Signature>, Failure> {
    let message = STANDARD.decode(&body.message).map_err(bad)?;
    let signature = keys.p256.sign(&keys.random, &message).map_err(bad)?;
    Ok(Json(Signature { signature: STANDARD.encode(signature) }))
}

async fn show_key(State(keys): State<Arc<Keys>>) -> Json<serde_json::Value> {
    Json(keys.show.clone())
}

/// The baseline's routes: `POST /encrypt`, `/decrypt`, `/sign/ed25519`, `/sign/p256` with
/// Keystead's request and response bodies, and `GET /show` (a fixed key description).
pub fn router() -> Result<Router> {
    let random = SystemRandom::new();
    let mut aes = [0u8; 32];
    random.fill(&mut aes).ok().context("no randomness")?;
    let aes = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &aes).ok().context("AES key")?);
    let ed25519 = Ed25519KeyPair::generate().ok().context("Ed25519 key")?;
    let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).ok().context("P-256 key")?;
    let show = serde_json::json!({
        "id": "00000000-0000-0000-0000-000000000000",
        "name": "bench-aes",
        "purpose": "encrypt",
        "algorithm": "aes-256-gcm",
        "public_key": STANDARD.encode(ed25519.public_key().as_ref()),
        "versions": [{"number": 1, "state": "active", "kcv": "000000"}],
        "history": [],
        "recent_events": [],
    });
    let keys = Arc::new(Keys { aes, ed25519, p256, random, show });
    Ok(Router::new()
        .route("/encrypt", post(encrypt))
        .route("/decrypt", post(decrypt))
        .route("/sign/ed25519", post(sign_ed25519))
        .route("/sign/p256", post(sign_p256))
        .route("/show", get(show_key))
        .with_state(keys))
}

/// Serves the baseline on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> Result<()> {
    axum::serve(listener, router()?).await.context("the bare endpoint stopped")
}
