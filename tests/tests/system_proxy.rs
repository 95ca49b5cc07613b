//! "Use as system proxy" for real, on GNOME's settings: the desktop app
//! (the real binary, under a display) writes `org.gnome.system.proxy`
//! through `gsettings`, and every way out puts the user's values back
//! exactly.
//!
//! Nothing of this machine's own settings is touched: the test starts its
//! own session bus (`dbus-daemon --session`) whose environment names a
//! private dconf database (`XDG_CONFIG_HOME` in a temporary directory,
//! `DCONF_PROFILE` a profile with only `user-db:user`,
//! `GSETTINGS_BACKEND=dconf`), so the dconf service the bus starts writes
//! there, and the test checks that it does before running the app. (A bus
//! started *before* those variables are set would activate a dconf service
//! that writes the real `~/.config/dconf/user`.)
//!
//! ```text
//! cargo build -p burrow-desktop
//! unshare --net -- sh -c 'ip link set lo up && xvfb-run -a \
//!     cargo test -p burrow-tests --features desktop-e2e --test system_proxy'
//! ```
//!
//! Needs `dbus-daemon`, `gsettings` (libglib2.0-bin), the dconf service and
//! GSettings back end (dconf-service, dconf-gsettings-backend) and the
//! schemas (gsettings-desktop-schemas); `cargo xtask install` installs them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use burrow_tests::webdriver::{free_port, target_dir, TempDir};
use serde_json::json;

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

/// The user's own values: distinctive, with quotes, backslashes and non-ASCII.
const ORIGINAL: &[(&str, &str, &str)] = &[
    ("org.gnome.system.proxy", "mode", "'manual'"),
    (
        "org.gnome.system.proxy",
        "autoconfig-url",
        "'http://wpad.corp.example/wpad.dat'",
    ),
    (
        "org.gnome.system.proxy",
        "ignore-hosts",
        r"['*.corp.example', 'it\'s', 'back\\slash', 'ü', '10.0.0.0/8']",
    ),
    (
        "org.gnome.system.proxy.http",
        "host",
        r"'o\'brien.corp.example'",
    ),
    ("org.gnome.system.proxy.http", "port", "3128"),
    (
        "org.gnome.system.proxy.https",
        "host",
        "'secure.corp.example'",
    ),
    ("org.gnome.system.proxy.https", "port", "3129"),
    ("org.gnome.system.proxy.ftp", "host", "'ftp.corp.example'"),
    ("org.gnome.system.proxy.ftp", "port", "2121"),
    (
        "org.gnome.system.proxy.socks",
        "host",
        "'socks.corp.example'",
    ),
    ("org.gnome.system.proxy.socks", "port", "1080"),
];

/// A private session bus and dconf database.
struct Session {
    dir: TempDir,
    bus: Child,
    address: String,
}

