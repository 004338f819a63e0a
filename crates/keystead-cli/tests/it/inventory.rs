//! CEK-21 with the real binary: `inventory list` filters, `inventory review`, and the
//! inventory report in JSON, CSV and HTML, the last opened in headless Chromium to check
//! that its inline SVG charts render.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::DevServer;

/// The chart bar colour of the HTML report (`report::render::BAR_COLOUR`) and the active
/// state's colour.
const BAR: [u8; 3] = [0x2f, 0x6d, 0xb5];
const ACTIVE: [u8; 3] = [0x2e, 0x8b, 0x57];

fn json(server: &DevServer, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&server.ok(&all, b"")).unwrap()
}

fn names(listed: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        listed["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

/// Chromium from Debian's `chromium` package; `.ci/run` installs it. Without it the test
/// fails in CI and is skipped (loudly) elsewhere.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "Chromium is required in CI (apt-get install chromium)");
        eprintln!("SKIPPED the browser check: no chromium here (CI installs it)");
    }
    found
}

/// Renders `page` in headless Chromium and counts the pixels of each colour.
fn rendered_pixels(browser: &Path, page: &Path, colours: &[[u8; 3]]) -> Vec<usize> {
    let shot = page.with_extension("png");
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buffer[..info.buffer_size()];
    colours.iter().map(|colour| pixels.chunks(channels).filter(|p| p[..3] == colour[..]).count()).collect()
}

#[test]
fn inventory_filters_reviews_and_a_report_that_renders_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let create = |name: &str, purpose: &str, algorithm: &str, extra: &[&str]| {
        let mut args = vec!["key", "create", name, "--purpose", purpose, "--algorithm", algorithm];
        args.extend_from_slice(extra);
        server.ok(&args, b"");
    };
    create("prompts", "encrypt", "aes-256-gcm", &["--owner", "ml-platform", "--label", "team=ml"]);
    create("release-signing", "sign", "ed25519", &["--owner", "release", "--rotation-period", "90d"]);
    create("tags", "mac", "hmac-sha256", &["--owner", "<img src=x onerror=alert(1)>"]);
    create("leaked", "encrypt", "aes-256-gcm", &[]);
    server.ok(
        &[
            "key",
            "compromise",
            "leaked",
            "--incident",
            "INC-1",
            "--occurred-at",
            "2026-01-01T00:00:00Z",
            "--reason",
            "leak",
        ],
        b"",
    );
    server.ok(&["key", "rotate", "prompts"], b"");

    let all = json(&server, &["inventory", "list"]);
    assert_eq!(all["total"], 5, "four keys and the audit signing key: {all}");
    let signing = json(&server, &["inventory", "list", "--purpose", "sign"]);
    assert_eq!(names(&signing), ["keystead-audit-signing", "release-signing"]);
    assert_eq!(names(&json(&server, &["inventory", "list", "--state", "compromised"])), ["leaked"]);
    assert_eq!(names(&json(&server, &["inventory", "list", "--label", "team=ml"])), ["prompts"]);
    assert_eq!(names(&json(&server, &["inventory", "list", "--owner", "release"])), ["release-signing"]);
    let deactivated = json(
        &server,
        &[
            "inventory",
            "list",
            "--state",
            "deactivated",
            "--state",
            "active",
            "--sort",
            "rotated",
            "--desc",
            "--limit",
            "2",
        ],
    );
    assert_eq!(deactivated["keys"][0]["name"], "prompts", "rotated last: {deactivated}");
    assert_eq!(deactivated["next_offset"], 2);
    let table = server.ok(&["inventory", "list", "--purpose", "sign"], b"");
    assert!(table.contains("release-signing") && table.contains("keys 1–2 of 2"), "{table}");

    let reviewed =
        server.ok(&["inventory", "review", "prompts", "--attest", "still encrypting prompts"], b"");
    assert!(reviewed.contains("reviewed prompts"), "{reviewed}");
    let none_overdue = json(&server, &["inventory", "list", "--not-reviewed-since", "1h"]);
    assert!(!names(&none_overdue).contains(&"prompts".to_owned()), "{none_overdue}");

    let report = json(&server, &["inventory", "report", "--format", "json"]);
    assert_eq!(report["totals"]["keys"], 5);
    assert_eq!(report["totals"]["versions"], 6);
    assert_eq!(report["totals"]["versions_by_state"]["compromised"], 1);
    assert_eq!(report["compromised"][0]["incident"], "INC-1");
    assert_eq!(report["totals"]["keys_by_purpose"]["encrypt"], 2);
    let csv = server.ok(&["inventory", "report", "--format", "csv"], b"");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("tenant,key,key_id,version,state"), "{}", lines[0]);
    assert_eq!(lines.len(), 7, "a header and one line per version");

    let page = dir.path().join("inventory.html");
    server.ok(&["inventory", "report", "--format", "html", "--out", page.to_str().unwrap()], b"");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<img"), "user text is escaped");
    assert!(html.contains("&lt;img src=x"), "and still shown");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained, no scripts"
    );
    assert_eq!(html.matches("<svg").count(), 5, "five charts");
    if let Some(browser) = chromium() {
        let counts = rendered_pixels(&browser, &page, &[BAR, ACTIVE]);
        // A bar is at least 2×18 px; each chart colour must cover real bars on screen.
        assert!(counts[0] > 500, "chart bars rendered: {counts:?}");
        assert!(counts[1] > 200, "the active-state bar rendered: {counts:?}");
    }
}

