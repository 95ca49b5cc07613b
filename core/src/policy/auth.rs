//! Basic proxy authentication (RFC 7617): reading Proxy-Authorization and
//! comparing it with the configured credentials in constant time.

use base64::Engine as _;

use crate::head::{Field, RequestHead};
use crate::settings::Credentials;

/// The result of checking Proxy-Authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthCheck {
    /// No authentication is configured, or the credentials match.
    Ok,
    /// The field is missing.
    Missing,
    /// The field is present but wrong or unreadable.
    Wrong,
}

/// Checks Basic Proxy-Authorization (RFC 7617) in constant time.
pub fn check_auth(expected: Option<&Credentials>, head: &RequestHead) -> AuthCheck {
    let Some(expected) = expected else {
        return AuthCheck::Ok;
    };
    let value = match head.single("proxy-authorization") {
        Field::One(v) => v,
        Field::Absent => return AuthCheck::Missing,
        Field::Repeated => return AuthCheck::Wrong,
    };
    let Some((scheme, token)) = value
        .split_at_checked(5)
        .filter(|(_, t)| t.first() == Some(&b' '))
    else {
        return AuthCheck::Wrong;
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return AuthCheck::Wrong;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim_ascii()) else {
        return AuthCheck::Wrong;
    };
    let want = format!("{}:{}", expected.user, expected.password);
    if constant_time_eq(&decoded, want.as_bytes()) {
        AuthCheck::Ok
    } else {
        AuthCheck::Wrong
    }
}

/// Compares without an early exit, so timing does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{parse, HeadParse};

    fn head_with(auth: &str) -> RequestHead {
        let raw = format!("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n{auth}\r\n");
        match parse(raw.as_bytes(), &Default::default()) {
            HeadParse::Complete(h, _) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn basic_auth() {
        let creds = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        // base64("alice:s3cret") = YWxpY2U6czNjcmV0
        assert_eq!(check_auth(None, &head_with("")), AuthCheck::Ok);
        assert_eq!(check_auth(Some(&creds), &head_with("")), AuthCheck::Missing);
        for (field, want) in [
            (
                "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Ok,
            ),
            (
                "Proxy-Authorization: bAsIc YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Ok,
            ),
            (
                "Proxy-Authorization: Basic YWxpY2U6czNjcmV1\r\n",
                AuthCheck::Wrong,
            ),
            ("Proxy-Authorization: Basic !!!\r\n", AuthCheck::Wrong),
            (
                "Proxy-Authorization: YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Wrong,
            ),
            (
                "Proxy-Authorization: Bearer YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Wrong,
            ),
        ] {
            assert_eq!(check_auth(Some(&creds), &head_with(field)), want, "{field}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
