//! Windows: the per-user WinINET settings in
//! `HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings`
//! (`ProxyEnable`, `ProxyServer`, `ProxyOverride`, `AutoConfigURL`), then
//! `InternetSetOption` (`SETTINGS_CHANGED`, `REFRESH`) so running programs
//! reread them.
//!
//! The registry values are the truth and are kept raw in `extra` (a value
//! absent from the registry is absent there), so a restore writes back the
//! very same values and deletes the ones that did not exist. The typed
//! fields are read from them (`ProxyServer` `"h:p"` or
//! `"http=h:p;https=h:p"`, `ProxyOverride` split at `;`). What to do is
//! planned by pure functions ([`plan`]), tested on every platform; only
//! [`run`] touches the registry, on Windows.

use std::collections::BTreeMap;

use super::{Backend, BackendError, Endpoint, Mode, ProxySettings, ServiceSettings, Target};

/// The registry key, under `HKEY_CURRENT_USER`.
pub const KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings";
/// `ProxyEnable` (DWORD).
pub const PROXY_ENABLE: &str = "ProxyEnable";
/// `ProxyServer` (string).
pub const PROXY_SERVER: &str = "ProxyServer";
/// `ProxyOverride` (string).
pub const PROXY_OVERRIDE: &str = "ProxyOverride";
/// `AutoConfigURL` (string).
pub const AUTO_CONFIG_URL: &str = "AutoConfigURL";
/// `INTERNET_OPTION_SETTINGS_CHANGED`.
pub const OPTION_SETTINGS_CHANGED: u32 = 39;
/// `INTERNET_OPTION_REFRESH`.
pub const OPTION_REFRESH: u32 = 37;
/// What manual mode bypasses, in `ProxyOverride`'s words.
pub const BYPASS: [&str; 3] = ["localhost", "127.*", "[::1]"];

/// The four registry values; `None`: absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// `ProxyEnable`.
    pub proxy_enable: Option<u32>,
    /// `ProxyServer`.
    pub proxy_server: Option<String>,
    /// `ProxyOverride`.
    pub proxy_override: Option<String>,
    /// `AutoConfigURL`.
    pub auto_config_url: Option<String>,
}