#[test]
fn anomalies_metrics_and_compliance_evidence_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    server.ok(&["key", "create", "signer", "--purpose", "sign", "--algorithm", "ed25519"], b"");
    let refused = server.cli(&["encrypt", "signer"], b"not for a signing key");
    assert_eq!(refused.status.code(), Some(5), "{}", String::from_utf8_lossy(&refused.stderr));

    // The dev scheduler scans the audit stream every second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let anomalies = loop {
        let found = json(&server, &["inventory", "anomalies"]);
        if found.as_array().is_some_and(|a| !a.is_empty()) || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(anomalies[0]["rule"], "purpose-violation", "{anomalies}");
    assert_eq!(anomalies[0]["severity"], "high");
    let table = server.ok(&["inventory", "anomalies"], b"");
    assert!(table.contains("purpose-violation") && table.contains("signer"), "{table}");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.addr)).unwrap().text().unwrap();
    assert!(metrics.contains("keystead_anomalies_total{rule=\"purpose-violation\"} 1"), "{metrics}");

    let markdown = server.ok(&["compliance", "report", "--format", "md"], b"");
    for id in ["CEK-10", "CEK-11", "CEK-19", "CEK-20", "CEK-21"] {
        assert!(markdown.contains(&format!("## {id} ")), "{id} in {markdown}");
    }
    assert!(markdown.contains("| purpose violations refused (30 d) | 1 |"), "{markdown}");
    let report = json(&server, &["compliance", "report", "--format", "json"]);
    let inventory = report["controls"].as_array().unwrap().iter().find(|c| c["id"] == "CEK-21").unwrap();
    let intact =
        inventory["evidence"].as_array().unwrap().iter().find(|e| e["name"] == "audit chain intact").unwrap();
    assert_eq!(intact["value"], true);
    let page = dir.path().join("compliance.html");
    server.ok(&["compliance", "report", "--format", "html", "--out", page.to_str().unwrap()], b"");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<h2>").count(), 5, "one section per control");
    let assessment = json(&server, &["recovery", "assess"]);
    assert_eq!(assessment["keys"], 2, "the signer and the audit signing key: {assessment}");
    assert_eq!(assessment["mismatches"], 0);
    let markdown = server.ok(&["recovery", "assess"], b"");
    assert!(markdown.contains("# Key recovery assessment"), "{markdown}");
    assert!(markdown.contains("default/signer"), "{markdown}");
    let bad = server.cli(&["compliance", "report", "--format", "pdf"], b"");
    assert_eq!(bad.status.code(), Some(2), "clap refuses an unknown format");
}
