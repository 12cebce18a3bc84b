//! What `plan` and `apply` share: load one environment, connect, read, plan.

use std::io::IsTerminal;
use std::sync::Arc;

use super::validate::NotLoaded;
use super::{ColourChoice, Failure, SentinelArgs, TargetArgs, print_stderr, print_warning};
use crate::live::{LiveState, read};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::secrets::{Missing, Secrets};
use crate::model::types::Topology;
use crate::plan::{self, Plan};
use crate::redis_url::{Origin, RedisUrl, resolve_url};
use crate::render::plan::{DeploymentShown, PlanTarget};
use crate::status::StreamReading;
use crate::status::evaluate::{Report, ReportBuilder};
use crate::target::{ConnectOptions, Deployment, Role, Sentinels, Target, TargetError};
use crate::{status, validate};

/// A loaded environment and a connected server.
pub struct Session {
    pub desired: Arc<Desired>,
    pub target: Target,
    /// What was read while the file was validated, for the first read.
    prefetched: Option<Prefetched>,
    /// `status`: the report of the streams read ahead, evaluated while the rest was read.
    early_report: Option<ReportBuilder>,
}

/// What to read while the file is validated: what a plan reads, what `status` reads, or
/// nothing (a command that reads something else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAhead {
    Plan,
    Status,
    Nothing,
}

/// `status`'s streams read ahead go to the main task this many at a time.
const STREAMS_PER_HANDOVER: usize = 100;

/// What was read ahead (see [`ReadAhead`]).
enum Prefetched {
    Plan(Box<read::Prefetched>),
    Status(status::read::Prefetched),
}

/// The deployment for the plan's header: `None` for one server reached by its URL (the
/// header stays as it always was).
pub(super) fn deployment_shown(target: &Target) -> Option<DeploymentShown> {
    let kind = match target.deployment() {
        Deployment::Standalone if target.nodes().count() <= 1 => return None,
        Deployment::Standalone => "replicated",
        Deployment::Sentinel => "sentinel",
        Deployment::Cluster => "cluster",
    };
    let (mut primaries, mut replicas) = (Vec::new(), Vec::new());
    for node in target.nodes() {
        let address = target.address(node).to_owned();
        match target.role(node) {
            Some(Role::Primary) => primaries.push(address),
            _ => replicas.push(address),
        }
    }
    Some(DeploymentShown {
        kind,
        master_name: target.sentinel_master().map(str::to_owned),
        primaries,
        replicas,
    })
}

/// What a plan's header names: `url` (redacted) and the deployment given apart, so that a
/// caller may keep using the target meanwhile.
pub(super) fn plan_target_of<'a>(
    desired: &'a Desired,
    url: &'a str,
    deployment: Option<DeploymentShown>,
) -> PlanTarget<'a> {
    PlanTarget {
        url,
        namespace: &desired.namespace,
        environment: desired.environment.as_deref(),
        deployment,
    }
}

impl Session {
    pub fn plan_target(&self) -> PlanTarget<'_> {
        plan_target_of(
            &self.desired,
            self.target.describe().as_str(),
            deployment_shown(&self.target),
        )
    }

    /// Read the live state and plan against it.
    pub async fn read_and_plan(&mut self, prune: bool) -> Result<(LiveState, Plan), Failure> {
        let live = self.read_live().await?;
        let plan =
            plan::plan(&self.desired, &live, plan::Options { prune }).map_err(Failure::Refused)?;
        Ok((live, plan))
    }

    /// Read the live state a plan compares with, going on from what was read ahead.
    pub async fn read_live(&mut self) -> Result<LiveState, Failure> {
        let prefetched = match self.prefetched.take() {
            Some(Prefetched::Plan(prefetched)) => Some(*prefetched),
            _ => None,
        };
        Ok(read::read_after(&mut self.target, &self.desired, prefetched).await?)
    }

    /// Read what `status` checks and evaluate it, going on from what was read ahead (and
    /// evaluated meanwhile), if anything.
    pub async fn status_report(&mut self) -> Result<Report, TargetError> {
        let early = self.early_report.take();
        match self.prefetched.take() {
            Some(Prefetched::Status(prefetched)) => {
                status::read::report_after(&mut self.target, &self.desired, prefetched, early).await
            }
            _ => {
                let readings = status::read::read(&mut self.target, &self.desired).await?;
                Ok(status::evaluate::evaluate(&self.desired, &readings))
            }
        }
    }
}

/// Validate the chosen environment (printing its diagnostics) and connect to the server.
///
/// When the file names its namespace near the top, the server is read meanwhile, on the
/// runtime's worker threads: the header, the ACL users and every stream the namespace's
/// record names, which on a converged server is everything a plan reads (measured: a no-op plan of 10,000
/// streams, ~80 -> ~60 ms). Only reads are sent, and what was read is used only if the file
/// turns out valid and really has that namespace; a connection error is reported only for a
/// valid file, as before.
pub async fn open(
    args: &TargetArgs,
    colour: ColourChoice,
    missing: Missing,
) -> Result<Session, Failure> {
    open_for(args, colour, missing, ReadAhead::Plan).await
}

