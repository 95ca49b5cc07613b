//! "Open in simulator": a logged connection turned back into the scenario
//! that replays it, and the URL fragment the simulator page reads.
//!
//! Only what the record knows goes in: the request line (with the Host
//! field a client would send), the DNS answer or failure, the connect
//! result, what the client sent first in a tunnel and, for forwarded
//! requests, the origin's status (with its own reason phrase) or failure.
//! Everything else keeps the simulator's defaults.
//!
//! The password never goes into the URL: the scenario's settings carry a
//! stand-in, and a request that got past authentication gets a
//! `Proxy-Authorization` field with that stand-in, so it replays the same way.

use std::net::SocketAddr;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Serialize;

use crate::log::ConnectionRecord;
use crate::reject;
use crate::settings::Settings;
use crate::target;
use crate::tls::SniCheck;

use super::script::{ClientTls, ConnectScript, DnsScript, OriginScript, Scenario};

/// A scenario and where the simulator page should go to show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimulatorLink {
    /// The scenario.
    pub scenario: Scenario,
    /// `s=` + base64url(JSON of the scenario), for `simulator/index.html#…`.
    pub fragment: String,
}

/// Replaces the real password in a scenario.
const PASSWORD_STAND_IN: &str = "password-not-shared";

/// The scenario that replays `record` under `settings`; `listener` is the
/// address the client reached (it matters when listening on 0.0.0.0).
pub fn scenario_for(
    record: &ConnectionRecord,
    settings: &Settings,
    listener: Option<SocketAddr>,
) -> Scenario {
    let mut settings = settings.clone();
    if let Some(auth) = &mut settings.auth {
        auth.password = PASSWORD_STAND_IN.into();
    }
    let refused_auth = record.rule.as_deref() == Some(reject::AUTH_RULE);
    let request = match (&record.method, &record.target) {
        (Some(method), Some(target)) => {
            let version = record.version.map_or("HTTP/1.1", |v| v.as_str());
            let mut text = format!("{method} {target} {version}\r\n");
            if let Some(host) = target::host_field(method, target) {
                text.push_str(&format!("Host: {host}\r\n"));
            }
            if let Some(auth) = settings.auth.as_ref().filter(|_| !refused_auth) {
                let basic = STANDARD.encode(format!("{}:{}", auth.user, auth.password));
                text.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
            }
            text.push_str("\r\n");
            text
        }
        // The head never arrived: an empty request replays the head timeout.
        _ => String::new(),
    };
    let dns = match (record.dns_failure, record.resolved.is_empty()) {
        (Some(failure), _) => DnsScript::Fails(failure),
        (None, false) => DnsScript::Resolves(record.resolved.clone()),
        (None, true) => DnsScript::default(),
    };
    let connect = match (record.connect_failure, record.remote) {
        // A failure followed by a success (another address) still connected.
        (Some(failure), None) => ConnectScript::Fails(failure),
        _ => ConnectScript::Connects,
    };
    let client_tls = match &record.sni_check {
        None => ClientTls::Nothing,
        Some(SniCheck::Match) => ClientTls::MatchingSni,
        Some(SniCheck::Mismatch { sni }) => ClientTls::Sni(sni.to_string()),
        Some(SniCheck::Ech { outer }) => ClientTls::Sni(outer.to_string()),
        Some(SniCheck::NoSni | SniCheck::IpTarget) => ClientTls::NoSni,
        Some(SniCheck::NotTls | SniCheck::Malformed) => ClientTls::NotTls,
    };
    let origin = match (record.upstream_failure, record.status, &record.reason) {
        (Some(failure), ..) => OriginScript::Fails(failure),
        // A reason phrase is only recorded for the origin's own statuses.
        (None, Some(status), Some(reason)) => OriginScript::Responds {
            status,
            reason: reason.to_string(),
            headers: vec![("Content-Length".into(), "0".into())],
            body: String::new(),
        },
        _ => OriginScript::default(),
    };
    Scenario {
        request,
        settings,
        client: record.client,
        listener,
        dns,
        connect,
        client_tls,
        origin,
        ..Scenario::default()
    }
}

