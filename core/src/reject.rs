//! Every answer Burrow makes itself (the tunnel's 200 and every refusal):
//! the status, the RFC 9209 error, the words, and the rule behind it.

use crate::body::BodyError;
use crate::framing::FramingError;
use crate::head::{HeadError, Version};
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::response::{After, ProxyError, Response, ResponseSpec, Rule, Status};
use crate::target::TargetError;

macro_rules! rule {
    ($id:literal, $why:literal, $spec:literal) => {
        Rule {
            id: $id,
            why: $why,
            spec: $spec,
        }
    };
}

/// Why Burrow never answers a failed CONNECT with a redirect.
pub const NO_REDIRECT: &str = "Burrow never answers a failed CONNECT with a 3xx redirect: browsers do not follow redirects sent in reply to CONNECT, and a plaintext redirect from the proxy would not be the origin speaking, so it could send the user anywhere. A failure gets a 4xx or 5xx that says what went wrong.";

/// The successful CONNECT rule.
pub const CONNECT_OK: Rule = rule!(
    "connect-established",
    "The TCP connection to the destination is open, so the proxy answers 2xx and from then on relays bytes blindly both ways.",
    "RFC 9110 §9.3.6"
);

/// The id of the rule behind a 407: a replay knows from it that the
/// credentials were refused.
pub const AUTH_RULE: &str = "proxy-auth-required";

/// The forwarding rule.
pub const FORWARD_OK: Rule = rule!(
    "forwarded",
    "A request with an absolute http:// URL is forwarded to the origin in origin-form, with hop-by-hop fields removed and Via added.",
    "RFC 9110 §7.6, RFC 9112 §3.2.2"
);

fn build(
    version: Version,
    status: Status,
    error: ProxyError,
    details: Option<String>,
    body: &str,
    rule: Rule,
) -> Response {
    ResponseSpec {
        version,
        status,
        error: Some(error),
        details,
        params: Vec::new(),
        fields: Vec::new(),
        body,
        rule,
        // RFC 9931: a refused CONNECT may be followed by bytes the client sent
        // optimistically; they must never be read as a request, so close.
        after: After::Close,
    }
    .build()
}

/// A head that cannot be parsed.
pub fn bad_head(error: HeadError) -> Response {
    // The version is unknown when the head is broken; answer in 1.1.
    let v = Version::Http11;
    match error {
        HeadError::LineTooLong => build(v, Status::UriTooLong, ProxyError::HttpRequestError, None,
            "The request line is longer than Burrow accepts.\nShorten the URL, or raise limits.request_line in the settings.\n",
            rule!("request-line-too-long", "The request line exceeds the configured limit.", "RFC 9112 §3")),
        HeadError::HeadTooLarge => build(v, Status::RequestHeaderFieldsTooLarge, ProxyError::HttpRequestError, None,
            "The request head is larger than Burrow accepts.\nSend fewer or smaller header fields (cookies are the usual cause), or raise limits.head_bytes.\n",
            rule!("head-too-large", "The header section exceeds the configured size.", "RFC 9110 §5.4, RFC 6585 §5")),
        HeadError::TooManyHeaders => build(v, Status::RequestHeaderFieldsTooLarge, ProxyError::HttpRequestError, None,
            "The request has more header fields than Burrow accepts.\nSend fewer fields, or raise limits.headers.\n",
            rule!("too-many-headers", "The header section has more fields than the configured limit.", "RFC 9110 §5.4, RFC 6585 §5")),
        HeadError::UnsupportedVersion => build(v, Status::HttpVersionNotSupported, ProxyError::HttpRequestError, None,
            "Burrow speaks HTTP/1.0 and HTTP/1.1 to clients.\nConfigure the client to use an HTTP/1.1 proxy.\n",
            rule!("version-unsupported", "Only HTTP/1.0 and HTTP/1.1 are spoken on the proxy port.", "RFC 9110 §15.6.6")),
        HeadError::Malformed(what) => build(v, Status::BadRequest, ProxyError::HttpRequestError, Some(what.to_string()),
            &format!("The request is malformed: {what}.\nThis usually means the client is not speaking HTTP to the proxy port.\n"),
            rule!("head-malformed", "Off-grammar requests are refused, never repaired, and the connection is closed.", "RFC 9112 §2.2, §3, §5")),
    }
}