/// One step of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a DWORD value.
    SetDword(&'static str, u32),
    /// Set a string value.
    SetString(&'static str, String),
    /// Delete a value (absent before).
    Delete(&'static str),
    /// `InternetSetOption(NULL, option, NULL, 0)`.
    Notify(u32),
}

/// The steps that make the registry hold `r`, then tell WinINET.
pub fn plan(r: &Registry) -> Vec<Op> {
    let string = |name, v: &Option<String>| match v {
        Some(v) => Op::SetString(name, v.clone()),
        None => Op::Delete(name),
    };
    vec![
        string(PROXY_SERVER, &r.proxy_server),
        string(PROXY_OVERRIDE, &r.proxy_override),
        string(AUTO_CONFIG_URL, &r.auto_config_url),
        match r.proxy_enable {
            Some(v) => Op::SetDword(PROXY_ENABLE, v),
            None => Op::Delete(PROXY_ENABLE),
        },
        Op::Notify(OPTION_SETTINGS_CHANGED),
        Op::Notify(OPTION_REFRESH),
    ]
}

/// The settings for registry values.
pub fn from_registry(r: &Registry) -> ServiceSettings {
    let mut extra = BTreeMap::new();
    if let Some(v) = r.proxy_enable {
        extra.insert(PROXY_ENABLE.to_string(), v.to_string());
    }
    for (name, v) in [
        (PROXY_SERVER, &r.proxy_server),
        (PROXY_OVERRIDE, &r.proxy_override),
        (AUTO_CONFIG_URL, &r.auto_config_url),
    ] {
        if let Some(v) = v {
            extra.insert(name.to_string(), v.clone());
        }
    }
    let enabled = r.proxy_enable == Some(1);
    let (mut http, mut https, mut ftp, mut socks) = Default::default();
    for part in r.proxy_server.as_deref().unwrap_or("").split(';') {
        let (scheme, addr) = match part.split_once('=') {
            Some((s, a)) => (Some(s.trim().to_ascii_lowercase()), a.trim()),
            None => (None, part.trim()),
        };
        if addr.is_empty() {
            continue;
        }
        let e = endpoint(addr, enabled);
        match scheme.as_deref() {
            None => {
                http = e.clone();
                https = e;
            }
            Some("http") => http = e,
            Some("https") => https = e,
            Some("ftp") => ftp = e,
            Some("socks") => socks = e,
            Some(_) => {}
        }
    }
    let mode = match (&r.auto_config_url, enabled) {
        (Some(_), _) => Mode::Auto,
        (None, true) => Mode::Manual,
        (None, false) => Mode::None,
    };
    ServiceSettings {
        service: String::new(),
        mode,
        http,
        https,
        ftp,
        socks,
        bypass: match r.proxy_override.as_deref() {
            None | Some("") => Vec::new(),
            Some(v) => v.split(';').map(String::from).collect(),
        },
        pac_url: r.auto_config_url.clone().unwrap_or_default(),
        extra,
    }
}

fn endpoint(addr: &str, enabled: bool) -> Endpoint {
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => (h, p.parse().unwrap_or(0)),
        _ => (addr, 0),
    };
    Endpoint {
        enabled,
        host: host.to_string(),
        port,
    }
}

/// The registry values settings hold (their raw `extra`).
pub fn to_registry(s: &ServiceSettings) -> Registry {
    let get = |name: &str| s.extra.get(name).cloned();
    Registry {
        proxy_enable: get(PROXY_ENABLE).and_then(|v| v.parse().ok()),
        proxy_server: get(PROXY_SERVER),
        proxy_override: get(PROXY_OVERRIDE),
        auto_config_url: get(AUTO_CONFIG_URL),
    }
}

/// Burrow's registry values, from the user's.
pub fn burrow_registry(current: &Registry, target: &Target) -> Registry {
    let mut r = current.clone();
    match target {
        Target::Pac(url) => {
            r.auto_config_url = Some(url.clone());
            // The PAC decides alone; a manual proxy would only be its fallback.
            r.proxy_enable = Some(0);
        }
        Target::Manual { host, port } => {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            r.proxy_enable = Some(1);
            r.proxy_server = Some(format!("http={host}:{port};https={host}:{port}"));
            r.proxy_override = Some(BYPASS.join(";"));
            r.auto_config_url = None;
        }
    }
    r
}

/// The WinINET back end.
#[derive(Debug, Default)]
pub struct WinInet;

impl WinInet {
    /// The back end for the current user.
    pub fn new() -> WinInet {
        WinInet
    }
}

impl Backend for WinInet {
    fn name(&self) -> &'static str {
        "windows"
    }

    fn read(&mut self) -> Result<ProxySettings, BackendError> {
        Ok(ProxySettings::single(from_registry(&read_registry()?)))
    }

    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError> {
        match settings.services.first() {
            Some(s) => run(&plan(&to_registry(s))),
            None => Ok(()),
        }
    }

    fn burrow(&self, current: &ProxySettings, target: &Target) -> ProxySettings {
        let mut out = current.clone();
        for s in &mut out.services {
            *s = from_registry(&burrow_registry(&to_registry(s), target));
        }
        out
    }
}

#[cfg(not(windows))]
fn read_registry() -> Result<Registry, BackendError> {
    Err(BackendError::Unsupported(
        "the Windows registry exists only on Windows".into(),
    ))
}

/// Carries out `ops` (Windows only).
#[cfg(not(windows))]
pub fn run(_ops: &[Op]) -> Result<(), BackendError> {
    Err(BackendError::Unsupported(
        "the Windows registry exists only on Windows".into(),
    ))
}

