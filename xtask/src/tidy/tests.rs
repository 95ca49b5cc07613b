//! The tidy rules on synthetic files: each planted decision fails at its path and line, and
//! what the rules exempt or do not mean passes.

use super::*;

/// The lists as the core spells them today, so these tests do not depend on the tree.
fn lists() -> Lists {
    let hop = [
        "connection",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
        "proxy-authorization",
    ];
    Lists {
        errors: vec!["dns_error".into(), "connection_refused".into()],
        hop_by_hop: hop
            .iter()
            .chain(ALWAYS_HOP_BY_HOP)
            .map(|h| h.to_string())
            .collect(),
    }
}

/// The violations `text` at `path` reports, as printed.
fn found(path: &str, text: &str) -> Vec<String> {
    check(path, text, &lists())
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Asserts that `text` at `path` reports exactly `expected`, in order.
fn fails(path: &str, text: &str, expected: &[&str]) {
    assert_eq!(found(path, text), expected, "\n{text}");
}

/// Asserts that `text` at `path` reports nothing.
fn passes(path: &str, text: &str) {
    fails(path, text, &[]);
}

/// A status decision at line 3 of an engine file.
const PLANTED: &str =
    "fn answer(status: u16) {\n    let x = 1;\n    if status == 407 {\n    }\n}\n";

#[test]
fn a_status_comparison_in_the_engine_fails_at_its_line() {
    fails(
        "proxy/src/x.rs",
        PLANTED,
        &["proxy/src/x.rs:3: `407` compared (status code)"],
    );
}

#[test]
fn tests_comments_and_docs_are_exempt() {
    passes(
        "proxy/src/x.rs",
        &format!("fn a() {{}}\n#[cfg(test)]\nmod tests {{\n{PLANTED}}}\n"),
    );
    passes(
        "proxy/src/x.rs",
        "// if status == 407 {\n/// 404 Not Found\n//! \"dns_error\"\n",
    );
    passes(
        "proxy/src/x.rs",
        "/* if status == 407 {\n \"Upgrade\" */ fn a() {}\n",
    );
    passes(
        "web/www/a.js",
        "// if (status === 407) {}\n/** \"404 Not Found\", `Upgrade` */",
    );
    passes("proxy/tests/x.rs", PLANTED);
    passes("desktop/src/log_store/tests.rs", PLANTED);
    fails(
        "desktop/src/log_store/tests_helper.rs",
        PLANTED,
        &["desktop/src/log_store/tests_helper.rs:3: `407` compared (status code)"],
    );
    passes("web/www/tests/a.js", "if (status === 407) {}");
    passes("web/www/notes.md", PLANTED);
    passes(
        "desktop/ui/index.html",
        "<!-- status 404, \"dns_error\", Connection: close -->",
    );
}

#[test]
fn core_and_xtask_are_not_checked() {
    passes("core/src/reject.rs", PLANTED);
    passes("xtask/src/serve.rs", PLANTED);
    passes("web/www/style.css", ".s404 { color: red }");
}

#[test]
fn status_codes() {
    fails(
        "desktop/ui/app.js",
        "  if (code < 300) return 'ok';",
        &["desktop/ui/app.js:1: `300` compared (status code)"],
    );
    fails(
        "web/www/a.js",
        "x = s >= 300 && 500 > s;",
        &[
            "web/www/a.js:1: `300` compared (status code)",
            "web/www/a.js:1: `500` compared (status code)",
        ],
    );
    fails(
        "desktop/src/a.rs",
        "f(|_| record.status != Some(407))",
        &["desktop/src/a.rs:1: `407` on a line about statuses (status code)"],
    );
    fails(
        "proxy/src/a.rs",
        "match n {\n    502 => x,\n}",
        &["proxy/src/a.rs:2: `502` compared (status code)"],
    );
    fails(
        "web/www/a.js",
        "if (s === \"407\") {}",
        &["web/www/a.js:1: `407` compared (status code)"],
    );
    fails(
        "web/www/a.js",
        "el.textContent = \"404 Not Found\";",
        &["web/www/a.js:1: `404` in the text \"404 Not Found\" (status code)"],
    );
    fails(
        "proxy/src/a.rs",
        "w(b\"HTTP/1.1 200 OK\\r\\n\");",
        &["proxy/src/a.rs:1: `200` in the text \"HTTP/1.1 200 OK\\r\\n\" (status code)"],
    );
    fails(
        "web/www/a.js",
        "const m = /^([1-5])\\d\\d /.exec(label);",
        &["web/www/a.js:1: /^([1-5])\\d\\d / reads a status (status code)"],
    );
}

#[test]
fn durations_sizes_and_addresses_are_not_statuses() {
    passes(
        "proxy/src/a.rs",
        "const T: Duration = Duration::from_millis(500);",
    );
    passes(
        "desktop/src/a.rs",
        "let s = LogStore::new(100);\nlet n = 1.500 + 0x200;",
    );
    passes(
        "web/www/a.js",
        "const a = '127.0.0.1:8080'; const w = { width: 200 }; x = \"#404\";",
    );
    passes(
        "web/www/a.js",
        "notice(\"the origin answers 200 with a body\");",
    );
    passes(
        "web/www/index.html",
        "<option value=\"nothing\">stop at the 200</option><canvas width=\"200\">",
    );
}

#[test]
fn proxy_status_errors() {
    fails(
        "web/www/a.js",
        "if (e === \"dns_error\") {}",
        &["web/www/a.js:1: `dns_error` (Proxy-Status error)"],
    );
    fails(
        "web/www/a.js",
        "const W = {\n  dns_error: 'x',\n};",
        &["web/www/a.js:2: `dns_error` (Proxy-Status error)"],
    );
    fails(
        "desktop/ui/index.html",
        "<option value=\"connection_refused\">",
        &["desktop/ui/index.html:1: `connection_refused` (Proxy-Status error)"],
    );
    passes("proxy/src/a.rs", "fn resolve_is_a_dns_error_later() {}");
}

#[test]
fn hop_by_hop_headers() {
    fails(
        "proxy/src/a.rs",
        "h.remove(\"Transfer-Encoding\");",
        &["proxy/src/a.rs:1: \"Transfer-Encoding\" (hop-by-hop header)"],
    );
    fails(
        "web/www/a.js",
        "if (n === 'upgrade') {}",
        &["web/www/a.js:1: \"upgrade\" (hop-by-hop header)"],
    );
    fails(
        "desktop/src/a.rs",
        "s.push_str(\"Connection: close\\r\\n\");",
        &["desktop/src/a.rs:1: \"Connection:\" (hop-by-hop header)"],
    );
    fails(
        "proxy/src/a.rs",
        "let h = \"Via: x\\r\\nkeep-alive : 5\";",
        &["proxy/src/a.rs:1: \"keep-alive:\" (hop-by-hop header)"],
    );
    fails(
        "web/www/a.js",
        "const h = { TE: 'trailers' };",
        &["web/www/a.js:1: `TE:` (hop-by-hop header)"],
    );
    fails(
        "web/www/a.js",
        "t = `${a}\\nUpgrade: ${b}`;",
        &["web/www/a.js:1: \"Upgrade:\" (hop-by-hop header)"],
    );
}

#[test]
fn words_that_are_not_header_names_pass() {
    passes(
        "proxy/src/a.rs",
        "let upgrade = 1;\nfn upgrade() {}\nlet open_connections = 2;\nstruct S { connection: u8 }",
    );
    passes(
        "proxy/src/a.rs",
        "debug!(\"tunnel without an upstream connection: {e}\");\nio::ErrorKind::ConnectionReset",
    );
    passes(
        "web/www/a.js",
        "let connection = f(); const t = 'Keep-alive idle'; x.te = 1;",
    );
    passes(
        "web/www/index.html",
        "<h3>Connection</h3><div class=\"upgrade\" id=\"connection\">",
    );
}

#[test]
fn quotes_inside_regexes_and_chars_do_not_hide_code() {
    fails(
        "desktop/ui/a.js",
        "s.replace(/[\"']/g, '');\nif (code < 300) {}",
        &["desktop/ui/a.js:2: `300` compared (status code)"],
    );
    fails(
        "proxy/src/a.rs",
        "let q = '\"';\nif status == 407 {}",
        &["proxy/src/a.rs:2: `407` compared (status code)"],
    );
}

#[test]
fn every_violation_is_reported_sorted() {
    let text = "x = 'te';\nif (status === 404) {}\ny = \"dns_error\";\n";
    fails(
        "web/www/b.js",
        text,
        &[
            "web/www/b.js:1: \"te\" (hop-by-hop header)",
            "web/www/b.js:2: `404` compared (status code)",
            "web/www/b.js:3: `dns_error` (Proxy-Status error)",
        ],
    );
    let report = report(&check("web/www/b.js", text, &lists()));
    assert!(report.contains("3 decision(s) outside core/"), "{report}");
    assert!(
        report.contains("Move the decision into burrow-core"),
        "{report}"
    );
}

#[test]
fn lists_are_read_from_core_sources() {
    let root = std::env::temp_dir().join(format!("burrow-tidy-{}", std::process::id()));
    fs::create_dir_all(root.join("core/src")).expect("temp dir");
    let missing = core_lists(&root).expect_err("no core sources yet");
    assert!(
        missing.contains("core/src/response.rs") && missing.contains("core_lists"),
        "{missing}"
    );
    let token = "pub fn token(self) -> &str {\n  // \"no\"\n  match self {\n A => \"dns_error\",\n }\n}\nfn words() { \"x\" }";
    fs::write(root.join("core/src/response.rs"), token).expect("write");
    let missing = core_lists(&root).expect_err("no forward.rs yet");
    assert!(missing.contains("core/src/forward.rs"), "{missing}");
    fs::write(
        root.join("core/src/forward.rs"),
        "const HOP_BY_HOP: &[&str] = &[\"Connection\", \"te\"];\nconst X: &str = \"y\";",
    )
    .expect("write");
    let lists = core_lists(&root);
    fs::remove_dir_all(&root).expect("remove temp dir");
    let lists = lists.expect("lists");
    assert_eq!(lists.errors, ["dns_error"]);
    assert_eq!(
        lists.hop_by_hop,
        ["connection", "te", "keep-alive", "proxy-connection"]
    );
}