impl Session {
    fn start() -> Session {
        for tool in ["dbus-daemon", "gsettings"] {
            assert!(
                which(tool).is_some(),
                "{tool} not found: install dbus, libglib2.0-bin, dconf-service, \
                 dconf-gsettings-backend and gsettings-desktop-schemas (cargo xtask install)"
            );
        }
        let dir = TempDir::new("burrow-system-proxy-e2e");
        std::fs::write(dir.path().join("profile"), "user-db:user\n")
            .expect("writing the dconf profile");
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .envs(private_env(dir.path()))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a private dbus-daemon");
        let mut line = String::new();
        {
            use std::io::BufRead;
            let out = bus.stdout.as_mut().expect("the bus's stdout");
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .expect("reading the bus address");
        }
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "the bus printed {address:?}");
        let s = Session { dir, bus, address };
        // The safety check: a write lands in the private database, nowhere else.
        s.set("org.gnome.system.proxy", "use-same-proxy", "true");
        assert!(
            s.db().is_file(),
            "gsettings did not write {}: the dconf service is not the private one; stopping before anything else is touched",
            s.db().display()
        );
        s
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("config/dconf/user")
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = private_env(self.dir.path());
        env.push(("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone()));
        env
    }

    fn gsettings(&self, args: &[&str]) -> String {
        let out = Command::new("gsettings")
            .args(args)
            .envs(self.env())
            .output()
            .expect("running gsettings");
        assert!(
            out.status.success(),
            "gsettings {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn set(&self, schema: &str, key: &str, value: &str) {
        self.gsettings(&["set", schema, key, value]);
    }

    fn get(&self, schema: &str, key: &str) -> String {
        self.gsettings(&["get", schema, key])
    }

    /// Every value the test set, as gsettings prints it now.
    fn values(&self) -> Vec<String> {
        ORIGINAL.iter().map(|(s, k, _)| self.get(s, k)).collect()
    }

    fn wait_for(&self, what: &str, mut f: impl FnMut(&Session) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn private_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "XDG_CONFIG_HOME".into(),
            dir.join("config").display().to_string(),
        ),
        (
            "DCONF_PROFILE".into(),
            dir.join("profile").display().to_string(),
        ),
        ("GSETTINGS_BACKEND".into(), "dconf".into()),
    ]
}

/// The app, started with a settings file and state in `dir`.
struct App(Child);

impl App {
    fn start(session: &Session, config: &Path) -> App {
        let bin = target_dir().join("debug").join("burrow-desktop");
        assert!(
            bin.is_file(),
            "{} not found: build the app first with `cargo build -p burrow-desktop`",
            bin.display()
        );
        let log = std::fs::File::create(target_dir().join("system-proxy-e2e.log"))
            .expect("the app's log");
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .envs(session.env())
            .env("XDG_CURRENT_DESKTOP", "GNOME")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting the app");
        App(child)
    }

    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.0.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the app to exit; true when it exited on its own within the wait.
    fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Writes the settings (a free loopback port) and the state (proxy on, system proxy `mode`).
fn write_config(dir: &Path, proxy: SocketAddr, mode: &str) -> PathBuf {
    let config = dir.join("settings.json");
    std::fs::write(&config, json!({ "listen": proxy.to_string() }).to_string())
        .expect("writing the settings");
    write_state(dir, mode);
    config
}

fn write_state(dir: &Path, mode: &str) {
    let state = json!({ "proxy_on": true, "system_proxy": mode });
    std::fs::write(dir.join("settings.state.json"), state.to_string()).expect("writing the state");
}

fn journal(dir: &Path) -> PathBuf {
    dir.join("settings.system-proxy.json")
}

#[test]
fn gnome_settings_come_back_exactly_after_every_exit() {
    let session = Session::start();
    for (schema, key, value) in ORIGINAL {
        session.set(schema, key, value);
    }
    let original = session.values();
    // gsettings prints the values as it parsed them; they are the user's.
    assert_eq!(
        original[2],
        r#"['*.corp.example', "it's", 'back\\slash', 'ü', '10.0.0.0/8']"#
    );

    let home = TempDir::new("burrow-system-proxy-e2e-app");
    let dir = home.path();
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let config = write_config(dir, proxy, "pac");
    let pac = format!("'http://{proxy}/proxy.pac'");

    // 1. PAC mode, then SIGKILL: nothing restores until the next start.
    let mut app = App::start(&session, &config);
    session.wait_for("the PAC mode", |s| {
        s.get("org.gnome.system.proxy", "mode") == "'auto'"
    });
    assert_eq!(session.get("org.gnome.system.proxy", "autoconfig-url"), pac);
    // Only the mode and the URL changed.
    let now = session.values();
    assert_eq!(now[2..], original[2..]);
    assert!(
        journal(dir).is_file(),
        "the journal exists while Burrow holds the proxy"
    );
    app.signal("KILL");
    assert!(app.wait_exit());
    assert_eq!(
        session.get("org.gnome.system.proxy", "mode"),
        "'auto'",
        "SIGKILL restored something?"
    );

    // 2. The next start restores before anything else; with the choice off it stays restored.
    write_state(dir, "off");
    let mut app = App::start(&session, &config);
    session.wait_for("the journal to be restored", |_| !journal(dir).exists());
    assert_eq!(session.values(), original);
    app.signal("TERM");
    assert!(app.wait_exit(), "the app did not exit on SIGTERM");
    assert_eq!(session.values(), original);

    // 3. Manual mode, then SIGTERM: the values Burrow set, then the user's again.
    write_state(dir, "manual");
    let mut app = App::start(&session, &config);
    // `mode` was already manual (the user's); the bypass list is written after the hosts.
    session.wait_for("the manual mode", |s| {
        s.get("org.gnome.system.proxy.https", "host") == "'127.0.0.1'"
            && s.get("org.gnome.system.proxy", "ignore-hosts")
                == "['localhost', '127.0.0.0/8', '::1']"
    });
    assert_eq!(session.get("org.gnome.system.proxy", "mode"), "'manual'");
    assert_eq!(
        session.get("org.gnome.system.proxy.http", "host"),
        "'127.0.0.1'"
    );
    assert_eq!(
        session.get("org.gnome.system.proxy.http", "port"),
        proxy.port().to_string()
    );
    assert_eq!(
        session.get("org.gnome.system.proxy", "ignore-hosts"),
        "['localhost', '127.0.0.0/8', '::1']"
    );
    // SOCKS and FTP are the user's still.
    assert_eq!(
        session.get("org.gnome.system.proxy.socks", "host"),
        "'socks.corp.example'"
    );
    app.signal("TERM");
    assert!(app.wait_exit(), "the app did not exit on SIGTERM");
    assert_eq!(session.values(), original);
    assert!(!journal(dir).exists());

    // 4. SIGINT and SIGHUP take the same way out.
    for signal in ["INT", "HUP"] {
        write_state(dir, "pac");
        let mut app = App::start(&session, &config);
        session.wait_for("the PAC mode", |s| {
            s.get("org.gnome.system.proxy", "mode") == "'auto'"
        });
        app.signal(signal);
        assert!(app.wait_exit(), "the app did not exit on SIG{signal}");
        assert_eq!(session.values(), original, "after SIG{signal}");
    }

    // 5. Another program changes the proxy: Burrow lets go and keeps their value.
    write_state(dir, "pac");
    let mut app = App::start(&session, &config);
    session.wait_for("the PAC mode", |s| {
        s.get("org.gnome.system.proxy", "mode") == "'auto'"
    });
    session.set(
        "org.gnome.system.proxy",
        "autoconfig-url",
        "'http://vpn.example/vpn.pac'",
    );
    session.wait_for("Burrow to let go", |_| !journal(dir).exists());
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("settings.state.json")).expect("reading the state"),
    )
    .expect("the state is JSON");
    assert_eq!(state["system_proxy"], "off", "the setting was turned off");
    app.signal("TERM");
    assert!(app.wait_exit());
    assert_eq!(
        session.get("org.gnome.system.proxy", "autoconfig-url"),
        "'http://vpn.example/vpn.pac'",
        "Burrow fought the other program"
    );
    assert_eq!(session.get("org.gnome.system.proxy", "mode"), "'auto'");
}