#[cfg(windows)]
mod win {
    use super::*;
    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_FILE_NOT_FOUND, ERROR_SUCCESS, STILL_ACTIVE,
    };
    use windows_sys::Win32::Networking::WinInet::InternetSetOptionW;
    use windows_sys::Win32::System::Registry::{
        RegCloseKey, RegDeleteValueW, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW, HKEY,
        HKEY_CURRENT_USER, KEY_READ, KEY_SET_VALUE, REG_DWORD, REG_EXPAND_SZ, REG_SZ,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn api(what: &str, code: u32) -> BackendError {
        BackendError::Api(format!(
            "{what} failed with Windows error {code}; set the proxy by hand in Settings → Network → Proxy"
        ))
    }

    struct Key(HKEY);

    impl Drop for Key {
        fn drop(&mut self) {
            // SAFETY: the key was opened by RegOpenKeyExW and is closed once.
            unsafe { RegCloseKey(self.0) };
        }
    }

    fn open(access: u32) -> Result<Key, BackendError> {
        let path = wide(KEY);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated and outlives the call; `key` is a valid out pointer.
        let rc = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER, path.as_ptr(), 0, access, &mut key) };
        if rc != ERROR_SUCCESS {
            return Err(api("opening the Internet Settings key", rc));
        }
        Ok(Key(key))
    }

    /// A value's type and bytes, or `None` when absent.
    fn query(key: &Key, name: &str) -> Result<Option<(u32, Vec<u8>)>, BackendError> {
        let name_w = wide(name);
        let mut kind = 0u32;
        let mut len = 0u32;
        // SAFETY: a size query: no data pointer, valid out pointers.
        let rc = unsafe {
            RegQueryValueExW(
                key.0,
                name_w.as_ptr(),
                std::ptr::null(),
                &mut kind,
                std::ptr::null_mut(),
                &mut len,
            )
        };
        if rc == ERROR_FILE_NOT_FOUND {
            return Ok(None);
        }
        if rc != ERROR_SUCCESS {
            return Err(api(&format!("reading {name}"), rc));
        }
        let mut data = vec![0u8; len as usize];
        // SAFETY: `data` has `len` bytes, as the size query said.
        let rc = unsafe {
            RegQueryValueExW(
                key.0,
                name_w.as_ptr(),
                std::ptr::null(),
                &mut kind,
                data.as_mut_ptr(),
                &mut len,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(api(&format!("reading {name}"), rc));
        }
        data.truncate(len as usize);
        Ok(Some((kind, data)))
    }

    fn string(name: &str, kind: u32, data: &[u8]) -> Result<String, BackendError> {
        if kind != REG_SZ && kind != REG_EXPAND_SZ {
            return Err(BackendError::Api(format!(
                "{name} is not a string value in the registry"
            )));
        }
        let units: Vec<u16> = data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        Ok(String::from_utf16_lossy(&units[..end]))
    }

    pub(super) fn read_registry() -> Result<Registry, BackendError> {
        let key = open(KEY_READ)?;
        let s = |name: &str| -> Result<Option<String>, BackendError> {
            query(&key, name)?
                .map(|(k, d)| string(name, k, &d))
                .transpose()
        };
        let proxy_enable = match query(&key, PROXY_ENABLE)? {
            Some((kind, d)) if kind == REG_DWORD && d.len() >= 4 => {
                Some(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
            }
            Some(_) => {
                return Err(BackendError::Api(
                    "ProxyEnable is not a DWORD in the registry".into(),
                ))
            }
            None => None,
        };
        Ok(Registry {
            proxy_enable,
            proxy_server: s(PROXY_SERVER)?,
            proxy_override: s(PROXY_OVERRIDE)?,
            auto_config_url: s(AUTO_CONFIG_URL)?,
        })
    }

    pub fn run(ops: &[Op]) -> Result<(), BackendError> {
        let key = open(KEY_SET_VALUE)?;
        for op in ops {
            let rc = match op {
                Op::SetDword(name, v) => {
                    let n = wide(name);
                    let bytes = v.to_le_bytes();
                    // SAFETY: `n` is NUL-terminated; `bytes` is 4 bytes.
                    unsafe { RegSetValueExW(key.0, n.as_ptr(), 0, REG_DWORD, bytes.as_ptr(), 4) }
                }
                Op::SetString(name, v) => {
                    let n = wide(name);
                    let data = wide(v);
                    let len = u32::try_from(data.len() * 2)
                        .map_err(|_| BackendError::Api(format!("{name} is too long")))?;
                    // SAFETY: `data` is NUL-terminated UTF-16, `len` bytes long.
                    unsafe {
                        RegSetValueExW(key.0, n.as_ptr(), 0, REG_SZ, data.as_ptr().cast(), len)
                    }
                }
                Op::Delete(name) => {
                    let n = wide(name);
                    // SAFETY: `n` is NUL-terminated.
                    match unsafe { RegDeleteValueW(key.0, n.as_ptr()) } {
                        ERROR_FILE_NOT_FOUND => ERROR_SUCCESS,
                        rc => rc,
                    }
                }
                Op::Notify(option) => {
                    // SAFETY: these options take no handle and no buffer.
                    let ok = unsafe {
                        InternetSetOptionW(std::ptr::null(), *option, std::ptr::null(), 0)
                    };
                    // Telling WinINET is best effort: the registry is already written.
                    let _ = ok;
                    ERROR_SUCCESS
                }
            };
            if rc != ERROR_SUCCESS {
                return Err(api(&format!("{op:?}"), rc));
            }
        }
        Ok(())
    }

    pub fn process_alive(pid: u32) -> bool {
        // SAFETY: OpenProcess returns null or a handle we close below.
        let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if handle.is_null() {
            return false;
        }
        let mut code = 0u32;
        // SAFETY: `handle` is a valid process handle; `code` a valid out pointer.
        let ok = unsafe { GetExitCodeProcess(handle, &mut code) } != 0;
        // SAFETY: closed once.
        unsafe { CloseHandle(handle) };
        ok && code == STILL_ACTIVE as u32
    }
}

#[cfg(windows)]
use win::read_registry;
#[cfg(windows)]
pub use win::{process_alive, run};

#[cfg(test)]
mod tests {
    use super::*;

    fn corp() -> Registry {
        Registry {
            proxy_enable: Some(1),
            proxy_server: Some("http=corp:3128;https=corp:3129;socks=s:1080".into()),
            proxy_override: Some("*.corp;<local>".into()),
            auto_config_url: None,
        }
    }

    #[test]
    fn registry_values_round_trip_exactly() {
        for r in [
            corp(),
            Registry::default(),
            Registry {
                proxy_enable: Some(0),
                proxy_server: Some("proxy:8080".into()),
                proxy_override: Some(String::new()),
                auto_config_url: Some("http://wpad/wpad.dat".into()),
            },
        ] {
            assert_eq!(to_registry(&from_registry(&r)), r);
        }
        let s = from_registry(&corp());
        assert_eq!(s.mode, Mode::Manual);
        assert_eq!(s.http, Endpoint::on("corp", 3128));
        assert_eq!(s.https, Endpoint::on("corp", 3129));
        assert_eq!(s.socks, Endpoint::on("s", 1080));
        assert_eq!(s.bypass, ["*.corp", "<local>"]);
        let single = from_registry(&Registry {
            proxy_server: Some("proxy:8080".into()),
            ..Registry::default()
        });
        assert_eq!(single.https.host, "proxy");
        assert!(!single.https.enabled);
    }

    #[test]
    fn plans_are_exact() {
        let manual = burrow_registry(
            &corp(),
            &Target::Manual {
                host: "127.0.0.1".into(),
                port: 8080,
            },
        );
        assert_eq!(
            plan(&manual),
            [
                Op::SetString(
                    PROXY_SERVER,
                    "http=127.0.0.1:8080;https=127.0.0.1:8080".into()
                ),
                Op::SetString(PROXY_OVERRIDE, "localhost;127.*;[::1]".into()),
                Op::Delete(AUTO_CONFIG_URL),
                Op::SetDword(PROXY_ENABLE, 1),
                Op::Notify(39),
                Op::Notify(37),
            ]
        );
        let pac = burrow_registry(
            &Registry::default(),
            &Target::Pac("http://127.0.0.1:8080/proxy.pac".into()),
        );
        assert_eq!(
            plan(&pac),
            [
                Op::Delete(PROXY_SERVER),
                Op::Delete(PROXY_OVERRIDE),
                Op::SetString(AUTO_CONFIG_URL, "http://127.0.0.1:8080/proxy.pac".into()),
                Op::SetDword(PROXY_ENABLE, 0),
                Op::Notify(OPTION_SETTINGS_CHANGED),
                Op::Notify(OPTION_REFRESH),
            ]
        );
        // The restore of values that were absent deletes them.
        assert_eq!(plan(&Registry::default())[3], Op::Delete(PROXY_ENABLE));
        // IPv6 listeners are bracketed.
        let v6 = burrow_registry(
            &Registry::default(),
            &Target::Manual {
                host: "::1".into(),
                port: 1,
            },
        );
        assert_eq!(
            v6.proxy_server.as_deref(),
            Some("http=[::1]:1;https=[::1]:1")
        );
    }

    #[test]
    fn burrow_settings_read_back_the_same() {
        let b = WinInet::new();
        let user = ProxySettings::single(from_registry(&corp()));
        for t in [
            Target::Pac("http://127.0.0.1:1/proxy.pac".into()),
            Target::Manual {
                host: "127.0.0.1".into(),
                port: 1,
            },
        ] {
            let ours = b.burrow(&user, &t);
            let s = &ours.services[0];
            assert_eq!(from_registry(&to_registry(s)), *s);
        }
    }
}
