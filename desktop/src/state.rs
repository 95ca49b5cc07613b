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
use crate::settings_file::{self, Paths, SavedState, SystemProxyMode};
use crate::system_proxy::{self, journal, Backend, BackendError, Health, Manager, Preference};

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

/// The four tray icons: each differs from the others by shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Icon {
    /// Not listening.
    Off,
    /// Listening; the system proxy is not Burrow.
    Listening,
    /// Listening, and the system proxy points at Burrow.
    SystemProxy,
    /// Something needs the user: the port is busy, another program changed
    /// the system proxy, or a restore failed.
    Attention,
}

/// What the window shows about "Use as system proxy".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemProxyStatus {
    /// The user's choice.
    pub preference: Preference,
    /// What it is doing (`{state, message}`).
    pub health: Health,
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
    /// The PAC file's address ("Copy PAC address").
    pub pac_url: String,
    /// The tray icon to show.
    pub icon: Icon,
    /// "Use as system proxy".
    pub system_proxy: SystemProxyStatus,
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
    /// The system proxy; shared with the panic hook, which restores through it.
    system: Arc<Mutex<Manager>>,
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
    /// What is remembered between runs (the proxy's on/off, the system proxy choice).
    saved: SavedState,
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
    /// A controller with these settings, off, without a system proxy back end.
    pub fn new(settings: Settings, paths: Paths, store: Arc<Mutex<LogStore>>) -> Controller {
        let none = Err(BackendError::Unsupported(
            "this controller has no system proxy back end".into(),
        ));
        let manager = Manager::new(none, journal::path_for(&paths.settings));
        Controller::with_manager(settings, paths, store, manager)
    }

    /// A controller with these settings, off, holding the system proxy through `manager`.
    pub fn with_manager(
        settings: Settings,
        paths: Paths,
        store: Arc<Mutex<LogStore>>,
        manager: Manager,
    ) -> Controller {
        Controller {
            op: tokio::sync::Mutex::new(()),
            inner: Arc::new(Mutex::new(Inner {
                settings,
                running: None,
                wanted: false,
                error: None,
                stopping: false,
                runs: 0,
                saved: SavedState::default(),
            })),
            store,
            paths,
            system: Arc::new(Mutex::new(manager)),
        }
    }

    /// A controller from the files in `paths`, off, and whether the proxy should be
    /// turned on (it was on last time and the settings file is readable).
    /// A broken settings file is reported in the status and left untouched.
    pub fn open(paths: Paths, store: Arc<Mutex<LogStore>>) -> (Controller, bool) {
        Controller::open_with(paths, store, system_proxy::detect())
    }

    /// [`Controller::open`] with this system proxy back end (tests pass a fake).
    pub fn open_with(
        paths: Paths,
        store: Arc<Mutex<LogStore>>,
        backend: Result<Box<dyn Backend>, BackendError>,
    ) -> (Controller, bool) {
        let manager = Manager::new(backend, journal::path_for(&paths.settings));
        Controller::open_with_manager(paths, store, manager)
    }

    /// [`Controller::open`] with this system proxy manager.
    pub fn open_with_manager(
        paths: Paths,
        store: Arc<Mutex<LogStore>>,
        manager: Manager,
    ) -> (Controller, bool) {
        let saved = settings_file::load_state(&paths.state);
        let (settings, error) = match settings_file::load_settings(&paths.settings) {
            Ok(s) => (s, None),
            Err(e) => (Settings::default(), Some(e.to_string())),
        };
        let restore = saved.proxy_on && error.is_none();
        let c = Controller::with_manager(settings, paths, store, manager);
        {
            let mut inner = c.lock();
            inner.error = error;
            inner.saved = saved;
        }
        (c, restore)
    }

    fn system(&self) -> MutexGuard<'_, Manager> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.system.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The system proxy manager, for the panic hook.
    pub fn system_proxy(&self) -> &Arc<Mutex<Manager>> {
        &self.system
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
        let preference = inner.saved.system_proxy;
        drop(inner);
        let health = self.system().health().clone();
        let inner = self.lock();
        let icon = match (power, &health) {
            (Power::Error, _) => Icon::Attention,
            (_, h) if h.needs_attention() => Icon::Attention,
            (Power::Off, _) => Icon::Off,
            (Power::On, Health::On) => Icon::SystemProxy,
            (Power::On, _) => Icon::Listening,
        };
        let mut line = status_line(power, shown, stats.open_tunnels, inner.error.as_deref());
        if let Some(words) = system_proxy_words(&health) {
            line.push_str(" · ");
            line.push_str(words);
        }
        Status {
            power,
            wanted: inner.wanted,
            listen: inner.settings.listen,
            address,
            open_connections: stats.open_connections,
            open_tunnels: stats.open_tunnels,
            line,
            error: inner.error.clone(),
            proxy_url: proxy_url(shown),
            pac_url: burrow_core::pac::url(shown),
            icon,
            system_proxy: SystemProxyStatus { preference, health },
        }
    }

    /// The system proxy choice.
    pub fn system_proxy_preference(&self) -> Preference {
        self.lock().saved.system_proxy
    }

    /// At start, before the engine: puts back the system proxy settings a
    /// previous run left in its journal (it crashed or was killed). Returns
    /// what to tell the user when that could not be done.
    pub fn recover_system_proxy(&self) -> Option<String> {
        match self.system().recover() {
            Ok(true) => {
                eprintln!(
                    "burrow-desktop: restored the system proxy settings a previous run left behind"
                );
                None
            }
            Ok(false) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Changes "Use as system proxy" (the window's choice and the tray's
    /// check item), remembers it, and applies it if the proxy is on.
    pub async fn set_system_proxy(&self, preference: Preference) -> Result<Status, Error> {
        let _op = self.op.lock().await;
        let listening = {
            let mut inner = self.lock();
            inner.saved.system_proxy = preference;
            match preference {
                Preference::Pac => inner.saved.system_proxy_mode = SystemProxyMode::Pac,
                Preference::Manual => inner.saved.system_proxy_mode = SystemProxyMode::Manual,
                Preference::Off => {}
            }
            inner.running.as_ref().map(|r| r.engine.local_addr())
        };
        self.save_state();
        let target = listening.and_then(|addr| preference.target(addr));
        let mut system = self.system();
        system.clear_warning();
        let result = match (preference, target) {
            (Preference::Off, _) => system.disable(),
            (_, Some(target)) => system.enable(&target),
            // Applied when the proxy turns on.
            (_, None) => Ok(()),
        };
        drop(system);
        result.map_err(|e| Error::SystemProxy(e.to_string()))?;
        Ok(self.status())
    }

    /// The tray's "Use as system proxy": off, or the mode last chosen.
    pub async fn toggle_system_proxy(&self) -> Result<Status, Error> {
        let (now, mode) = {
            let inner = self.lock();
            (inner.saved.system_proxy, inner.saved.system_proxy_mode)
        };
        let next = match now {
            Preference::Off => mode.preference(),
            _ => Preference::Off,
        };
        self.set_system_proxy(next).await
    }

    /// Checks that the system proxy still points at Burrow (every few
    /// seconds). When another program changed it, Burrow lets go, turns the
    /// setting off, and returns what to tell the user.
    pub fn check_system_proxy(&self) -> Option<String> {
        let message = self.system().check()?;
        self.lock().saved.system_proxy = Preference::Off;
        self.save_state();
        eprintln!("burrow-desktop: {message}");
        Some(message)
    }

    /// Puts the user's system proxy settings back (every exit path). Says why it could not.
    pub fn release_system_proxy(&self) -> Result<(), String> {
        self.system().disable().map_err(|e| {
            let message = format!("cannot restore the system proxy settings: {e}");
            eprintln!("burrow-desktop: {message}");
            message
        })
    }

    /// Points the system proxy at the listener at `addr`, if the user asked for it.
    fn hold_system_proxy(&self, addr: SocketAddr) {
        let preference = self.lock().saved.system_proxy;
        if let Some(target) = preference.target(addr) {
            if let Err(e) = self.system().enable(&target) {
                // The proxy itself works; the status says why the system proxy does not.
                eprintln!("burrow-desktop: cannot set the system proxy: {e}");
            }
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
                    let addr = running.engine.local_addr();
                    inner.running = Some(running);
                    inner.error = None;
                    drop(inner);
                    self.hold_system_proxy(addr);
                }
                Err(e) => {
                    inner.error = Some(e.to_string());
                    return Err(e);
                }
            }
        } else {
            // Nothing may point at a closed port: the user's settings go back first.
            let _ = self.release_system_proxy();
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
        let listening = self.lock().running.as_ref().map(|r| r.engine.local_addr());
        if let Some(addr) = listening {
            // The address may have changed; the journal keeps the user's settings.
            self.hold_system_proxy(addr);
        }
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
        let _ = self.release_system_proxy();
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

    /// Whether the user chose "Start at login".
    pub fn start_at_login(&self) -> bool {
        self.lock().saved.start_at_login
    }

    /// Remembers the "Start at login" choice with the other saved choices.
    pub fn remember_start_at_login(&self, on: bool) -> Result<(), crate::error::Error> {
        let saved = {
            let mut inner = self.lock();
            inner.saved.start_at_login = on;
            inner.saved
        };
        settings_file::save_state(&self.paths.state, saved)
    }

    fn remember(&self, proxy_on: bool) {
        self.lock().saved.proxy_on = proxy_on;
        self.save_state();
    }

    fn save_state(&self) {
        let saved = self.lock().saved;
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

/// What the status line adds about the system proxy, if anything.
fn system_proxy_words(health: &Health) -> Option<&'static str> {
    match health {
        Health::On => Some("system proxy"),
        Health::Changed(_) => Some("system proxy changed by another program"),
        Health::RestoreFailed(_) => Some("system proxy restore failed"),
        Health::Unavailable(_) => Some("system proxy unavailable"),
        Health::Off => None,
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