/// Content-Length / Transfer-Encoding that cannot be trusted.
pub fn bad_framing(version: Version, error: FramingError) -> Response {
    match error {
        FramingError::Invalid(what) => build(version, Status::BadRequest, ProxyError::HttpRequestError, Some(what.to_string()),
            &format!("The request's body framing is invalid: {what}.\nAmbiguous framing is how requests get smuggled, so Burrow refuses it.\n"),
            rule!("framing-invalid", "An invalid or conflicting Content-Length or Transfer-Encoding is an unrecoverable error: answer 400 and close.", "RFC 9112 §6.1, §6.3")),
        FramingError::UnknownCoding => build(version, Status::NotImplemented, ProxyError::HttpRequestError, None,
            "The request uses a transfer coding other than chunked, which Burrow does not implement.\nSend the body with Content-Length or chunked.\n",
            rule!("coding-unknown", "A server that does not understand a transfer coding answers 501.", "RFC 9112 §6.1")),
    }
}

/// A CONNECT that carries a body.
pub fn connect_with_body(version: Version) -> Response {
    build(version, Status::BadRequest, ProxyError::HttpRequestError, Some("CONNECT with content".into()),
        "A CONNECT request has no content, but this one declares a body (Content-Length above 0 or Transfer-Encoding).\nThe bytes after a CONNECT belong to the tunnel; send them after the 200.\n",
        rule!("connect-with-body", "A CONNECT request has no content; framing it would swallow the first tunnel bytes.", "RFC 9110 §9.3.6"))
}

/// Missing, repeated or invalid Host.
pub fn bad_host_field(version: Version, what: &'static str) -> Response {
    build(version, Status::BadRequest, ProxyError::HttpRequestError, Some(what.to_string()),
        &format!("The Host header field is wrong: {what}.\nAn HTTP/1.1 request carries exactly one valid Host field.\n"),
        rule!("host-field-invalid", "A server must answer 400 to an HTTP/1.1 request with no Host, several Host lines, or an invalid one.", "RFC 9112 §3.2"))
}

/// A request target that is not usable.
pub fn bad_target(version: Version, error: TargetError, target: &[u8]) -> Response {
    let shown = crate::escape::escape(&target[..target.len().min(200)]);
    let (id, why, spec) = match error {
        TargetError::NotAbsolute => ("not-a-proxy-request", "A proxy needs an absolute URL or CONNECT host:port to know where to go.", "RFC 9112 §3.2.2"),
        TargetError::AuthorityFormWithoutConnect => ("authority-form-without-connect", "The host:port form is only valid with CONNECT, and method names are case-sensitive.", "RFC 9112 §3.2.3, RFC 9110 §9.1"),
        TargetError::HttpsAbsolute | TargetError::UnsupportedScheme => ("scheme-unsupported", "Only http:// is forwarded; HTTPS goes through a CONNECT tunnel.", "RFC 9110 §9.3.6"),
        TargetError::MissingPort | TargetError::BadPort => ("connect-port-invalid", "A CONNECT target must carry a port; there is no default, and an empty or invalid port is rejected.", "RFC 9110 §9.3.6"),
        TargetError::UserInfo => ("userinfo-in-target", "A user:password@ part in a request target is treated as an error.", "RFC 9110 §4.2.4"),
        _ => ("target-invalid", "The request target is not a valid host:port or http:// URL.", "RFC 9112 §3.2"),
    };
    build(
        version,
        Status::BadRequest,
        ProxyError::HttpRequestError,
        Some(error.describe().to_string()),
        &format!(
            "Burrow cannot use the request target \"{shown}\": {}.\n",
            error.describe()
        ),
        Rule { id, why, spec },
    )
}

/// Missing or wrong Proxy-Authorization.
pub fn auth_required(version: Version, wrong: bool) -> Response {
    let body = if wrong {
        "The proxy user name or password is wrong.\nCheck the proxy credentials configured in your browser or client.\n"
    } else {
        "This proxy requires a user name and password.\nEnter the proxy credentials in your browser or client (for curl: --proxy-user user:password).\n"
    };
    ResponseSpec {
        version,
        status: Status::ProxyAuthenticationRequired,
        error: Some(ProxyError::HttpRequestDenied),
        details: Some(
            if wrong {
                "wrong proxy credentials"
            } else {
                "proxy authentication required"
            }
            .into(),
        ),
        params: Vec::new(),
        fields: vec![(
            "Proxy-Authenticate",
            "Basic realm=\"burrow\", charset=\"UTF-8\"".into(),
        )],
        body,
        rule: Rule {
            id: AUTH_RULE,
            why: "Authentication is configured; a 407 always carries a Proxy-Authenticate challenge.",
            spec: "RFC 9110 §11.7.1, §15.5.8, RFC 7617 §2",
        },
        after: After::Close,
    }
    .build()
}

