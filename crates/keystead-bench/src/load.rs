//! The load generator: a fixed number of keep-alive HTTP/1.1 connections, each sending one
//! request after another for a fixed time, every latency recorded in a histogram.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// One kind of request, sent over and over.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// GET or POST.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// The bearer token, if any (not a secret worth protecting: a benchmark principal).
    pub bearer: Option<String>,
    /// The JSON body (empty for GET).
    pub body: Bytes,
    /// Further headers, e.g. an AWS SigV4 signature; a `content-type` here replaces JSON's.
    pub headers: Vec<(&'static str, String)>,
}

impl Target {
    fn request(&self) -> Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header("host", self.addr.to_string());
        if !self.headers.iter().any(|(name, _)| *name == "content-type") {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = &self.bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        Ok(request.body(Full::new(self.body.clone()))?)
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Answers with a 2xx status per second.
    pub per_second: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Answers with another status, or broken connections.
    pub failed: u64,
    /// The first unexpected status seen, if any.
    pub first_failure: Option<String>,
}

struct ConnectionResult {
    latencies: Histogram<u64>,
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
}

/// Drives `target` with `connections` concurrent connections for `duration`, after `warmup`
/// (whose requests are sent but not counted).
pub async fn run(
    target: &Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let target = target.clone();
        tasks.push(tokio::spawn(async move { drive(target, start, end).await }));
    }
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("histogram")?;
    let (mut ok, mut failed, mut first_failure) = (0, 0, None);
    for task in tasks {
        let result = task.await.context("a load task panicked")??;
        latencies.add(&result.latencies).context("histogram")?;
        ok += result.ok;
        failed += result.failed;
        first_failure = first_failure.or(result.first_failure);
    }
    Ok(Measured {
        per_second: ok as f64 / duration.as_secs_f64(),
        p50_us: latencies.value_at_quantile(0.50),
        p99_us: latencies.value_at_quantile(0.99),
        ok,
        failed,
        first_failure,
    })
}

async fn connect(addr: SocketAddr) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream =
        tokio::net::TcpStream::connect(addr).await.with_context(|| format!("cannot reach {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn drive(target: Target, start: Instant, end: Instant) -> Result<ConnectionResult> {
    let mut sender = connect(target.addr).await?;
    let mut result = ConnectionResult {
        latencies: Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?,
        ok: 0,
        failed: 0,
        first_failure: None,
    };
    loop {
        let sent = Instant::now();
        if sent >= end {
            return Ok(result);
        }
        let answer = match sender.send_request(target.request()?).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                match body {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => {
                        Err(format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
                    }
                    Err(err) => Err(err.to_string()),
                }
            }
            Err(err) => Err(err.to_string()),
        };
        let counted = sent >= start;
        match answer {
            Ok(()) if counted => {
                result.ok += 1;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                result.latencies.saturating_record(micros);
            }
            Ok(()) => {}
            Err(why) => {
                if counted {
                    result.failed += 1;
                }
                result.first_failure.get_or_insert(why);
                if sender.is_closed() {
                    sender = connect(target.addr).await?;
                }
            }
        }
    }
}

/// Sends `target` once and returns the answer's body; fails on any status but 2xx.
pub async fn once(target: &Target) -> Result<Bytes> {
    let mut sender = connect(target.addr).await?;
    let response = sender.send_request(target.request()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{} {}: {status}: {}", target.method, target.path, String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Sends `target` `count` times over `connections` connections as fast as they answer;
/// returns how many succeeded. Fails if any did not.
pub async fn send_count(target: &Target, connections: usize, count: u64) -> Result<u64> {
    let remaining = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::try_from(count)?));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, remaining) = (target.clone(), remaining.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(target.addr).await?;
            let mut sent = 0u64;
            while remaining.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                let response = sender.send_request(target.request()?).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if !status.is_success() {
                    bail!("{status}: {}", String::from_utf8_lossy(&body));
                }
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.context("a load task panicked")??;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator against the bare endpoint in this process: requests answered, none failed,
    /// and a wrong path counted as failures, not successes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drives_the_bare_endpoint_and_counts_failures() -> Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(crate::bare::serve(listener));
        let body = Bytes::from(r#"{"plaintext":"aGVsbG8="}"#);
        let encrypt = Target {
            addr,
            method: Method::POST,
            path: "/encrypt".into(),
            bearer: None,
            body,
            headers: Vec::new(),
        };
        let ciphertext: serde_json::Value = serde_json::from_slice(&once(&encrypt).await?)?;
        let decrypt = Target {
            path: "/decrypt".into(),
            body: Bytes::from(serde_json::to_vec(
                &serde_json::json!({ "ciphertext": ciphertext["ciphertext"] }),
            )?),
            ..encrypt.clone()
        };
        let plain: serde_json::Value = serde_json::from_slice(&once(&decrypt).await?)?;
        assert_eq!(plain["plaintext"], "aGVsbG8=");

        let measured = run(&encrypt, 4, Duration::from_millis(50), Duration::from_millis(300)).await?;
        assert!(measured.ok > 0 && measured.failed == 0, "{measured:?}");
        assert!(measured.p50_us <= measured.p99_us);

        let missing = Target { path: "/nowhere".into(), ..encrypt.clone() };
        let measured = run(&missing, 2, Duration::ZERO, Duration::from_millis(200)).await?;
        assert_eq!(measured.ok, 0);
        assert!(measured.failed > 0);
        assert!(measured.first_failure.as_deref().is_some_and(|f| f.starts_with("404")), "{measured:?}");

        assert_eq!(send_count(&encrypt, 3, 10).await?, 10);
        Ok(())
    }
}
