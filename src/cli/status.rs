//! `redis-topology status`: the live streams and groups against the file's `health`; once,
//! every few seconds (`--watch`), or served to Prometheus (`--listen`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::session::{ReadAhead, Session, block_on, exit_soon, open_for};
use super::{
    ColourChoice, Failure, StatusArgs, StatusFormat, TargetArgs, print_stderr, print_stdout,
};
use crate::model::secrets::Missing;
use crate::render;
use crate::status::evaluate::Report;
use crate::text::untrusted;

/// The most of a scrape's request the exporter reads (its request line and headers).
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: StatusArgs, colour: ColourChoice) -> Result<u8, Failure> {
    block_on(status(args, colour))
}

async fn status(args: StatusArgs, colour: ColourChoice) -> Result<u8, Failure> {
    let (format, watch, listen) = (args.format, args.watch, args.listen);
    let min_interval = Duration::from_secs(args.min_interval);
    let target = TargetArgs {
        file: args.file,
        env: args.env,
        server: args.server,
        prune: false,
    };
    // Read-only, and no password is sent anywhere: one whose variable is not set is fine.
    // Served to Prometheus, the first scrape comes later: nothing is read ahead for it.
    let ahead = if listen.is_some() {
        ReadAhead::Nothing
    } else {
        ReadAhead::Status
    };
    let mut session = open_for(&target, colour, Missing::NotKnown, ahead).await?;
    if let Some(address) = listen {
        return serve(session, &target, colour, address, min_interval).await;
    }
    let terminal = std::io::stdout().is_terminal();
    loop {
        let report = report(&mut session).await?;
        if watch.is_some() && terminal {
            // Home and clear, then the report in place of the last one.
            print_stdout("\x1b[H\x1b[2J");
        }
        print_report(&report, &session, format, colour.enabled(terminal));
        let code = report.worst().exit_code();
        let Some(every) = watch else {
            // 30,000 rows and the desired state of 10,000 streams: not freed one by one.
            exit_soon((session, report));
            return Ok(code);
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(code),
        }
    }
}

/// Read and evaluate, once.
async fn report(session: &mut Session) -> Result<Report, Failure> {
    Ok(session.status_report().await?)
}

/// Print the report in `format`; the human one piece by piece, as it is written.
fn print_report(report: &Report, session: &Session, format: StatusFormat, colour: bool) {
    let shown = session.plan_target();
    match format {
        StatusFormat::Human => render::status::write_human(report, &shown, colour, print_stdout),
        StatusFormat::Json => {
            print_stdout(&format!("{:#}\n", render::status::json(report, &shown)))
        }
        StatusFormat::Prometheus => print_stdout(&render::status::prometheus(report, &shown)),
        StatusFormat::Markdown => print_stdout(&render::status::markdown(report, &shown)),
    }
}

/// Serve the Prometheus format on `address` until Ctrl-C: each `GET /metrics` reads the
/// server again, unless the last read is younger than `min_interval`. A read that fails is
/// served as `redis_topology_up 0` (and said on stderr), and the next scrape connects again.
/// One scrape at a time: Prometheus scrapes every few seconds at most.
async fn serve(
    session: Session,
    target: &TargetArgs,
    colour: ColourChoice,
    address: SocketAddr,
    min_interval: Duration,
) -> Result<u8, Failure> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| Failure::Message(format!("cannot listen on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Message(format!("cannot listen on {address}: {e}")))?;
    print_stderr(&format!(
        "serving the Prometheus format on http://{bound}/metrics (Ctrl-C stops)\n"
    ));
    let mut session = Some(session);
    let mut last: Option<(Instant, String)> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tokio::signal::ctrl_c() => return Ok(0),
        };
        let Ok((mut socket, _)) = accepted else {
            continue;
        };
        let path = tokio::time::timeout(REQUEST_TIMEOUT, request_path(&mut socket))
            .await
            .ok()
            .flatten();
        let response = match path.as_deref() {
            Some("/metrics") => {
                let fresh = last
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < min_interval)
                    .map(|(_, body)| body.clone());
                let body = match fresh {
                    Some(body) => body,
                    None => {
                        let body = scrape(&mut session, target, colour).await;
                        last = Some((Instant::now(), body.clone()));
                        body
                    }
                };
                http("200 OK", "text/plain; version=0.0.4; charset=utf-8", &body)
            }
            Some(_) => http(
                "404 Not Found",
                "text/plain; charset=utf-8",
                "the metrics are at /metrics\n",
            ),
            None => http(
                "400 Bad Request",
                "text/plain; charset=utf-8",
                "not an HTTP GET\n",
            ),
        };
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}

/// One read for a scrape: the metrics with `redis_topology_up 1`, or `redis_topology_up 0`
/// when the server could not be read (the session is then opened again next time).
async fn scrape(
    session: &mut Option<Session>,
    target: &TargetArgs,
    colour: ColourChoice,
) -> String {
    let started = Instant::now();
    let read = match session.take() {
        Some(current) => Ok(current),
        None => open_for(target, colour, Missing::NotKnown, ReadAhead::Nothing).await,
    };
    let outcome = match read {
        Ok(mut current) => {
            let outcome = report(&mut current)
                .await
                .map(|report| render::status::prometheus(&report, &current.plan_target()));
            if outcome.is_ok() {
                *session = Some(current);
            }
            outcome
        }
        Err(failure) => Err(failure),
    };
    let up = |value: u8| {
        format!(
            "# HELP redis_topology_up Whether the last read of the server succeeded.\n# TYPE redis_topology_up gauge\nredis_topology_up {value}\n# HELP redis_topology_read_duration_seconds How long the last read took.\n# TYPE redis_topology_read_duration_seconds gauge\nredis_topology_read_duration_seconds {}\n",
            started.elapsed().as_secs_f64()
        )
    };
    match outcome {
        Ok(metrics) => metrics + &up(1),
        Err(failure) => {
            print_stderr(&format!(
                "error: a scrape could not read the server: {}\n",
                untrusted(&failure.to_string())
            ));
            up(0)
        }
    }
}

/// The path of a `GET` request, from its request line; `None` for anything else (or a
/// request larger than [`MAX_REQUEST_BYTES`] before the end of its headers).
async fn request_path(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST_BYTES {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        return None;
    }
    Some(target.split('?').next().unwrap_or(target).to_owned())
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
