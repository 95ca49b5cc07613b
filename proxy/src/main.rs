//! `burrow`: the headless proxy. Flags and messages live in [`burrow_proxy::cli`].

use std::process::ExitCode;

use burrow_proxy::access_log::{self, AccessLog, Format, LineWriter, Pumped};
use burrow_proxy::cli::{start_error_message, Cli};
use burrow_proxy::Engine;
use clap::Parser;
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
    // The access log is written by a thread of its own, so a stalled
    // stdout (a paused terminal, a pipe nobody reads) never holds up the
    // runtime: lines are dropped and counted instead.
    let writer = match LineWriter::spawn(std::io::stdout(), access_log::QUEUE_LINES) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("burrow: cannot start the access log thread: {e}");
            return ExitCode::from(1);
        }
    };
    let (code, pumped) = runtime.block_on(run(Engine::new(settings), format, &writer));
    // Bounded: a pipe nobody reads must not keep the process alive.
    let dropped = writer.finish(access_log::DRAIN_AT_EXIT);
    report(pumped, dropped);
    code
}

async fn run(engine: Engine, format: Format, writer: &LineWriter) -> (ExitCode, Pumped) {
    // Before anything is announced: a stop signal sent the moment the
    // listening line appears must already find its handler.
    let stop = StopSignal::install();
    // Subscribed before the start, so no connection's events are missed.
    let events = engine.subscribe();
    let running = match engine.start().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("burrow: {}", start_error_message(&e));
            return (ExitCode::from(1), Pumped::default());
        }
    };
    let open = running.open_connections();
    let lines = writer.lines();
    let printer = tokio::spawn(access_log::pump(
        events,
        AccessLog::new(format),
        move || open.ids(),
        move |line| lines.send(line),
    ));
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
    let pumped = printer.await.unwrap_or_default();
    (ExitCode::SUCCESS, pumped)
}

/// Says at exit what the access log could not show.
fn report(pumped: Pumped, dropped: u64) {
    if dropped > 0 {
        eprintln!(
            "burrow: {dropped} access log lines were dropped because the output was not being read"
        );
    }
    if pumped.lost_events > 0 {
        eprintln!(
            "burrow: the access log fell behind and lost {} events; {} connections were logged as \"closed (events lost)\"",
            pumped.lost_events, pumped.closed_unknown
        );
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
