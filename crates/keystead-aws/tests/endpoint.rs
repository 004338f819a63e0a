//! The AWS endpoint over real HTTP on 127.0.0.1, a real SQLite store and requests signed with
//! SigV4 as AWS documents it. (Real AWS clients, boto3 and the aws CLI, are the next step:
//! docs/aws.md lists what is built.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_aws::sigv4::{canonical_request, signature, string_to_sign, Authorization, SignedRequest};
use keystead_aws::AwsConfig;
use keystead_core::{Environment, NodeName};
use keystead_crypto::{RootKey, SecretBytes};
use keystead_service::{Caller, Config, SealSetup, Service};
use keystead_store::SqlStore;
use serde_json::{json, Value};

struct Endpoint {
    _dir: tempfile::TempDir,
    service: Arc<Service>,
    root: Caller,
    addr: SocketAddr,
    http: reqwest::Client,
}

struct Credentials {
    id: String,
    secret: String,
}

impl Endpoint {
    async fn start() -> Self {
        // reqwest wants a TLS provider even for plain HTTP; ours is aws-lc-rs.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqlStore::open_sqlite(&dir.path().join("keystead.db")).await.expect("the store opens");
        let (root_key, _) = RootKey::generate().expect("a root key");
        let config = Config::new(NodeName::new("aws-test").expect("valid"), Environment::Development);
        let service = Service::new(
            Arc::new(store),
            SealSetup::File(root_key),
            config,
            keystead_service::system_clock(),
        )
        .await
        .expect("the service starts");
        let token = service.bootstrap_root().await.expect("bootstrap").expect("a root token");
        let root =
            service.authenticate(Some(token.expose_secret()), "test").await.expect("root authenticates");
        let service = Arc::new(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let app = keystead_aws::router(service.clone(), AwsConfig::default())
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { _dir: dir, service, root, addr, http: reqwest::Client::new() }
    }

    async fn principal(&self, name: &str, role: &str) -> Credentials {
        let principal = self
            .service
            .create_principal(&self.root, name, &[role.to_owned()], None)
            .await
            .expect("principal");
        // An admin makes access keys for workloads (crypto-user only); others make their own.
        let maker = if role == "crypto-user" {
            self.root.clone()
        } else {
            let refused = self.service.create_access_key(&self.root, name).await;
            assert!(refused.is_err(), "an admin cannot mint a {role}'s credential");
            self.service
                .authenticate(Some(principal.token.expose_secret()), "test")
                .await
                .expect("authenticates")
        };
        let created = self.service.create_access_key(&maker, name).await.expect("access key");
        let secret = String::from_utf8(created.secret.expose_secret().to_vec()).expect("text");
        assert_eq!(secret.len(), 40);
        assert!(created.key.id.starts_with("AKKS") && created.key.id.len() == 20);
        Credentials { id: created.key.id, secret }
    }

    /// Sends `body` as `operation`, signed like an AWS SDK signs it; the status and JSON.
    async fn call(&self, who: &Credentials, operation: &str, body: Value) -> (u16, Value) {
        self.call_at(who, operation, body, time::OffsetDateTime::now_utc()).await
    }

    async fn call_at(
        &self,
        who: &Credentials,
        operation: &str,
        body: Value,
        at: time::OffsetDateTime,
    ) -> (u16, Value) {
        let body = body.to_string();
        let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let amz_date = at.format(format).expect("formats");
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(&self.addr.to_string()).expect("ascii"));
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).expect("ascii"));
        headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        let target = format!("TrentService.{operation}");
        headers.insert("x-amz-target", HeaderValue::from_str(&target).expect("ascii"));
        let signed: Vec<String> =
            ["content-type", "host", "x-amz-date", "x-amz-target"].map(str::to_owned).to_vec();
        let auth = Authorization {
            access_key_id: who.id.clone(),
            date: amz_date[..8].to_owned(),
            region: "us-east-1".into(),
            service: "kms".into(),
            signed_headers: signed.clone(),
            signature: String::new(),
        };
        let request =
            SignedRequest { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
        let canonical = canonical_request(&request, &signed).expect("canonical");
        let sig = signature(
            &SecretBytes::from_slice(who.secret.as_bytes()),
            &auth,
            &string_to_sign(&auth, &amz_date, &canonical),
        );
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/kms/aws4_request, SignedHeaders={}, Signature={sig}",
            who.id,
            &amz_date[..8],
            signed.join(";")
        );
        let response = self
            .http
            .post(format!("http://{}/", self.addr))
            .header("x-amz-date", amz_date)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .expect("the endpoint answers");
        let status = response.status().as_u16();
        let value: Value = response.json().await.expect("a JSON body");
        (status, value)
    }
}