/// [`open`], reading ahead what `ahead` says.
pub async fn open_for(
    args: &TargetArgs,
    colour: ColourChoice,
    missing: Missing,
    ahead: ReadAhead,
) -> Result<Session, Failure> {
    let url = server_url(args.server.url.as_deref(), args.server.url_file.as_deref())
        .map_err(Failure::Message)?;
    let via = sentinels(&args.server.sentinel).map_err(Failure::Message)?;
    let hint = match ahead {
        ReadAhead::Nothing => None,
        ReadAhead::Plan | ReadAhead::Status => namespace_hint(&args.file),
    };
    // `status`'s streams, handed over as they are read, to be evaluated meanwhile.
    let (streamed_in, mut streamed) = tokio::sync::mpsc::unbounded_channel::<Vec<StreamReading>>();
    let prefetch = hint.clone().map(|namespace| {
        let (url, via, ca) = (url.clone(), via.clone(), args.server.tls_ca_cert.clone());
        tokio::spawn(async move {
            let mut target = connect(&url, via.as_ref(), ca).await?;
            let prefetched = match ahead {
                ReadAhead::Status => {
                    let mut ready = Vec::new();
                    let mut sink = |reading| {
                        ready.push(reading);
                        if ready.len() >= STREAMS_PER_HANDOVER {
                            let _ = streamed_in.send(std::mem::take(&mut ready));
                        }
                    };
                    let prefetched = status::read::prefetch(&mut target, &namespace, &mut sink)
                        .await
                        .ok()
                        .map(Prefetched::Status);
                    let _ = streamed_in.send(ready);
                    prefetched
                }
                _ => read::prefetch(&mut target, &namespace)
                    .await
                    .ok()
                    .map(|prefetched| Prefetched::Plan(Box::new(prefetched))),
            };
            Ok::<_, TargetError>((target, prefetched))
        })
    });
    let topology =
        load_topology(&args.file, args.env.as_deref(), colour).map_err(Failure::NotLoaded)?;
    let base_dir = validate::base_dir(&args.file);
    let secrets = Secrets::Read {
        vars: &ProcessEnv,
        base_dir: &base_dir,
        missing,
    };
    let desired = match Desired::from_owned_topology(topology, args.env.as_deref(), &secrets) {
        Ok(desired) => desired,
        Err(problems) => return Err(Failure::MissingSecrets(problems)),
    };
    // Plan and apply need the digest: computed on a thread of its own, while the server is
    // still being read or the reads are compared with the file (~3 ms at 10,000 streams; a
    // caller that wants it before it is done waits for it).
    let desired = Arc::new(desired);
    if ahead == ReadAhead::Plan {
        let digesting = Arc::clone(&desired);
        // Without a thread (the system refused one), the first caller computes it.
        let _ = std::thread::Builder::new().spawn(move || {
            let _ = digesting.digest();
        });
    }
    // The streams read ahead for this namespace are evaluated as they come.
    let mut early = (ahead == ReadAhead::Status && hint.as_deref() == Some(&desired.namespace))
        .then(|| ReportBuilder::new(&desired));
    let mut take = |readings: Vec<StreamReading>| {
        if let Some(early) = early.as_mut() {
            for reading in readings {
                status::read::take_prefetched(early, &desired, reading);
            }
        }
    };
    let prefetched = match prefetch {
        Some(mut task) => loop {
            tokio::select! {
                Some(readings) = streamed.recv() => take(readings),
                // A failed task: connect again below.
                done = &mut task => {
                    while let Ok(readings) = streamed.try_recv() {
                        take(readings);
                    }
                    break done.ok();
                }
            }
        },
        None => None,
    };
    let (target, prefetched) = match prefetched {
        Some(connected) => connected?,
        None => (
            connect(&url, via.as_ref(), args.server.tls_ca_cert.clone()).await?,
            None,
        ),
    };
    Ok(Session {
        desired,
        target,
        prefetched,
        early_report: early,
    })
}

/// Load and validate one environment of a topology file, printing its diagnostics (with
/// their file and line) on stderr; `Err` says why it cannot be used.
pub fn load_topology(
    file: &std::path::Path,
    env: Option<&str>,
    colour: ColourChoice,
) -> Result<Topology, NotLoaded> {
    let (report, topology) = validate::load_environment(file, env, &ProcessEnv);
    if !report.diagnostics.is_empty() {
        let colour = colour.enabled(std::io::stderr().is_terminal());
        print_stderr(&super::validate::diagnostics_text(&report, colour));
    }
    topology.ok_or_else(|| NotLoaded::of(file, &report))
}

