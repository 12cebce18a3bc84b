//! What `plan` and `apply` share: load one environment, connect, read, plan.

use std::io::IsTerminal;

use super::{ColourChoice, TargetArgs, print_stderr};
use crate::live::{LiveState, read};
use crate::model::desired::Desired;
use crate::model::interpolate::ProcessEnv;
use crate::model::secrets::Secrets;
use crate::plan::{self, Plan};
use crate::render::plan::PlanTarget;
use crate::target::{ConnectOptions, Target, resolve_url};
use crate::validate;

/// A loaded environment and a connected server.
pub struct Session {
    pub desired: Desired,
    pub target: Target,
}

impl Session {
    pub fn plan_target(&self) -> PlanTarget<'_> {
        PlanTarget {
            url: self.target.describe().as_str(),
            namespace: &self.desired.namespace,
            environment: self.desired.environment.as_deref(),
        }
    }

    /// Read the live state and plan against it; a refusal is printed and becomes `Err(1)`.
    pub async fn read_and_plan(&mut self, prune: bool) -> Result<(LiveState, Plan), u8> {
        let live = read::read(&mut self.target, &self.desired)
            .await
            .map_err(|e| fail(&e.to_string()))?;
        let plan =
            plan::plan(&self.desired, &live, plan::Options { prune }).map_err(|refusals| {
                for refusal in refusals {
                    print_stderr(&format!("error: {}\n", refusal.0));
                }
                1
            })?;
        Ok((live, plan))
    }
}

/// Validate the chosen environment (printing its diagnostics) and connect to the server.
pub async fn open(args: &TargetArgs, colour: ColourChoice) -> Result<Session, u8> {
    let (report, topology) =
        validate::load_environment(&args.file, args.env.as_deref(), &ProcessEnv);
    if !report.diagnostics.is_empty() {
        let colour = colour.enabled(std::io::stderr().is_terminal());
        print_stderr(&super::validate::diagnostics_text(&report, colour));
    }
    let Some(topology) = topology else {
        print_stderr(&format!(
            "error: {} is invalid; nothing was sent to Redis\n",
            args.file.display()
        ));
        return Err(1);
    };
    let base_dir = validate::base_dir(&args.file);
    let secrets = Secrets::Read {
        vars: &ProcessEnv,
        base_dir: &base_dir,
    };
    let desired = match Desired::from_topology(&topology, args.env.as_deref(), &secrets) {
        Ok(desired) => desired,
        Err(problems) => {
            for problem in problems {
                print_stderr(&format!("error: {problem}\n"));
            }
            print_stderr(
                "error: passwords are read by plan and apply; nothing was sent to Redis\n",
            );
            return Err(1);
        }
    };
    let target = connect(args.url.as_deref(), args.tls_ca_cert.clone())
        .await
        .map_err(|e| fail(&e.to_string()))?;
    Ok(Session { desired, target })
}

/// Connect to `--url` (else `$REDIS_URL`, else the default), trusting `--tls-ca-cert` if given.
pub async fn connect(
    url: Option<&str>,
    tls_ca_cert: Option<std::path::PathBuf>,
) -> Result<Target, crate::target::TargetError> {
    let options = ConnectOptions {
        tls_ca_cert,
        ..ConnectOptions::default()
    };
    Target::connect(&resolve_url(url), options).await
}

/// For values the process is about to exit with: leave their memory to the operating
/// system. Freeing the maps of 10,000 streams node by node costs ~10 ms for nothing; the
/// connection closes with the process.
pub fn exit_soon<T>(values: T) {
    std::mem::forget(values);
}

/// Print one error line and give the exit code for errors.
pub fn fail(message: &str) -> u8 {
    print_stderr(&format!("error: {message}\n"));
    1
}

/// Run a future on a small multi-threaded runtime: the connection's task decodes replies on a
/// worker thread while this thread turns the previous batch into live state (measured: a
/// no-op plan of 10,000 streams 10% faster than on one thread).
pub fn block_on<F: std::future::Future<Output = u8>>(future: F) -> u8 {
    run_async(future).unwrap_or_else(|code| code)
}

/// Run a future on the runtime of [`block_on`]; `Err` is the exit code when the runtime
/// cannot start (the reason printed).
pub fn run_async<T>(future: impl std::future::Future<Output = T>) -> Result<T, u8> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(e) => Err(fail(&format!("cannot start the async runtime: {e}"))),
    }
}
