//! The proxy controller: which engine runs, with which settings, and what the
//! tray and the window say about it. Plain Rust: no Tauri types, so the
//! on/off and apply paths are tested without a window.
//!
//! Both the tray menu and the window's commands end up in
//! [`Controller::set_on`] and [`Controller::apply`]; nothing else starts or
//! stops an engine.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use burrow_core::log::LogEvent;
use burrow_core::Settings;
use burrow_proxy::{Engine, Running};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::error::Error;
use crate::log_store::LogStore;
use crate::settings_file::{self, Paths, SavedState};

/// The three states the tray icon shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    /// Listening.
    On,
    /// Not listening, as the user asked.
    Off,
    /// Not listening although the user asked for it (or the settings file is broken).
    Error,
}

/// What the tray and the window show about the proxy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// On, off or failed.
    pub power: Power,
    /// Whether the user wants the proxy on (the tray's check mark).
    pub wanted: bool,
    /// The configured listen address.
    pub listen: SocketAddr,
    /// The address actually bound, while on.
    pub address: Option<SocketAddr>,
    /// Client connections open now.
    pub open_connections: usize,
    /// Tunnels open now.
    pub open_tunnels: usize,
    /// Why the proxy is not on, when it should be.
    pub error: Option<String>,
    /// The one-line summary for the tray menu and the window.
    pub line: String,
    /// What to paste into a client's proxy setting.
    pub proxy_url: String,
}

/// Owns the running engine and the settings.
pub struct Controller {
    /// Serialises start/stop/apply; held across the awaits of a restart.
    op: tokio::sync::Mutex<()>,
    /// Shared with each run's event pump, which asks it for the run's open
    /// connections after losing events.
    inner: Arc<Mutex<Inner>>,
    store: Arc<Mutex<LogStore>>,
    paths: Paths,
}

struct Inner {
    settings: Settings,
    running: Option<Run>,
    wanted: bool,
    error: Option<String>,
    /// An engine is being stopped: the port may still accept, so the status is not "off" yet.
    stopping: bool,
    /// Engine runs started so far; the log files each run's events apart.
    runs: u64,
}

/// A listening engine and the run number its events are filed under.
struct Run {
    number: u64,
    engine: Running,
}

impl Run {
    async fn stop(self) {
        self.engine.stop().await;
    }
}

impl Controller {
    /// A controller with these settings, off.
    pub fn new(settings: Settings, paths: Paths, store: Arc<Mutex<LogStore>>) -> Controller {
        Controller {
            op: tokio::sync::Mutex::new(()),
            inner: Arc::new(Mutex::new(Inner {
                settings,
                running: None,
                wanted: false,
                error: None,
                stopping: false,
                runs: 0,
            })),
            store,
            paths,
        }
    }

