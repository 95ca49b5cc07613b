//! `burrow`: the headless proxy. Flags and messages live in [`burrow_proxy::cli`].

use std::io::Write as _;
use std::process::ExitCode;

use burrow_proxy::access_log::{AccessLog, Format};
use burrow_proxy::cli::{start_error_message, Cli};
use burrow_proxy::Engine;
use clap::Parser;
use tokio::sync::broadcast::{self, error::RecvError};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(warning) = cli.warning() {
        eprintln!("burrow: {warning}");
    }
    let filter = match EnvFilter::try_new(&cli.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "burrow: --log-level {:?} is not a valid filter: {e}",
                cli.log_level
            );
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("burrow: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("burrow: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let format = if cli.json { Format::Json } else { Format::Text };
    runtime.block_on(run(Engine::new(settings), format))
}

async fn run(engine: Engine, format: Format) -> ExitCode {
    // Before anything is announced: a stop signal sent the moment the
    // listening line appears must already find its handler.
    let stop = StopSignal::install();
    let printer = tokio::spawn(print_log(engine.subscribe(), format));
    let running = match engine.start().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("burrow: {}", start_error_message(&e));
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "burrow listening on {} (CONNECT to ports {})",
        running.local_addr(),
        engine.settings().allowed_ports
    );
    stop.wait().await;
    tracing::info!("stopping");
    running.stop().await;
    // The last sender goes with the engine, which ends the printer.
    drop(engine);
    let _ = printer.await;
    ExitCode::SUCCESS
}

/// Writes one access-log line per finished connection to stdout.
async fn print_log(mut rx: broadcast::Receiver<burrow_core::log::LogEvent>, format: Format) {
    let mut log = AccessLog::new(format);
    loop {
        match rx.recv().await {
            Ok(event) => {
                if let Some(line) = log.apply(&event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the access log fell behind and lost events");
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// Ctrl-C (SIGINT), or SIGTERM on Unix, with the handlers installed up front.
struct StopSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignal {
    /// Installs the handlers now (tokio registers a Unix signal when the
    /// `Signal` is made, not when it is first awaited).
    fn install() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            StopSignal { signals }
        }
        #[cfg(not(unix))]
        StopSignal {}
    }

    /// Waits for the first stop signal.
    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
