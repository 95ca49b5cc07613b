//! The readable access-log line, and the time and size formats it uses.

use burrow_core::log::ConnectionRecord;
use burrow_core::tls::SniCheck;

use crate::events::now_ms;

/// The readable line for a connection.
pub fn text_line(r: &ConnectionRecord) -> String {
    let now = now_ms();
    let at = r.timings.closed.or(r.timings.accepted).unwrap_or(now);
    let dash = || "-".to_string();
    // Method, target and SNI are `PeerText`: escaped in the core, so no
    // control byte can recolour a terminal or start a forged line here.
    let mut line = format!(
        "{} {} {} {} {} ↑{} ↓{} {:.2} s {}",
        rfc3339(at),
        r.client.map_or_else(dash, |c| c.to_string()),
        r.method.as_deref().unwrap_or("-"),
        r.target.as_deref().unwrap_or("-"),
        r.status.map_or_else(dash, |s| s.to_string()),
        size(r.bytes_up),
        size(r.bytes_down),
        r.duration_ms(now).unwrap_or(0) as f64 / 1000.0,
        r.close.map_or("open", |c| c.describe()),
    );
    if let Some(e) = r.error {
        line.push_str(" error=");
        line.push_str(e.token());
    }
    if let Some(sni) = &r.sni {
        line.push_str(" sni=");
        line.push_str(sni);
    }
    let tls_note = match &r.sni_check {
        Some(SniCheck::Mismatch { .. }) => Some("sni-mismatch"),
        Some(SniCheck::NoSni) => Some("no-sni"),
        Some(SniCheck::NotTls) => Some("not-tls"),
        Some(SniCheck::Ech { .. }) => Some("ech"),
        Some(SniCheck::Malformed) => Some("malformed-hello"),
        Some(SniCheck::Match | SniCheck::IpTarget) | None => None,
    };
    if let Some(note) = tls_note {
        line.push_str(" tls=");
        line.push_str(note);
    }
    if r.requests > 1 {
        line.push_str(&format!(" requests={}", r.requests));
    }
    line
}

/// A byte count for people: `512 B`, `1.2 KiB`, `35.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix milliseconds as an RFC 3339 UTC time to the second.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_773_600_123), "2026-11-27T10:00:00Z");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1229), "1.2 KiB");
        assert_eq!(size(35 * 1024), "35.0 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