/// A request for the PAC file whose Host is a public name: a web page that
/// points its own name at Burrow (DNS rebinding) must not read the file.
pub fn pac_host_not_local(version: Version) -> Response {
    build(version, Status::Forbidden, ProxyError::HttpRequestDenied, Some("the PAC file is served only to a local Host".into()),
        "Burrow serves its PAC file at an address (http://127.0.0.1:8080/proxy.pac) or a local name (localhost, *.lan, single-label names).\nUse one of those, or list this name in local_hosts.\n",
        rule!("pac-host-not-local", "A PAC request naming a public host could come from a web page that re-pointed its name at Burrow (DNS rebinding); only addresses, local names and local_hosts get the file.", "Burrow's PAC file; WHATWG Fetch: local network access"))
}

/// A port outside `allowed_ports`.
pub fn port_denied(version: Version, port: u16) -> Response {
    build(version, Status::Forbidden, ProxyError::HttpRequestDenied, Some(format!("port {port} is not in allowed_ports")),
        &format!("Burrow does not open tunnels to port {port}.\nOnly the ports in allowed_ports may be reached (default 443 and 80); add {port} there (or --allow-port) if you trust it.\n"),
        rule!("connect-port-denied", "Proxies should limit CONNECT to a list of known ports, so the proxy cannot be used to reach mail, SSH or database ports.", "RFC 9110 §9.3.6"))
}

/// A host refused by `deny_hosts` / `allow_hosts`.
pub fn host_denied(version: Version, host: &str) -> Response {
    let shown = crate::escape::escape(host.as_bytes());
    build(version, Status::Forbidden, ProxyError::HttpRequestDenied, Some("host is not allowed by the settings".into()),
        &format!("Burrow's settings do not allow {shown}.\nChange allow_hosts or deny_hosts to reach it.\n"),
        rule!("host-denied", "The destination host is refused by the configured allow or deny list.", "Burrow settings: allow_hosts, deny_hosts"))
}

/// An internal address while `private_destinations` keeps them out of reach.
pub fn address_prohibited(version: Version, host: &str, shared: bool) -> Response {
    let shown = crate::escape::escape(host.as_bytes());
    let why = if shared {
        "which this proxy does not reach while it is shared beyond this machine.\nSet private_destinations to \"allow\" if that is intended."
    } else {
        "and private_destinations is \"deny\".\nSet it to \"auto\" or \"allow\" to reach services on this machine or its network."
    };
    build(version, Status::Forbidden, ProxyError::DestinationIpProhibited, Some("destination is on a local or private network".into()),
        &format!("{shown} is a loopback, private or link-local address (or resolves to one), {why}\n"),
        rule!("destination-ip-prohibited", "The decision is made on the resolved, canonicalised address, so a name cannot smuggle a request to a local service.", "RFC 9209 §2.3.6"))
}

/// A public name resolved to an internal address: DNS rebinding.
pub fn rebinding(version: Version, host: &str, addr: std::net::IpAddr) -> Response {
    let shown = crate::escape::escape(host.as_bytes());
    build(version, Status::Forbidden, ProxyError::DestinationIpProhibited, Some("name resolves to an internal address (DNS rebinding)".into()),
        &format!("{shown} resolved to {addr}, an address on this machine or its local network.\nA public name pointing inside is how DNS rebinding lets a web page reach your own services (the browser never sees the address, so it cannot stop it), so Burrow refuses it.\nIf {shown} is yours, add it to local_hosts (a name, *.domain, or a network such as 10.0.0.0/8). Names like localhost, *.local, *.home.arpa, *.internal, *.lan and single-label names are always allowed.\n"),
        rule!("dns-rebinding", "A name that is not local by definition or listed in local_hosts may not resolve to a loopback, private, link-local, shared or reserved address; literals follow private_destinations.", "WHATWG Fetch: local network access; dnsmasq --stop-dns-rebind; RFC 9209 §2.3.6"))
}