fn error_type(value: &Value) -> &str {
    value["__type"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_and_used_through_the_aws_api_keep_keysteads_controls() {
    let endpoint = Endpoint::start().await;
    let custodian = endpoint.principal("custodian", "key-custodian").await;
    let app = endpoint.principal("app", "crypto-user").await;

    let (status, created) = endpoint
        .call(&custodian, "CreateKey", json!({"Description": "orders", "KeyUsage": "ENCRYPT_DECRYPT"}))
        .await;
    assert_eq!(status, 200, "{created}");
    let metadata = &created["KeyMetadata"];
    let key_id = metadata["KeyId"].as_str().expect("an id").to_owned();
    assert_eq!(metadata["KeyState"], "Enabled");
    assert_eq!(metadata["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(metadata["Arn"], format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}"));
    assert_eq!(metadata["Description"], "orders");

    // No grant yet: the crypto user is refused, as natively.
    let plaintext = STANDARD.encode(b"attack at dawn");
    let context = json!({"tenant": "acme", "purpose": "orders"});
    let (status, refused) = endpoint
        .call(&app, "Encrypt", json!({"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": context}))
        .await;
    assert_eq!((status, error_type(&refused)), (400, "AccessDeniedException"), "{refused}");
    endpoint
        .service
        .add_grant(
            &endpoint.root,
            None,
            "app",
            &key_id,
            &["encrypt".to_owned(), "decrypt".to_owned(), "datakey".to_owned()],
        )
        .await
        .expect("grant");

    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}");
    let (status, encrypted) = endpoint
        .call(&app, "Encrypt", json!({"KeyId": arn, "Plaintext": plaintext, "EncryptionContext": context}))
        .await;
    assert_eq!(status, 200, "{encrypted}");
    assert_eq!(encrypted["KeyId"], arn);
    let blob = encrypted["CiphertextBlob"].as_str().expect("a blob").to_owned();

    // Context order does not matter; a different context fails; KeyId must be the right key.
    let reordered = json!({"purpose": "orders", "tenant": "acme"});
    let (status, decrypted) =
        endpoint.call(&app, "Decrypt", json!({"CiphertextBlob": blob, "EncryptionContext": reordered})).await;
    assert_eq!(status, 200, "{decrypted}");
    assert_eq!(decrypted["Plaintext"], plaintext);
    assert_eq!(decrypted["KeyId"], arn);
    let (_, wrong) = endpoint
        .call(&app, "Decrypt", json!({"CiphertextBlob": blob, "EncryptionContext": {"tenant": "other"}}))
        .await;
    assert_eq!(error_type(&wrong), "InvalidCiphertextException", "{wrong}");

    // The AWS blob decrypts natively (as the aws CLI prints it), and a native ciphertext
    // decrypts through AWS.
    let native_context: BTreeMap<String, String> =
        [("tenant".to_owned(), "acme".to_owned()), ("purpose".to_owned(), "orders".to_owned())].into();
    let opened = endpoint.service.decrypt(&endpoint.root_as_app().await, &blob, &native_context).await;
    assert_eq!(opened.expect("native decrypt").plaintext.expose_secret(), b"attack at dawn");
    let app_caller = endpoint.root_as_app().await;
    let native = endpoint
        .service
        .encrypt(&app_caller, None, &key_id, b"native", &native_context)
        .await
        .expect("native");
    let (status, from_native) = endpoint
        .call(&app, "Decrypt", json!({"CiphertextBlob": STANDARD.encode(native.as_bytes()), "EncryptionContext": context, "KeyId": key_id}))
        .await;
    assert_eq!(status, 200, "{from_native}");
    assert_eq!(from_native["Plaintext"], STANDARD.encode(b"native"));

    // A data key of 32 bytes, and one without plaintext.
    let (_, data_key) =
        endpoint.call(&app, "GenerateDataKey", json!({"KeyId": key_id, "KeySpec": "AES_256"})).await;
    assert_eq!(STANDARD.decode(data_key["Plaintext"].as_str().expect("plaintext")).expect("b64").len(), 32);
    let (_, no_plaintext) = endpoint
        .call(&app, "GenerateDataKeyWithoutPlaintext", json!({"KeyId": key_id, "NumberOfBytes": 64}))
        .await;
    assert!(
        no_plaintext.get("Plaintext").is_none() && no_plaintext["CiphertextBlob"].is_string(),
        "{no_plaintext}"
    );
    let (_, opened) =
        endpoint.call(&app, "Decrypt", json!({"CiphertextBlob": no_plaintext["CiphertextBlob"]})).await;
    assert_eq!(STANDARD.decode(opened["Plaintext"].as_str().expect("plaintext")).expect("b64").len(), 64);

    // A signing key: Sign, then Verify of the same and of another message.
    let (_, signing) = endpoint
        .call(&custodian, "CreateKey", json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}))
        .await;
    let signing_id = signing["KeyMetadata"]["KeyId"].as_str().expect("an id").to_owned();
    assert_eq!(signing["KeyMetadata"]["SigningAlgorithms"], json!(["ECDSA_SHA_256"]));
    endpoint
        .service
        .add_grant(&endpoint.root, None, "app", &signing_id, &["sign".to_owned(), "verify".to_owned()])
        .await
        .expect("grant");
    let message = STANDARD.encode(b"release 1.0");
    let sign = json!({"KeyId": signing_id, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"});
    let (status, signed) = endpoint.call(&app, "Sign", sign).await;
    assert_eq!(status, 200, "{signed}");
    let signature = signed["Signature"].clone();
    let verify = |message: &str| json!({"KeyId": signing_id, "Message": message, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"});
    let (_, valid) = endpoint.call(&app, "Verify", verify(&message)).await;
    assert_eq!(valid["SignatureValid"], true, "{valid}");
    let (_, invalid) = endpoint.call(&app, "Verify", verify(&STANDARD.encode(b"release 2.0"))).await;
    assert_eq!(error_type(&invalid), "KMSInvalidSignatureException", "{invalid}");
    let (_, other_algorithm) = endpoint
        .call(
            &app,
            "Sign",
            json!({"KeyId": signing_id, "Message": message, "SigningAlgorithm": "ECDSA_SHA_384"}),
        )
        .await;
    assert_eq!(error_type(&other_algorithm), "InvalidKeyUsageException", "{other_algorithm}");

    // Purpose: an encryption key does not sign. The service refuses and audits it, with the
    // key's purpose, as natively.
    let (_, misuse) = endpoint
        .call(&app, "Sign", json!({"KeyId": key_id, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}))
        .await;
    assert_eq!(error_type(&misuse), "InvalidKeyUsageException", "{misuse}");
    let events = endpoint
        .service
        .audit_list(&endpoint.root, None, Some(&key_id), None, None, Some(500))
        .await
        .expect("audit");
    let refused = events
        .iter()
        .find(|r| r.event.action.as_str() == "crypto.sign")
        .expect("the refused Sign is audited");
    assert_eq!(refused.event.outcome, keystead_core::Outcome::Denied);
    assert_eq!(refused.event.purpose, Some(keystead_core::Purpose::Encrypt));
    assert_eq!(refused.event.details.get("api_operation").map(String::as_str), Some("TrentService.Sign"));

    // Disabled keys refuse; enabled again they work.
    let (status, _) = endpoint.call(&custodian, "DisableKey", json!({"KeyId": key_id})).await;
    assert_eq!(status, 200);
    let (_, described) = endpoint.call(&custodian, "DescribeKey", json!({"KeyId": key_id})).await;
    assert_eq!(described["KeyMetadata"]["KeyState"], "Disabled");
    let (_, disabled) =
        endpoint.call(&app, "Encrypt", json!({"KeyId": key_id, "Plaintext": plaintext})).await;
    assert_eq!(error_type(&disabled), "KMSInvalidStateException", "{disabled}");
    endpoint.call(&custodian, "EnableKey", json!({"KeyId": key_id})).await;
    let (status, _) = endpoint.call(&app, "Encrypt", json!({"KeyId": key_id, "Plaintext": plaintext})).await;
    assert_eq!(status, 200);

    // Aliases resolve to the same key natively and through AWS.
    let (status, aliased) = endpoint
        .call(&custodian, "CreateAlias", json!({"AliasName": "alias/orders", "TargetKeyId": key_id}))
        .await;
    assert_eq!(status, 200, "{aliased}");
    let (_, via_alias) =
        endpoint.call(&app, "Encrypt", json!({"KeyId": "alias/orders", "Plaintext": plaintext})).await;
    assert_eq!(via_alias["KeyId"], arn);
    let (_, listed) = endpoint.call(&custodian, "ListAliases", json!({})).await;
    assert_eq!(listed["Aliases"][0]["AliasName"], "alias/orders");
    assert_eq!(listed["Aliases"][0]["TargetKeyId"], key_id);

    // Every call is audited with the AWS source and operation.
    let events = endpoint
        .service
        .audit_list(&endpoint.root, None, Some(&key_id), None, None, Some(500))
        .await
        .expect("audit");
    assert!(events
        .iter()
        .any(|r| r.event.details.get("api_operation").map(String::as_str) == Some("TrentService.Encrypt")
            && r.event.source.starts_with("aws 127.0.0.1:")
            && r.event.details.get("auth_method").map(String::as_str) == Some("sigv4")));
}

impl Endpoint {
    /// The `app` principal as a native caller.
    async fn root_as_app(&self) -> Caller {
        let principal = keystead_service::Caller { principal: "app".into(), ..self.root.clone() };
        Caller { root: false, roles: vec![keystead_core::Role::CryptoUser], ..principal }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_unknown_or_disabled_keys_and_unsupported_operations_get_aws_errors() {
    let endpoint = Endpoint::start().await;
    let app = endpoint.principal("app", "crypto-user").await;
    let (status, random) = endpoint.call(&app, "GenerateRandom", json!({"NumberOfBytes": 16})).await;
    assert_eq!(status, 200, "{random}");
    assert_eq!(STANDARD.decode(random["Plaintext"].as_str().expect("bytes")).expect("b64").len(), 16);

    let forged = Credentials { id: app.id.clone(), secret: "x".repeat(40) };
    let (status, refused) = endpoint.call(&forged, "GenerateRandom", json!({"NumberOfBytes": 16})).await;
    assert_eq!((status, error_type(&refused)), (400, "InvalidSignatureException"), "{refused}");
    let stale = time::OffsetDateTime::now_utc() - time::Duration::minutes(20);
    let (_, expired) = endpoint.call_at(&app, "GenerateRandom", json!({"NumberOfBytes": 16}), stale).await;
    assert_eq!(error_type(&expired), "InvalidSignatureException");
    assert!(expired["message"].as_str().unwrap_or("").contains("expired"), "{expired}");
    let unknown = Credentials { id: "AKKS0000000000000000".into(), secret: app.secret.clone() };
    let (_, unknown) = endpoint.call(&unknown, "GenerateRandom", json!({"NumberOfBytes": 16})).await;
    assert_eq!(error_type(&unknown), "UnrecognizedClientException");

    let (_, unsupported) = endpoint.call(&app, "CreateGrant", json!({"KeyId": "x"})).await;
    assert_eq!(error_type(&unsupported), "UnsupportedOperationException");
    assert!(unsupported["message"].as_str().unwrap_or("").contains("CreateGrant"));
    let (_, unknown_op) = endpoint.call(&app, "MakeCoffee", json!({})).await;
    assert_eq!(error_type(&unknown_op), "UnknownOperationException");

    // The key verified above, so it is cached: every change must reach the next request.
    let random = json!({"NumberOfBytes": 16});
    endpoint.service.set_access_key_disabled(&endpoint.root, &app.id, true).await.expect("disable");
    let (_, disabled) = endpoint.call(&app, "GenerateRandom", random.clone()).await;
    assert_eq!(error_type(&disabled), "UnrecognizedClientException");
    endpoint.service.set_access_key_disabled(&endpoint.root, &app.id, false).await.expect("enable");
    assert_eq!(endpoint.call(&app, "GenerateRandom", random.clone()).await.0, 200);
    endpoint.service.disable_principal(&endpoint.root, "app").await.expect("disable principal");
    let (_, inactive) = endpoint.call(&app, "GenerateRandom", random.clone()).await;
    assert_eq!(error_type(&inactive), "UnrecognizedClientException", "a disabled principal's key");
    endpoint.service.enable_principal(&endpoint.root, "app").await.expect("enable principal");
    assert_eq!(endpoint.call(&app, "GenerateRandom", random.clone()).await.0, 200);
    endpoint.service.delete_access_key(&endpoint.root, &app.id).await.expect("delete");
    let (_, deleted) = endpoint.call(&app, "GenerateRandom", random).await;
    assert_eq!(error_type(&deleted), "UnrecognizedClientException", "a deleted key");
    // Failed logins are audited (aggregated), never with the secret.
    let events =
        endpoint.service.audit_list(&endpoint.root, None, None, None, None, Some(500)).await.expect("audit");
    let failed: Vec<_> = events.iter().filter(|r| r.event.action.as_str() == "auth.failed").collect();
    let reasons: Vec<&str> =
        failed.iter().filter_map(|r| r.event.details.get("reason_code").map(String::as_str)).collect();
    for reason in ["bad_signature", "unknown_access_key", "inactive_access_key"] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    let text = format!("{:?}", failed.iter().map(|r| &r.event).collect::<Vec<_>>());
    assert!(!text.contains(&app.secret));
}
