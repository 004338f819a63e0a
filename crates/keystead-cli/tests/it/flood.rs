//! Anonymous traffic cannot write the audit log: a flood of bad credentials costs a few
//! aggregated `auth.failed` events whose counts add up to what was sent, the source is
//! refused with 429 and `Retry-After` once it reaches the limit, and the server log gets a
//! line per written event, not per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::util::DevServer;

/// Requests the flood sends.
const FLOOD: u64 = 10_000;

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::blocking::Client::new()
}

/// A shamir-sealed server on loopback: 50 failures a minute block a source for 3 s; counts
/// are written every 5 s.
fn server(dir: &std::path::Path) -> (DevServer, String) {
    let port = crate::util::free_port();
    let config = dir.join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nenvironment = \"staging\"\nnode = \"flood-1\"\n\
             [storage]\nurl = \"sqlite://data/keystead.db\"\n[seal]\nkind = \"shamir\"\n\
             [auth]\nmax_failures = 50\nfailure_window = \"1m\"\nblock = \"3s\"\nsummary_interval = \"5s\"\n"
        ),
    )
    .unwrap();
    let server = DevServer::start_configured(dir, &config, &format!("http://127.0.0.1:{port}"), &[]);
    let init: Value = serde_json::from_str(
        &server.ok(&["--output", "json", "operator", "init", "--shares", "1", "--threshold", "1"], b""),
    )
    .unwrap();
    let share = init["shares"][0].as_str().unwrap().to_owned();
    server.ok(&["operator", "unseal"], format!("{share}\n").as_bytes());
    (server, init["root_token"].as_str().unwrap().to_owned())
}

/// Waits until this source is no longer refused (the block is over); returns the refusals seen.
fn wait_until_admitted(client: &reqwest::blocking::Client, addr: &str, token: &str) -> u64 {
    for refused in 0..100 {
        let status = client.get(format!("{addr}/v1/status")).bearer_auth(token).send().unwrap().status();
        if status.as_u16() != 429 {
            assert_eq!(status.as_u16(), 200);
            return refused;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("still refused after 20 s");
}

#[test]
fn a_flood_of_bad_credentials_writes_a_few_events_whose_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let (server, root) = server(dir.path());
    let client = http();
    let addr = server.addr.clone();

    let started = std::time::Instant::now();
    let unauthorized = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let (client, addr) = (client.clone(), addr.clone());
            let (unauthorized, limited) = (unauthorized.clone(), limited.clone());
            std::thread::spawn(move || {
                for n in 0..FLOOD / 4 {
                    let mut request = client.get(format!("{addr}/v1/keys"));
                    // Three kinds: no token, a guessed token, and an empty one.
                    match n % 3 {
                        0 => {}
                        1 => request = request.bearer_auth(format!("ks_guess_{thread}_{n}")),
                        _ => request = request.header("authorization", "Bearer "),
                    }
                    let response = request.send().unwrap();
                    match response.status().as_u16() {
                        401 => unauthorized.fetch_add(1, Ordering::Relaxed),
                        429 => {
                            let retry: u64 =
                                response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                            assert!((1..=3).contains(&retry), "Retry-After {retry}");
                            let body: Value = response.json().unwrap();
                            assert_eq!(body["error"]["code"], "rate_limited");
                            limited.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("unexpected status {other}"),
                    };
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (unauthorized, limited) = (unauthorized.load(Ordering::Relaxed), limited.load(Ordering::Relaxed));
    assert_eq!(unauthorized + limited, FLOOD);
    assert!(limited > FLOOD / 2, "most of the flood is refused before authentication: {limited}");
    assert!(unauthorized >= 50, "the limit is reached only after 50 failures: {unauthorized}");

    // Once the block is over, guesses one after another until the address is blocked again
    // (at most 50); then even the right token is refused: guessing cannot go on.
    let mut refused_while_waiting = wait_until_admitted(&client, &addr, &root);
    let (mut guessed, mut guess_limited) = (0, 0);
    for n in 0..60 {
        let status = client
            .get(format!("{addr}/v1/keys"))
            .bearer_auth(format!("ks_guess_again_{n}"))
            .send()
            .unwrap()
            .status();
        match status.as_u16() {
            401 => guessed += 1,
            429 => {
                guess_limited += 1;
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(guess_limited, 1, "blocked again within 50 guesses");
    assert!(guessed <= 50);
    let blocked = client.get(format!("{addr}/v1/status")).bearer_auth(&root).send().unwrap();
    assert_eq!(blocked.status().as_u16(), 429, "the right token is refused while blocked");
    refused_while_waiting += guessed + guess_limited + 1 + wait_until_admitted(&client, &addr, &root);
    // The last interval's counts are written within 5 s.
    std::thread::sleep(Duration::from_millis(6_000));

    let events: Value = client
        .get(format!("{addr}/v1/audit?actor=anonymous&limit=10000"))
        .bearer_auth(&root)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let failed: Vec<&Value> =
        events.as_array().unwrap().iter().filter(|e| e["action"] == "auth.failed").collect();
    let count_of = |e: &&Value| e["details"]["count"].as_str().unwrap().parse::<u64>().unwrap();
    let total: u64 = failed.iter().map(count_of).sum();
    // The root requests refused while blocked are counted too.
    assert_eq!(total, FLOOD + refused_while_waiting, "counts add up to the requests refused");
    let limited_total: u64 =
        failed.iter().filter(|e| e["details"]["reason_code"] == "rate_limited").map(count_of).sum();
    assert_eq!(limited_total + guessed, limited + refused_while_waiting);
    // Per summary interval (5 s) and tally (missing, unknown, rate-limited): 3 written at once
    // and one summary. The flood takes a few seconds; a slow machine spans more intervals.
    let intervals = started.elapsed().as_secs() / 5 + 2;
    let bound = 3 * 4 * usize::try_from(intervals).unwrap();
    eprintln!("{FLOOD} refused requests: {unauthorized} × 401, {limited} × 429, {} audit rows", failed.len());
    assert!(
        failed.len() <= bound,
        "a few rows per interval, not one per request: {} > {bound}",
        failed.len()
    );
    for reason in ["missing_credential", "unknown_token", "rate_limited"] {
        assert!(failed.iter().any(|e| e["details"]["reason_code"] == reason), "{reason} recorded");
    }
    for event in &failed {
        assert_eq!(event["details"]["address"], "127.0.0.1");
        assert_eq!(event["outcome"], "denied");
        assert!(!event.to_string().contains("ks_guess_"), "a presented token is never recorded");
        if event["details"]["aggregated"] == "true" {
            let time = |field: &str| {
                let text = event["details"][field].as_str().unwrap();
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
            };
            assert!(time("first_seen") <= time("last_seen"), "{event}");
        }
    }
    let log = server.stop();
    let lines = log.lines().filter(|l| l.contains("not authenticated")).count();
    assert!(lines <= failed.len(), "one log line per written event ({lines} lines, {} events)", failed.len());
    assert!(!log.contains("ks_guess_"), "no token in the log");
}