/// A cloud instance-metadata address not listed in `local_hosts`.
pub fn metadata_prohibited(version: Version, addr: std::net::IpAddr) -> Response {
    build(version, Status::Forbidden, ProxyError::DestinationIpProhibited, Some("instance-metadata address".into()),
        &format!("{addr} is a cloud instance-metadata service, which hands out the machine's credentials to whoever asks.\nBurrow reaches it only when it is listed in local_hosts.\n"),
        rule!("metadata-prohibited", "Metadata addresses are refused whatever private_destinations says, unless listed explicitly.", "Burrow settings: local_hosts; RFC 9209 §2.3.6"))
}

/// A forwarded request to a port in `forward_blocked_ports`.
pub fn forward_port_denied(version: Version, port: u16) -> Response {
    build(version, Status::Forbidden, ProxyError::HttpRequestDenied, Some(format!("port {port} is in forward_blocked_ports")),
        &format!("Burrow does not forward http:// requests to port {port}.\nIt belongs to a protocol such as mail, FTP or IRC that a crafted HTTP request could talk to, so browsers refuse it themselves (the Fetch standard's bad ports). Remove {port} from forward_blocked_ports if you trust it.\n"),
        rule!("forward-port-blocked", "Plain-HTTP forwarding refuses the ports browsers refuse, so a page cannot make the proxy speak HTTP to a mail or chat server.", "WHATWG Fetch §2.9 (bad ports)"))
}

/// Too many wrong passwords from this client address.
pub fn auth_throttled(version: Version, retry_after: std::time::Duration) -> Response {
    // Round up: retrying a fraction of a second early would just fail again.
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    ResponseSpec {
        version,
        status: Status::TooManyRequests,
        error: Some(ProxyError::HttpRequestDenied),
        details: Some("too many wrong proxy passwords".into()),
        params: Vec::new(),
        fields: vec![("Retry-After", secs.to_string())],
        body: &format!("Too many wrong proxy passwords came from this address, so Burrow refuses it for {secs} s.\nCheck the proxy credentials, then try again after that. (auth_throttle sets how many tries and how long.)\n"),
        rule: rule!("auth-throttled", "After auth_throttle.failures wrong passwords within the window, a client address is refused for a while, twice as long each time, so passwords cannot be guessed at network speed.", "RFC 6585 §4, RFC 9110 §10.2.3"),
        after: After::Close,
    }
    .build()
}

/// The destination is Burrow's own listener.
pub fn loop_detected(version: Version) -> Response {
    build(version, Status::BadGateway, ProxyError::ProxyLoopDetected, None,
        "The destination is this proxy itself; relaying to it would loop forever.\nCheck the host and port you are trying to reach.\n",
        rule!("proxy-loop", "An intermediary must not forward a message to itself.", "RFC 9110 §7.6, RFC 9209 §2.3.16"))
}

/// The `Retry-After` of a lookup refused at the engine's bound. A stuck
/// `getaddrinfo` gives up after glibc's default `timeout:5` × `attempts:2`,
/// so by then the lookups ahead of it have freed their places.
pub const DNS_BUSY_RETRY_AFTER_SECS: u64 = 10;

