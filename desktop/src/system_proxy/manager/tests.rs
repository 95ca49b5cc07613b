//! The journal and restore rules through the fake back end: no real system is touched.

use std::fs;

use super::*;
use crate::system_proxy::fake::{Call, Fake};
use crate::system_proxy::{Endpoint, Mode, ServiceSettings};

/// The user's own, distinctive settings.
fn user_settings() -> ProxySettings {
    ProxySettings::single(ServiceSettings {
        mode: Mode::Auto,
        http: Endpoint::on("corp.example", 3128),
        https: Endpoint {
            enabled: false,
            host: "o'brien \"quoted\"".into(),
            port: 8443,
        },
        socks: Endpoint::on("socks.example", 1080),
        bypass: vec!["*.corp".into(), "10.0.0.0/8".into(), "back\\slash".into()],
        pac_url: "http://wpad.corp/wpad.dat".into(),
        ..ServiceSettings::default()
    })
}

fn pac() -> Target {
    Target::Pac("http://127.0.0.1:8080/proxy.pac".into())
}

fn manual(port: u16) -> Target {
    Target::Manual {
        host: "127.0.0.1".into(),
        port,
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "burrow-sysproxy-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn journal(&self) -> PathBuf {
        self.0.join("settings.system-proxy.json")
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn dead(_: u32) -> bool {
    false
}

fn alive(_: u32) -> bool {
    true
}

fn manager(fake: &Fake, dir: &Dir, pid: u32, is_running: fn(u32) -> bool) -> Manager {
    Manager::with_process(Ok(Box::new(fake.clone())), dir.journal(), pid, is_running)
}

fn writes(fake: &Fake) -> usize {
    fake.calls()
        .iter()
        .filter(|c| matches!(c, Call::Write(_)))
        .count()
}

#[test]
fn on_off_on_cycles_leave_the_original_exactly() {
    let dir = Dir::new("cycles");
    let fake = Fake::new(user_settings());
    let mut m = manager(&fake, &dir, 10, dead);
    for target in [pac(), manual(8080), pac(), manual(9), pac()] {
        m.enable(&target).unwrap();
        assert_eq!(m.health(), &Health::On);
        assert_ne!(fake.os(), user_settings());
        assert!(dir.journal().exists(), "the journal exists while held");
        // While held, the journal holds the user's settings.
        let j = journal::load(&dir.journal()).unwrap().unwrap();
        assert_eq!(j.original, user_settings());
        assert_eq!(j.pid, 10);
        assert_eq!(j.applied, fake.os());
        m.disable().unwrap();
        assert_eq!(fake.os(), user_settings());
        assert!(!dir.journal().exists());
        assert_eq!(m.health(), &Health::Off);
    }
    // Changing the target while held keeps the user's settings in the journal.
    m.enable(&pac()).unwrap();
    m.enable(&manual(1234)).unwrap();
    let j = journal::load(&dir.journal()).unwrap().unwrap();
    assert_eq!(j.original, user_settings());
    assert_eq!(fake.os().services[0].http, Endpoint::on("127.0.0.1", 1234));
    m.disable().unwrap();
    assert_eq!(fake.os(), user_settings());
}

#[test]
fn pac_mode_sets_the_url_and_manual_mode_the_proxies() {
    let dir = Dir::new("modes");
    let fake = Fake::new(user_settings());
    let mut m = manager(&fake, &dir, 10, dead);
    m.enable(&pac()).unwrap();
    let s = &fake.os().services[0];
    assert_eq!(s.mode, Mode::Auto);
    assert_eq!(s.pac_url, "http://127.0.0.1:8080/proxy.pac");
    m.enable(&manual(8080)).unwrap();
    let s = &fake.os().services[0];
    assert_eq!(s.mode, Mode::Manual);
    assert_eq!(s.https, Endpoint::on("127.0.0.1", 8080));
    assert_eq!(s.bypass, ["localhost", "127.0.0.0/8", "::1"]);
    m.disable().unwrap();
}

#[test]
fn a_crash_between_set_and_restore_is_restored_at_the_next_start() {
    let dir = Dir::new("crash");
    let fake = Fake::new(user_settings());
    let mut first = manager(&fake, &dir, 10, dead);
    first.enable(&manual(8080)).unwrap();
    // SIGKILL: nothing runs, the journal stays.
    drop(first);
    assert!(dir.journal().exists());
    assert_ne!(fake.os(), user_settings());

    let mut next = manager(&fake, &dir, 11, dead);
    assert!(next.recover().unwrap());
    assert_eq!(fake.os(), user_settings());
    assert!(!dir.journal().exists());
    assert_eq!(next.health(), &Health::Off);
    // Nothing left to do the time after.
    let before = fake.calls().len();
    assert!(!next.recover().unwrap());
    assert_eq!(fake.calls().len(), before);
}

#[test]
fn a_crash_recorded_by_the_same_pid_is_restored_too() {
    // After a reboot the PID may be ours again: it is still a leftover.
    let dir = Dir::new("same-pid");
    let fake = Fake::new(user_settings());
    manager(&fake, &dir, 10, dead).enable(&pac()).unwrap();
    let mut next = manager(&fake, &dir, 10, alive);
    assert!(next.recover().unwrap());
    assert_eq!(fake.os(), user_settings());
}

#[test]
fn a_second_instance_never_touches_the_first_ones_journal() {
    let dir = Dir::new("second");
    let fake = Fake::new(user_settings());
    let mut first = manager(&fake, &dir, 10, dead);
    first.enable(&pac()).unwrap();
    let journal_before = fs::read(dir.journal()).unwrap();
    let applied = fake.os();
    let writes_before = writes(&fake);

    // The second instance sees a live Burrow's journal.
    let mut second = manager(&fake, &dir, 20, alive);
    let e = second.recover().unwrap_err();
    assert!(
        matches!(e, SystemProxyError::OtherInstance { pid: 10 }),
        "{e}"
    );
    let e = second.enable(&manual(9999)).unwrap_err();
    assert!(e.to_string().contains("process 10"), "{e}");
    second.disable().unwrap();
    drop(second);
    assert_eq!(fs::read(dir.journal()).unwrap(), journal_before);
    assert_eq!(fake.os(), applied);
    assert_eq!(writes(&fake), writes_before, "the second instance wrote");

    // The first one still restores exactly.
    first.disable().unwrap();
    assert_eq!(fake.os(), user_settings());
}

#[test]
fn another_programs_change_is_kept_not_fought() {
    let dir = Dir::new("other");
    let fake = Fake::new(user_settings());
    let mut m = manager(&fake, &dir, 10, dead);
    m.enable(&pac()).unwrap();
    assert_eq!(m.check(), None, "nothing changed yet");

    let mut theirs = user_settings();
    theirs.services[0].mode = Mode::Manual;
    theirs.services[0].http = Endpoint::on("vpn.example", 8888);
    fake.set_by_other_program(theirs.clone());
    let writes_before = writes(&fake);
    let what = m.check().expect("the change is noticed");
    assert!(what.contains("vpn.example:8888"), "{what}");
    assert!(matches!(m.health(), Health::Changed(_)));
    assert!(m.health().needs_attention());
    assert!(!m.holds());
    assert!(!dir.journal().exists());
    // Turning it off now writes nothing: their value stays.
    m.disable().unwrap();
    assert_eq!(fake.os(), theirs);
    assert_eq!(writes(&fake), writes_before);
    // Turning it on again takes their value as the one to restore.
    m.enable(&manual(8080)).unwrap();
    m.disable().unwrap();
    assert_eq!(fake.os(), theirs);
}

#[test]
fn a_change_while_burrow_was_dead_is_kept_at_the_next_start() {
    let dir = Dir::new("dead-change");
    let fake = Fake::new(user_settings());
    manager(&fake, &dir, 10, dead).enable(&pac()).unwrap();
    let mut theirs = user_settings();
    theirs.services[0].pac_url = "http://other/proxy.pac".into();
    fake.set_by_other_program(theirs.clone());
    let mut next = manager(&fake, &dir, 11, dead);
    assert!(!next.recover().unwrap(), "nothing to write");
    assert_eq!(fake.os(), theirs);
    assert!(!dir.journal().exists());
}

#[test]
fn a_corrupt_journal_is_kept_aside_and_nothing_is_applied() {
    let dir = Dir::new("corrupt");
    let fake = Fake::new(user_settings());
    fs::write(dir.journal(), "{\"version\": 1, \"pid\": ").unwrap();
    let mut m = manager(&fake, &dir, 10, dead);
    let e = m.recover().unwrap_err();
    assert!(
        matches!(e, SystemProxyError::Journal(JournalError::Corrupt { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("nothing was restored"), "{e}");
    assert_eq!(writes(&fake), 0);
    assert_eq!(fake.os(), user_settings());
    let names = dir.names();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("settings.system-proxy.json.corrupt-"),
        "{names:?}"
    );
    assert!(matches!(m.health(), Health::Unavailable(_)));
    // A valid JSON that is not a journal counts as corrupt too.
    fs::write(dir.journal(), "[1, 2]").unwrap();
    assert!(matches!(
        m.recover().unwrap_err(),
        SystemProxyError::Journal(JournalError::Corrupt { .. })
    ));
    // With the bad file aside, the feature works again.
    m.enable(&pac()).unwrap();
    m.disable().unwrap();
    assert_eq!(fake.os(), user_settings());
}

#[test]
fn a_journal_of_another_version_is_refused_clearly() {
    let dir = Dir::new("version");
    let fake = Fake::new(user_settings());
    let old = serde_json::json!({"version": 0, "backend": "fake", "saved": {}});
    fs::write(dir.journal(), old.to_string()).unwrap();
    let mut m = manager(&fake, &dir, 10, dead);
    let e = m.recover().unwrap_err();
    let text = e.to_string();
    assert!(text.contains("format version 0"), "{text}");
    assert!(text.contains("reads only version 1"), "{text}");
    assert_eq!(writes(&fake), 0);
    let names = dir.names();
    assert!(
        names[0].starts_with("settings.system-proxy.json.v0-"),
        "{names:?}"
    );
}

#[test]
fn a_failed_restore_keeps_the_journal_for_the_next_start() {
    let dir = Dir::new("restore-fails");
    let fake = Fake::new(user_settings());
    let mut m = manager(&fake, &dir, 10, dead);
    m.enable(&manual(8080)).unwrap();
    fake.fail_writes(true);
    assert!(m.disable().is_err());
    assert!(matches!(m.health(), Health::RestoreFailed(_)));
    assert!(m.health().needs_attention());
    assert!(dir.journal().exists());
    // A later try (Quit after the error) works once writes do.
    fake.fail_writes(false);
    m.disable().unwrap();
    assert_eq!(fake.os(), user_settings());
    assert!(!dir.journal().exists());

    // Or the next start does it.
    m.enable(&pac()).unwrap();
    fake.fail_writes(true);
    assert!(m.disable().is_err());
    drop(m);
    fake.fail_writes(false);
    assert!(manager(&fake, &dir, 11, dead).recover().unwrap());
    assert_eq!(fake.os(), user_settings());
}

#[test]
fn a_failed_set_puts_the_user_settings_back() {
    let dir = Dir::new("set-fails");
    let fake = Fake::new(user_settings());
    fake.fail_writes(true);
    let mut m = manager(&fake, &dir, 10, dead);
    assert!(m.enable(&pac()).is_err());
    assert!(matches!(m.health(), Health::RestoreFailed(_)));
    fake.fail_writes(false);
    m.disable().unwrap();
    assert_eq!(fake.os(), user_settings());
    assert!(!dir.journal().exists());
}

#[test]
fn without_a_back_end_nothing_is_touched() {
    let dir = Dir::new("unsupported");
    let mut m = Manager::with_process(
        Err(BackendError::Unsupported("no back end here".into())),
        dir.journal(),
        10,
        dead,
    );
    let e = m.enable(&pac()).unwrap_err();
    assert_eq!(e.to_string(), "no back end here");
    assert_eq!(m.health(), &Health::Unavailable("no back end here".into()));
    assert!(dir.names().is_empty());
}

#[test]
fn the_journal_is_private_and_names_its_writer() {
    let dir = Dir::new("private");
    let fake = Fake::new(user_settings());
    let mut m = manager(&fake, &dir, 4242, dead);
    m.enable(&pac()).unwrap();
    let text = fs::read_to_string(dir.journal()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["backend"], "fake");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.journal()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    m.disable().unwrap();
}
