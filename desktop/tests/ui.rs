//! The page's own modules under Node's test runner (`desktop/tests/ui/*.mjs`):
//! the parts of the page that hold no DOM, such as the row store and its
//! budgets. Needs `node` (18 or later) in PATH; `cargo xtask install` puts it there.

use std::path::Path;
use std::process::Command;

#[test]
fn page_modules_pass_their_node_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("ui");
    // Files, not the directory: Node 21+ reads `--test` arguments as globs.
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("reading desktop/tests/ui")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.mjs in {}", dir.display());
    let out = Command::new("node")
        .arg("--test")
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!("running `node --test` (is Node 18+ installed and in PATH?): {e}")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test {} failed:\n{text}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("# pass "), "no tests ran:\n{text}");
}
