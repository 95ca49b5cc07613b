//! The configuration each proxy runs with: all on loopback, CONNECT to any port, enough
//! connections for the memory phase, logs (one line per connection) in the run's directory.

use std::path::Path;

use serde_json::json;

/// Connections every proxy must admit: the memory phase holds up to 5,000 tunnels, and the
/// rate phase's closed connections may linger a moment. Burrow lowers its own cap to what the
/// descriptor limit allows (two per tunnel), which with 20,000 is still above 5,000.
pub const MAX_CONNECTIONS: usize = 12_000;

/// Burrow's settings file. Its access log goes to stdout, which the bench sends to a file.
pub fn burrow(listen_port: u16) -> String {
    let config = json!({
        "listen": format!("127.0.0.1:{listen_port}"),
        // The origins listen on ephemeral ports.
        "allowed_ports": "1-65535",
        "max_connections": MAX_CONNECTIONS,
        // Every bench client is 127.0.0.1.
        "max_connections_per_client": MAX_CONNECTIONS,
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// tinyproxy's configuration. With no `ConnectPort` line, CONNECT may reach any port; with no
/// `Allow` line, any client may use it. `LogLevel Connect` logs one line per connection, like
/// the others' access logs.
pub fn tinyproxy(port: u16, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "\
Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients {MAX_CONNECTIONS}
LogFile \"{dir}/tinyproxy.log\"
LogLevel Connect
PidFile \"{dir}/tinyproxy.pid\"
"
    )
}

/// Squid's configuration: no cache at all, no port restrictions for CONNECT, one worker, and
/// every file it writes in `dir` (it runs as the `proxy` user, so `dir` must be writable by it).
pub fn squid(port: u16, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "\
http_port 127.0.0.1:{port}
http_access allow localhost
http_access deny all
cache deny all
cache_mem 0 MB
max_filedescriptors 20000
workers 1
pid_filename {dir}/squid.pid
cache_log {dir}/squid-cache.log
access_log stdio:{dir}/squid-access.log
coredump_dir {dir}
shutdown_lifetime 1 seconds
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burrow_config_is_valid_settings() {
        let settings: burrow_core::Settings = serde_json::from_str(&burrow(3128)).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.listen, "127.0.0.1:3128".parse().unwrap());
        assert_eq!(settings.max_connections_per_client, MAX_CONNECTIONS);
        assert!(settings.allowed_ports.contains(1) && settings.allowed_ports.contains(65535));
    }

    #[test]
    fn peer_configs() {
        let t = tinyproxy(8888, Path::new("/tmp/b"));
        assert!(t.contains("Port 8888\n") && t.contains("Listen 127.0.0.1\n"));
        assert!(!t.contains("ConnectPort") && !t.contains("Allow"));
        assert!(t.contains("LogFile \"/tmp/b/tinyproxy.log\""));
        let s = squid(3128, Path::new("/tmp/b"));
        assert!(s.contains("http_port 127.0.0.1:3128\n"));
        assert!(s.contains("cache deny all\n") && !s.contains("cache_dir"));
        assert!(s.contains("pid_filename /tmp/b/squid.pid\n"));
        assert!(!s.contains("Safe_ports") && !s.contains("SSL_ports"));
    }
}