    /// A controller from the files in `paths`, off, and whether the proxy should be
    /// turned on (it was on last time and the settings file is readable).
    /// A broken settings file is reported in the status and left untouched.
    pub fn open(paths: Paths, store: Arc<Mutex<LogStore>>) -> (Controller, bool) {
        let saved = settings_file::load_state(&paths.state);
        let (settings, error) = match settings_file::load_settings(&paths.settings) {
            Ok(s) => (s, None),
            Err(e) => (Settings::default(), Some(e.to_string())),
        };
        let restore = saved.proxy_on && error.is_none();
        let c = Controller::new(settings, paths, store);
        c.lock().error = error;
        (c, restore)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings in force (or to be used at the next start).
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// The files the controller reads and writes.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The log the engines' events go to.
    pub fn store(&self) -> &Arc<Mutex<LogStore>> {
        &self.store
    }

    /// Whether the user wants the proxy on.
    pub fn wanted(&self) -> bool {
        self.lock().wanted
    }

    /// The current status.
    pub fn status(&self) -> Status {
        let inner = self.lock();
        let address = inner.running.as_ref().map(|r| r.engine.local_addr());
        let stats = inner
            .running
            .as_ref()
            .map(|r| r.engine.stats())
            .unwrap_or_default();
        let power = match (&inner.running, &inner.error) {
            (Some(_), _) => Power::On,
            _ if inner.stopping => Power::On,
            (None, Some(_)) => Power::Error,
            (None, None) => Power::Off,
        };
        let shown = address.unwrap_or(inner.settings.listen);
        Status {
            power,
            wanted: inner.wanted,
            listen: inner.settings.listen,
            address,
            open_connections: stats.open_connections,
            open_tunnels: stats.open_tunnels,
            line: status_line(power, shown, stats.open_tunnels, inner.error.as_deref()),
            error: inner.error.clone(),
            proxy_url: proxy_url(shown),
        }
    }

    /// Turns the proxy on or off. Turning on reports why it could not start;
    /// the choice is remembered for the next launch either way.
    pub async fn set_on(&self, on: bool) -> Result<Status, Error> {
        let _op = self.op.lock().await;
        if on {
            let settings = {
                let mut inner = self.lock();
                inner.wanted = true;
                if inner.running.is_some() {
                    drop(inner);
                    return Ok(self.status());
                }
                inner.settings.clone()
            };
            self.remember(true);
            let started = self.start(&settings).await;
            let mut inner = self.lock();
            match started {
                Ok(running) => {
                    inner.running = Some(running);
                    inner.error = None;
                }
                Err(e) => {
                    inner.error = Some(e.to_string());
                    return Err(e);
                }
            }
        } else {
            let running = {
                let mut inner = self.lock();
                inner.wanted = false;
                inner.error = None;
                inner.stopping = inner.running.is_some();
                inner.running.take()
            };
            self.remember(false);
            if let Some(r) = running {
                r.stop().await;
            }
            // Only now is the port closed.
            self.lock().stopping = false;
        }
        Ok(self.status())
    }

    /// Validates and applies new settings, restarting the listener if it runs,
    /// and saves them. On any failure the previous settings stay in force (and
    /// in the file), and the previous engine keeps (or goes back to) listening.
    pub async fn apply(&self, new: Settings) -> Result<Status, Error> {
        let _op = self.op.lock().await;
        new.validate().map_err(Error::settings)?;
        let (old, running, wanted) = {
            let inner = self.lock();
            (
                inner.settings.clone(),
                inner.running.is_some(),
                inner.wanted,
            )
        };
        let failed_before = wanted && !running;
        if new == old && !failed_before {
            return Ok(self.status());
        }
        if running {
            self.restart(&old, &new).await?;
        } else if wanted {
            // The proxy is in its error state: the new settings may fix it.
            let running = self.start(&new).await?;
            let mut inner = self.lock();
            inner.running = Some(running);
            inner.error = None;
        }
        self.lock().settings = new.clone();
        settings_file::save_settings(&self.paths.settings, &new)?;
        Ok(self.status())
    }

    /// Swaps the running engine for one with `new` settings.
    async fn restart(&self, old: &Settings, new: &Settings) -> Result<(), Error> {
        let same_port = old.listen.port() == new.listen.port() && new.listen.port() != 0;
        if !same_port {
            // Bind the new port first: if it is taken, nothing changes.
            let fresh = self.start(new).await?;
            let previous = self.lock().running.replace(fresh);
            if let Some(r) = previous {
                r.stop().await;
            }
            return Ok(());
        }
        // The same port cannot be bound twice: stop, start, and go back on failure.
        let previous = self.lock().running.take();
        if let Some(r) = previous {
            r.stop().await;
        }
        match self.start(new).await {
            Ok(fresh) => {
                self.lock().running = Some(fresh);
                Ok(())
            }
            Err(e) => {
                let back = self.start(old).await;
                let mut inner = self.lock();
                match back {
                    Ok(r) => inner.running = Some(r),
                    Err(again) => inner.error = Some(again.to_string()),
                }
                Err(e)
            }
        }
    }

    /// Stops the engine (Quit), keeping the on/off choice for the next launch.
    pub async fn shutdown(&self) {
        let _op = self.op.lock().await;
        let running = self.lock().running.take();
        if let Some(r) = running {
            r.stop().await;
        }
    }

    /// Starts an engine whose events go to the log under a new run number.
    async fn start(&self, settings: &Settings) -> Result<Run, Error> {
        settings.validate().map_err(Error::settings)?;
        let run = {
            let mut inner = self.lock();
            inner.runs += 1;
            inner.runs
        };
        let engine = Engine::new(settings.clone());
        let events = engine.subscribe();
        let running = engine.start().await?;
        let live = Arc::downgrade(&self.inner);
        // A thread of its own: the store's lock may be held for a while (a
        // full batch, an export), and waiting for it must never take a
        // runtime worker away from the engine.
        let store = self.store.clone();
        let work = move || pump(events, store, run, live);
        let shared = Arc::new(Mutex::new(Some(work)));
        let ours = shared.clone();
        let named = std::thread::Builder::new()
            .name(format!("log-pump-{run}"))
            .spawn(move || take(&ours).map(|work| work()));
        if named.is_err() {
            // No thread to spare: the blocking pool is the next best place.
            if let Some(work) = take(&shared) {
                tokio::task::spawn_blocking(work);
            }
        }
        Ok(Run {
            number: run,
            engine: running,
        })
    }

    fn remember(&self, proxy_on: bool) {
        // Read first: the file holds other choices too (start at login), which stay as they are.
        let saved = SavedState {
            proxy_on,
            ..settings_file::load_state(&self.paths.state)
        };
        if let Err(e) = settings_file::save_state(&self.paths.state, saved) {
            // Not worth failing the toggle for: only the next launch is affected.
            eprintln!("burrow-desktop: {e}");
        }
    }
}

/// Moves one engine run's events into the log until the engine is gone.
/// After events were lost, the records of connections that are no longer
/// open are closed (their `Closed` may have been among the lost); once the
/// run's channel closes no connection of it is open, so none stays open.
fn pump(
    mut events: broadcast::Receiver<LogEvent>,
    store: Arc<Mutex<LogStore>>,
    run: u64,
    inner: Weak<Mutex<Inner>>,
) {
    let mut lagged = false;
    loop {
        let first = events.blocking_recv();
        let mut next = first.map_err(|e| match e {
            RecvError::Closed => TryRecvError::Closed,
            RecvError::Lagged(n) => TryRecvError::Lagged(n),
        });
        {
            let mut store = lock(&store);
            // Take whatever else is queued under the same lock.
            loop {
                match next {
                    Ok(e) => store.apply(run, &e),
                    Err(TryRecvError::Lagged(n)) => {
                        store.lost(n);
                        lagged = true;
                    }
                    Err(TryRecvError::Closed) => {
                        store.reconcile(run, &HashSet::new(), now_ms());
                        return;
                    }
                    Err(TryRecvError::Empty) => break,
                }
                next = events.try_recv();
            }
        }
        // Asked with the store unlocked (the controller's lock is never
        // taken inside the store's), and before the next event is applied:
        // every record in the log was accepted before this answer.
        if lagged {
            if let Some(live) = live_ids(&inner, run) {
                lock(&store).reconcile(run, &live, now_ms());
                lagged = false;
            }
        }
    }
}

/// The ids engine run `run` has open now, or `None` when that run is no
/// longer the one listening (it is being stopped): then only the end of
/// its channel says that everything of it has closed.
fn live_ids(inner: &Weak<Mutex<Inner>>, run: u64) -> Option<HashSet<u64>> {
    let inner = inner.upgrade()?;
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let running = inner.running.as_ref().filter(|r| r.number == run)?;
    Some(running.engine.open_connection_ids().into_iter().collect())
}

/// Takes the one-shot job out of its slot (whoever runs it first).
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

fn lock(store: &Mutex<LogStore>) -> MutexGuard<'_, LogStore> {
    // A panic while holding this lock leaves plain data behind; keep going.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch, the engine's clock for events.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The tray's status line: "Listening on 127.0.0.1:8080 · 3 tunnels", "Off", or the error.
pub fn status_line(power: Power, addr: SocketAddr, tunnels: usize, error: Option<&str>) -> String {
    match power {
        Power::On => {
            let tunnels = match tunnels {
                0 => "no tunnels".to_string(),
                1 => "1 tunnel".to_string(),
                n => format!("{n} tunnels"),
            };
            format!("Listening on {addr} · {tunnels}")
        }
        Power::Off => "Off".to_string(),
        Power::Error => error.unwrap_or("Not listening").to_string(),
    }
}

/// The proxy URL a client on this machine uses: an unspecified listen address
/// (0.0.0.0 or ::) is reached through loopback.
pub fn proxy_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            status_line(Power::On, a, 3, None),
            "Listening on 127.0.0.1:8080 · 3 tunnels"
        );
        assert_eq!(
            status_line(Power::On, a, 1, None),
            "Listening on 127.0.0.1:8080 · 1 tunnel"
        );
        assert_eq!(
            status_line(Power::On, a, 0, None),
            "Listening on 127.0.0.1:8080 · no tunnels"
        );
        assert_eq!(status_line(Power::Off, a, 0, None), "Off");
        assert_eq!(
            status_line(Power::Error, a, 0, Some("port busy")),
            "port busy"
        );
    }

    #[test]
    fn proxy_urls_use_loopback_for_unspecified_addresses() {
        let url = |s: &str| proxy_url(s.parse().unwrap());
        assert_eq!(url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("0.0.0.0:3128"), "http://127.0.0.1:3128");
        assert_eq!(url("[::]:3128"), "http://[::1]:3128");
        assert_eq!(url("192.168.1.5:3128"), "http://192.168.1.5:3128");
    }
}