/// The scenario that replays `record`, with its simulator fragment.
pub fn link_for(
    record: &ConnectionRecord,
    settings: &Settings,
    listener: Option<SocketAddr>,
) -> SimulatorLink {
    let scenario = scenario_for(record, settings, listener);
    let fragment = fragment(&scenario);
    SimulatorLink { scenario, fragment }
}

/// `s=` + the scenario JSON in unpadded base64url.
pub fn fragment(scenario: &Scenario) -> String {
    // A scenario is plain data: serialising it cannot fail.
    let json = serde_json::to_string(scenario).unwrap_or_default();
    format!("s={}", URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Version;
    use crate::log::{CloseReason, Event};
    use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
    use crate::simulate::simulate;
    use crate::{After, PeerText, ProxyError};

    fn record(events: &[Event]) -> ConnectionRecord {
        let mut r = ConnectionRecord::new(1);
        let mut all = vec![Event::Accepted {
            client: "127.0.0.1:40000".parse().unwrap(),
            listener: "127.0.0.1:8080".parse().unwrap(),
        }];
        all.extend_from_slice(events);
        for (at, e) in all.iter().enumerate() {
            r.apply(at as u64, e);
        }
        r
    }

    fn request(method: &str, target: &str) -> Event {
        Event::Request {
            method: method.into(),
            target: target.into(),
            target_len: target.len(),
            version: Version::Http11,
        }
    }

    fn responded(status: u16, error: Option<ProxyError>, rule: &str, after: After) -> Event {
        Event::Responded {
            status,
            error,
            rule: rule.into(),
            after,
        }
    }

    #[test]
    fn a_tunnel_replays_to_the_same_answer() {
        let r = record(&[
            request("CONNECT", "example.com:443"),
            Event::Resolved {
                addrs: vec!["93.184.215.14".parse().unwrap()],
            },
            Event::Connected {
                addr: "93.184.215.14:443".parse().unwrap(),
            },
            responded(200, None, reject::CONNECT_OK.id, After::Tunnel),
            Event::Tls {
                check: SniCheck::Match,
                sni: Some("example.com".into()),
                alpn: vec!["h2".into()],
            },
            Event::Closed {
                reason: CloseReason::ClientFin,
            },
        ]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(
            s.request,
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert_eq!(
            s.dns,
            DnsScript::Resolves(vec!["93.184.215.14".parse().unwrap()])
        );
        assert_eq!(s.connect, ConnectScript::Connects);
        assert_eq!(s.client_tls, ClientTls::MatchingSni);
        assert_eq!(s.client, Some("127.0.0.1:40000".parse().unwrap()));
        let t = simulate(&s);
        assert_eq!(t.status, Some(200));
        assert_eq!(t.after, After::Tunnel);
        assert_eq!(t.record.sni.as_deref(), Some("example.com"));
    }

    #[test]
    fn a_dns_failure_replays_as_a_502() {
        let r = record(&[
            request("CONNECT", "nowhere.invalid:443"),
            Event::DnsFailed {
                failure: DnsFailure::NoSuchHost,
            },
            responded(502, Some(ProxyError::DnsError), "dns-error", After::Close),
        ]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(s.dns, DnsScript::Fails(DnsFailure::NoSuchHost));
        assert_eq!(s.origin, OriginScript::default());
        let t = simulate(&s);
        assert_eq!(t.status, Some(502));
        assert_eq!(t.record.error, Some(ProxyError::DnsError));
    }

    #[test]
    fn a_refused_connect_is_kept_but_a_later_success_wins() {
        let refused = Event::ConnectFailed {
            addr: "192.0.2.1:443".parse().unwrap(),
            failure: ConnectFailure::Refused,
        };
        let r = record(&[request("CONNECT", "a.test:443"), refused.clone()]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(s.connect, ConnectScript::Fails(ConnectFailure::Refused));
        assert_eq!(simulate(&s).status, Some(502));

        let r = record(&[
            request("CONNECT", "a.test:443"),
            refused,
            Event::Connected {
                addr: "192.0.2.2:443".parse().unwrap(),
            },
        ]);
        assert_eq!(
            scenario_for(&r, &Settings::default(), None).connect,
            ConnectScript::Connects
        );
    }

    #[test]
    fn origin_statuses_replay_with_their_own_reason_phrase() {
        let r = record(&[
            request("GET", "http://example.org:8080/a?b"),
            Event::OriginResponded {
                status: 404,
                reason: "Not Found".into(),
            },
        ]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(
            s.request,
            "GET http://example.org:8080/a?b HTTP/1.1\r\nHost: example.org:8080\r\n\r\n"
        );
        let t = simulate(&s);
        assert_eq!(t.status, Some(404));
        assert!(
            t.client_bytes.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{}",
            t.client_bytes
        );

        let r = record(&[
            request("GET", "http://example.org/"),
            Event::UpstreamFailed {
                failure: UpstreamFailure::Closed,
            },
        ]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(s.origin, OriginScript::Fails(UpstreamFailure::Closed));
    }

    #[test]
    fn tls_peeks_map_to_what_the_client_sent() {
        let tls = |check, sni: Option<&str>| {
            let r = record(&[Event::Tls {
                check,
                sni: sni.map(PeerText::from),
                alpn: vec![],
            }]);
            scenario_for(&r, &Settings::default(), None).client_tls
        };
        let mismatch = SniCheck::Mismatch {
            sni: "other.test".into(),
        };
        assert_eq!(
            tls(mismatch, Some("other.test")),
            ClientTls::Sni("other.test".into())
        );
        assert_eq!(tls(SniCheck::NoSni, None), ClientTls::NoSni);
        assert_eq!(tls(SniCheck::NotTls, None), ClientTls::NotTls);
        assert_eq!(
            tls(
                SniCheck::Ech {
                    outer: "cover.test".into()
                },
                Some("cover.test")
            ),
            ClientTls::Sni("cover.test".into())
        );
    }

    #[test]
    fn a_connection_without_a_request_replays_the_head_timeout() {
        let r = record(&[Event::Closed {
            reason: CloseReason::HeadTimeout,
        }]);
        let s = scenario_for(&r, &Settings::default(), None);
        assert_eq!(s.request, "");
        assert_eq!(s.client_tls, ClientTls::Nothing);
        assert_eq!(simulate(&s).record.close, Some(CloseReason::HeadTimeout));
    }

    #[test]
    fn the_password_stays_out_and_authenticated_requests_still_pass() {
        let settings = Settings {
            auth: Some(crate::settings::Credentials {
                user: "me".into(),
                password: "s3cret".into(),
            }),
            ..Settings::default()
        };
        let ok = record(&[
            request("CONNECT", "example.com:443"),
            responded(200, None, reject::CONNECT_OK.id, After::Tunnel),
        ]);
        let link = link_for(&ok, &settings, None);
        assert!(!serde_json::to_string(&link).unwrap().contains("s3cret"));
        assert!(link
            .scenario
            .request
            .contains("Proxy-Authorization: Basic "));
        assert_eq!(simulate(&link.scenario).status, Some(200));

        let refused = record(&[
            request("CONNECT", "example.com:443"),
            responded(
                407,
                Some(ProxyError::HttpRequestDenied),
                reject::AUTH_RULE,
                After::Close,
            ),
        ]);
        let s = scenario_for(&refused, &settings, None);
        assert!(!s.request.contains("Proxy-Authorization"));
        assert_eq!(simulate(&s).status, Some(407));
    }

    #[test]
    fn the_fragment_is_base64url_json_of_the_scenario() {
        let r = record(&[request("CONNECT", "example.com:443")]);
        let link = link_for(&r, &Settings::default(), None);
        let b64 = link.fragment.strip_prefix("s=").unwrap();
        assert!(!b64.contains(['+', '/', '=']));
        let json = URL_SAFE_NO_PAD.decode(b64).unwrap();
        let back: Scenario = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, link.scenario);
    }
}