/// The namespace a topology file sets at its top level, read from its first 64 KB without
/// parsing (`namespace: shop`); `None` when it is not there in that plain form. A guess:
/// what is read with it is used only if the loaded file agrees. A namespace the format
/// rejects (glob characters, a reserved `__topology__` part) is no guess: plan and apply then
/// stop at its diagnostic without connecting.
fn namespace_hint(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    let head = String::from_utf8_lossy(&head);
    let value = head
        .lines()
        .find_map(|line| line.strip_prefix("namespace:"))?;
    let value = value.split(" #").next().unwrap_or_default().trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    let plain = !value.contains(['$', '"', '\'', '{', '[', '&', '*']);
    (plain && validate::names::namespace_problem(value).is_none()).then(|| value.to_owned())
}

/// The server URL of `--url`, `--url-file`, `$REDIS_URL` or the default (see
/// [`resolve_url`]). A password on the command line is warned about: any user of the
/// machine can read a process's arguments while it runs.
pub fn server_url(flag: Option<&str>, file: Option<&std::path::Path>) -> Result<RedisUrl, String> {
    let environment = std::env::var("REDIS_URL").ok();
    let (url, origin) = resolve_url(flag, file, environment)?;
    if origin == Origin::Flag && url.password().is_some() {
        print_warning(PASSWORD_ON_COMMAND_LINE);
    }
    Ok(url)
}

/// The warning for a password given with `--url`.
const PASSWORD_ON_COMMAND_LINE: &str = "warning: the password in --url is visible to other users of this machine (`ps`, /proc) while the command runs; give the URL with --url-file PATH or in $REDIS_URL instead\n";

/// The sentinels to ask for the primary (`--sentinel`, `--master-name`), with their
/// credentials from `--sentinel-url-file`, else `$REDIS_SENTINEL_URL`; `None` without
/// `--sentinel`. `Err` says what is wrong without showing a URL.
pub fn sentinels(args: &SentinelArgs) -> Result<Option<Sentinels>, String> {
    if args.sentinels.is_empty() {
        return Ok(None);
    }
    let master = args.master_name.clone().ok_or(
        "--sentinel needs --master-name: the name the sentinels monitor the primary under",
    )?;
    let environment = std::env::var("REDIS_SENTINEL_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let credentials = match (&args.sentinel_url_file, environment) {
        (Some(file), _) => Some(resolve_url(None, Some(file), None)?.0),
        (None, Some(text)) => Some(
            RedisUrl::parse(text.trim()).map_err(|e| format!("{e} (in $REDIS_SENTINEL_URL)"))?,
        ),
        (None, None) => None,
    };
    Ok(Some(Sentinels {
        addresses: args.sentinels.clone(),
        master,
        credentials,
    }))
}

/// Connect to a server URL, or through the sentinels to their primary (with the URL's
/// credentials), trusting `--tls-ca-cert` if given.
pub async fn connect(
    url: &RedisUrl,
    sentinels: Option<&Sentinels>,
    tls_ca_cert: Option<std::path::PathBuf>,
) -> Result<Target, TargetError> {
    let options = ConnectOptions {
        tls_ca_cert,
        ..ConnectOptions::default()
    };
    let target = match sentinels {
        Some(sentinels) => Target::connect_via_sentinels(sentinels, url, options).await?,
        None => Target::connect_to(url, options).await?,
    };
    for warning in target.warnings() {
        print_warning(&format!("warning: {warning}\n"));
    }
    Ok(target)
}

/// For values the process is about to exit with: leave their memory to the operating
/// system. Freeing the maps of 10,000 streams node by node costs ~10 ms for nothing; the
/// connection closes with the process.
pub fn exit_soon<T>(values: T) {
    std::mem::forget(values);
}

/// Run a future on a small multi-threaded runtime: the connection's task decodes replies on a
/// worker thread while this thread turns the previous batch into live state (measured: a
/// no-op plan of 10,000 streams 10% faster than on one thread).
pub fn block_on<F: Future<Output = Result<u8, Failure>>>(future: F) -> Result<u8, Failure> {
    run_async(future)?
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Run a future on the runtime of [`block_on`]; `Err` when the runtime cannot start.
pub fn run_async<T>(future: impl Future<Output = T>) -> Result<T, Failure> {
    let runtime = tokio_runtime().map_err(Failure::Runtime)?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::namespace_hint;

    #[test]
    fn the_namespace_is_guessed_from_a_plain_top_level_line() {
        let cases = [
            ("version: 1\nnamespace: shop\n", Some("shop")),
            (
                "namespace: \"agentic\"  # the team's\nstreams: {}\n",
                Some("agentic"),
            ),
            ("namespace: 'a:b'\n", Some("a:b")),
            ("namespace: ${NS}\n", None),
            ("streams:\n  namespace: nested\n", None),
            ("namespace: &ns shop\n", None),
            ("namespace: 'pro?j'\n", None),
            ("namespace: __topology__\n", None),
            ("namespace: 'pro\\j'\n", Some("pro\\j")),
            ("version: 1\n", None),
        ];
        for (text, expected) in cases {
            let file = tempfile::NamedTempFile::new().expect("temp file");
            std::fs::write(file.path(), text).expect("write");
            assert_eq!(namespace_hint(file.path()).as_deref(), expected, "{text:?}");
        }
        assert_eq!(namespace_hint(std::path::Path::new("/no/such/file")), None);
    }
}