/// The DNS lookup failed.
pub fn dns_failed(version: Version, host: &str, failure: DnsFailure) -> Response {
    let shown = crate::escape::escape(host.as_bytes());
    let mut spec = match failure {
        DnsFailure::NoSuchHost => ResponseSpec {
            version, status: Status::BadGateway, error: Some(ProxyError::DnsError), details: None,
            params: vec![("rcode", "NXDOMAIN".into())], fields: Vec::new(),
            body: "", rule: rule!("dns-error", "The destination name does not resolve; a gateway that cannot reach upstream answers 502.", "RFC 9209 §2.3.2, RFC 9110 §15.6.3"),
            after: After::Close,
        },
        DnsFailure::ServerFailure => ResponseSpec {
            version, status: Status::BadGateway, error: Some(ProxyError::DnsError), details: Some("the resolver failed".into()),
            params: Vec::new(), fields: Vec::new(),
            body: "", rule: rule!("dns-error", "The lookup failed; a gateway that cannot reach upstream answers 502.", "RFC 9209 §2.3.2, RFC 9110 §15.6.3"),
            after: After::Close,
        },
        DnsFailure::Timeout => ResponseSpec {
            version, status: Status::GatewayTimeout, error: Some(ProxyError::DnsTimeout), details: None,
            params: Vec::new(), fields: Vec::new(),
            body: "", rule: rule!("dns-timeout", "The lookup did not finish in time: a gateway timeout.", "RFC 9209 §2.3.1, RFC 9110 §15.6.5"),
            after: After::Close,
        },
        // 503, not dns_error's usual 502: nothing upstream failed; Burrow is
        // temporarily overloaded and the same request can succeed later.
        DnsFailure::Busy => ResponseSpec {
            version, status: Status::ServiceUnavailable, error: Some(ProxyError::DnsError), details: Some("too many DNS lookups in flight".into()),
            params: Vec::new(), fields: vec![("Retry-After", DNS_BUSY_RETRY_AFTER_SECS.to_string())],
            body: "", rule: rule!("dns-busy", "Burrow waits for only so many DNS answers at once, in all and per zone, so names that never answer cannot hold every lookup; past that bound a server that is temporarily overloaded answers 503 and may say when to retry.", "RFC 9110 §15.6.4, RFC 9110 §10.2.3, RFC 9209 §2.3.2"),
            after: After::Close,
        },
    };
    let body = match failure {
        DnsFailure::NoSuchHost => format!("Burrow could not find {shown}: the name does not exist in DNS.\nCheck the spelling of the address.\n"),
        DnsFailure::ServerFailure => format!("Burrow could not look up {shown}: the DNS resolver failed.\nCheck this machine's network and DNS settings.\n"),
        DnsFailure::Timeout => format!("Looking up {shown} took too long.\nCheck this machine's DNS settings, or try again.\n"),
        DnsFailure::Busy => format!("Burrow did not look up {shown}: it is already waiting for too many DNS answers, from this name's domain or in all.\nSome name lookups are not being answered; try again in {DNS_BUSY_RETRY_AFTER_SECS} s.\n"),
    };
    spec.body = &body;
    spec.build()
}

/// The TCP connect failed for every allowed address.
pub fn connect_failed(version: Version, authority: &str, failure: ConnectFailure) -> Response {
    let shown = crate::escape::escape(authority.as_bytes());
    match failure {
        ConnectFailure::Refused => build(version, Status::BadGateway, ProxyError::ConnectionRefused, None,
            &format!("{shown} refused the connection: nothing is listening on that port.\nCheck the port, or whether the service is running.\n"),
            rule!("connection-refused", "The destination refused the TCP connection; a gateway reports the bad upstream with 502.", "RFC 9209 §2.3.7, RFC 9110 §15.6.3")),
        ConnectFailure::TimedOut => build(version, Status::GatewayTimeout, ProxyError::ConnectionTimeout, None,
            &format!("{shown} did not answer the connection attempt in time.\nThe host may be down or a firewall may drop the traffic; try again later.\n"),
            rule!("connection-timeout", "The destination did not answer in time: a gateway timeout.", "RFC 9209 §2.3.4, RFC 9110 §15.6.5")),
        ConnectFailure::Unreachable => build(version, Status::BadGateway, ProxyError::DestinationIpUnroutable, None,
            &format!("There is no route to {shown}.\nCheck this machine's network connection.\n"),
            rule!("destination-unroutable", "The network reports no route to the destination.", "RFC 9209 §2.3.5, RFC 9110 §15.6.3")),
        ConnectFailure::Other => build(version, Status::BadGateway, ProxyError::ProxyInternalError, Some("connect failed".into()),
            &format!("Burrow could not open a connection to {shown}.\nSee the proxy's log for the error.\n"),
            rule!("connect-error", "A local error prevented the connection.", "RFC 9110 §15.6.3")),
    }
}

/// The origin failed to answer a forwarded request; `details` says what was wrong.
pub fn upstream_failed(
    version: Version,
    authority: &str,
    failure: UpstreamFailure,
    details: Option<&str>,
) -> Response {
    let shown = crate::escape::escape(authority.as_bytes());
    let details = details.map(str::to_string);
    match failure {
        UpstreamFailure::Closed => build(version, Status::BadGateway, ProxyError::ConnectionTerminated, details,
            &format!("{shown} closed the connection without answering.\nTry again; if it persists the site is failing.\n"),
            rule!("upstream-closed", "The origin closed the connection before a response.", "RFC 9209 §2.3.15, RFC 9110 §15.6.3")),
        UpstreamFailure::Protocol => build(version, Status::BadGateway, ProxyError::HttpProtocolError, details,
            &format!("{shown} sent a response that is not valid HTTP.\nThe site may not speak HTTP on that port.\n"),
            rule!("upstream-protocol-error", "The origin's response could not be parsed or framed; a proxy answers 502 rather than guess.", "RFC 9209 §2.3.19, RFC 9112 §6.3, RFC 9110 §15.6.3")),
        UpstreamFailure::TooLarge => build(version, Status::BadGateway, ProxyError::HttpResponseHeaderSectionSize, details,
            &format!("{shown} sent a response head larger than Burrow accepts.\nRaise limits.response_head_bytes or limits.response_headers if you trust the site.\n"),
            rule!("upstream-head-too-large", "The origin's response head exceeds the configured limits.", "RFC 9209 §2.3.20, RFC 9110 §15.6.3")),
        UpstreamFailure::Timeout => build(version, Status::GatewayTimeout, ProxyError::HttpResponseTimeout, details,
            &format!("{shown} did not send a response in time.\nTry again later.\n"),
            rule!("upstream-timeout", "The origin did not answer in time after the request was sent: a gateway timeout.", "RFC 9209 §2.3.22, RFC 9110 §15.6.5")),
    }
}

