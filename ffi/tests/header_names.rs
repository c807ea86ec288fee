//! The names the header's comments mention are names the header declares. A comment that
//! says "return KS_STORE_OK" when the constant is KS_STORE_STATUS_OK compiles in nobody's
//! code and misleads everybody, so every `KS_*` / `ks_*` name in a comment must be declared
//! (a name ending in `_`, as in `KS_RESULT_*`, must start some declared name), and a result
//! code is never written by its short name (`NULL_PARAMETER` for `KS_RESULT_NULL_PARAMETER`).
//! The README's C section is held to the same rule (where the example servers' environment
//! variables, `KS_KEYS` and so on, count as declared).

use std::collections::BTreeSet;
use std::path::Path;

/// Splits C text into its comments and its code (string literals are kept as code; the
/// header has none that hold comment markers).
fn split_comments(text: &str) -> (String, String) {
    let (mut comments, mut code) = (String::new(), String::new());
    let mut rest = text;
    while !rest.is_empty() {
        let block = rest.find("/*");
        let line = rest.find("//");
        let start = match (block, line) {
            (Some(b), Some(l)) => b.min(l),
            (Some(b), None) => b,
            (None, Some(l)) => l,
            (None, None) => {
                code.push_str(rest);
                break;
            }
        };
        code.push_str(&rest[..start]);
        code.push('\n');
        let end = if rest[start..].starts_with("/*") {
            rest[start..].find("*/").map_or(rest.len(), |e| start + e + 2)
        } else {
            rest[start..].find('\n').map_or(rest.len(), |e| start + e)
        };
        comments.push_str(&rest[start..end]);
        comments.push('\n');
        rest = &rest[end..];
    }
    (comments, code)
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|t| !t.is_empty())
}

struct Header {
    declared: BTreeSet<String>,
    /// The result codes' short names: `NULL_PARAMETER` for `KS_RESULT_NULL_PARAMETER`.
    short_result_names: BTreeSet<String>,
}

fn header() -> (Header, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/koa_session.h");
    let text = std::fs::read_to_string(&path).expect("read include/koa_session.h");
    let (comments, code) = split_comments(&text);
    let declared: BTreeSet<String> = identifiers(&code).filter(|t| t.starts_with("ks_") || t.starts_with("KS_")).map(str::to_owned).collect();
    let short_result_names = declared.iter().filter_map(|n| n.strip_prefix("KS_RESULT_")).map(str::to_owned).collect();
    (Header { declared, short_result_names }, comments)
}

/// The names `text` mentions that the header does not declare, with why.
fn undeclared(h: &Header, text: &str) -> BTreeSet<String> {
    let mut bad = BTreeSet::new();
    for token in identifiers(text) {
        if token.starts_with("ks_") || token.starts_with("KS_") {
            let known = if token.ends_with('_') {
                h.declared.iter().any(|d| d.starts_with(token))
            } else {
                h.declared.contains(token)
            };
            if !known {
                bad.insert(format!("{token} (not declared)"));
            }
        } else if h.short_result_names.contains(token) && token.contains('_') {
            bad.insert(format!("{token} (write KS_RESULT_{token})"));
        }
    }
    bad
}

#[test]
fn header_comments_name_only_declared_names() {
    let (h, comments) = header();
    // The scan itself works: the header declares what every C user needs.
    for name in ["ks_result", "KS_RESULT_OK", "KS_STORE_STATUS_NOT_FOUND", "ks_store_get_fn", "ks_session_load", "KS_VERSION_STRING"] {
        assert!(h.declared.contains(name), "the header declares {name}");
    }
    let bad = undeclared(&h, &comments);
    assert!(bad.is_empty(), "include/koa_session.h's comments mention names it does not declare: {bad:?}");
}

#[test]
fn a_wrong_name_is_caught() {
    let (h, _) = header();
    let bad = undeclared(&h, "return KS_STORE_OK; on a miss ks_store_lookup(). Errors: NULL_PARAMETER, KS_RESULT_*.");
    let expected: BTreeSet<String> =
        ["KS_STORE_OK (not declared)", "ks_store_lookup (not declared)", "NULL_PARAMETER (write KS_RESULT_NULL_PARAMETER)"].map(String::from).into();
    assert_eq!(bad, expected);
}

/// The environment variables the example servers read (`"KS_KEYS"` and so on in their code):
/// the README names them next to the library's names.
fn example_server_variables() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut names = BTreeSet::new();
    for source in ["examples/c-server/server.c", "examples/cpp-server/server.cpp"] {
        let text = std::fs::read_to_string(root.join(source)).unwrap_or_else(|e| panic!("read {source}: {e}"));
        for quoted in text.split("\"KS_").skip(1) {
            if let Some(end) = quoted.find('"') {
                names.insert(format!("KS_{}", &quoted[..end]));
            }
        }
    }
    assert!(names.contains("KS_KEYS"), "the example servers read KS_KEYS");
    names
}

#[test]
fn readme_c_section_names_only_declared_names() {
    let (mut h, _) = header();
    h.declared.extend(example_server_variables());
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("read README.md");
    let start = readme.find("<!-- section:c -->").expect("README.md has a C section");
    let end = readme[start..].find("<!-- /section:c -->").map_or(readme.len(), |e| start + e);
    let bad = undeclared(&h, &readme[start..end]);
    assert!(bad.is_empty(), "README.md's C section mentions names neither include/koa_session.h nor an example server declares: {bad:?}");
}