/// The request body cannot be read: malformed chunks, or the client closed
/// before the body was complete.
pub fn bad_body(version: Version, error: BodyError) -> Response {
    let what = error.describe();
    match error {
        BodyError::Chunked(_) => build(version, Status::BadRequest, ProxyError::HttpRequestError, Some(what.to_string()),
            &format!("The request body's chunked framing is invalid: {what}.\nAmbiguous framing is how requests get smuggled, so Burrow stops here.\n"),
            rule!("body-malformed", "Invalid chunked framing is an unrecoverable error: answer 400 and close.", "RFC 9112 §7.1, §6.3")),
        BodyError::Incomplete => build(version, Status::BadRequest, ProxyError::HttpRequestError, Some(what.to_string()),
            "The client stopped sending before the request body was complete.\nThe request was not completed upstream.\n",
            rule!("body-incomplete", "A message whose body ends before its framing says is incomplete; it is not forwarded as if complete.", "RFC 9112 §8")),
    }
}

/// The request body stopped arriving before it was complete.
pub fn body_timeout(version: Version) -> Response {
    build(version, Status::RequestTimeout, ProxyError::HttpRequestError, Some("request body timeout".into()),
        "The request body stopped arriving before it was complete, so Burrow closed the connection.\n",
        rule!("body-timeout", "A server may close a connection whose request does not complete in time, after a 408.", "RFC 9110 §15.5.9"))
}

/// The tunnel is open: the destination accepted the TCP connection.
pub fn established(version: Version, next_hop: std::net::SocketAddr) -> Response {
    ResponseSpec {
        version,
        status: Status::ConnectionEstablished,
        error: None,
        details: None,
        params: vec![("next-hop", next_hop.to_string())],
        fields: Vec::new(),
        body: "",
        rule: CONNECT_OK,
        after: After::Tunnel,
    }
    .build()
}

/// The request head did not arrive in time.
pub fn head_timeout() -> Response {
    build(
        Version::Http11,
        Status::RequestTimeout,
        ProxyError::HttpRequestError,
        Some("request head timeout".into()),
        "The request head did not arrive in time, so Burrow closed the connection.\n",
        rule!(
            "head-timeout",
            "A server may close a connection whose request does not complete in time, after a 408.",
            "RFC 9110 §15.5.9"
        ),
    )
}

/// Too many connections at once, from everyone or from this client.
pub fn over_capacity(refusal: crate::connection::Refusal) -> Response {
    match refusal {
        crate::connection::Refusal::Global => build(Version::Http11, Status::ServiceUnavailable, ProxyError::ConnectionLimitReached, None,
            "Burrow is serving as many connections as it is configured to (max_connections), and every one of them is busy.\nTry again in a moment, or raise max_connections.\n",
            rule!("connection-limit", "A server that is temporarily overloaded answers 503; idle connections are closed first to make room.", "RFC 9209 §2.3.11, RFC 9110 §15.6.4")),
        crate::connection::Refusal::PerClient => build(Version::Http11, Status::ServiceUnavailable, ProxyError::ConnectionLimitReached, Some("too many connections from this address".into()),
            "Your address already has as many busy connections as one client may (max_connections_per_client).\nTry again when some have finished, or raise max_connections_per_client.\n",
            rule!("client-connection-limit", "One client may hold only its share of the proxy, so it cannot keep everyone else out.", "RFC 9209 §2.3.11, RFC 9110 §15.6.4")),
    }
}
