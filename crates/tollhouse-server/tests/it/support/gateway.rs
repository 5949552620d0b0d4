//! How go-livepeer's gateway (and the builder-sdk) find the remote signer's endpoints from the
//! URL they are given, written from their code rather than from our proxy's routes:
//!
//! * go-livepeer `server/live_payment.go` (`RemoteSignerUrl.ResolveReference(&url.URL{Path:
//!   "/generate-live-payment"})`), `server/remote_signer.go` (`/sign-orchestrator-info`) and
//!   `cmd/livepeer/starter/starter.go` (`/discover-orchestrators`): Go's `net/url`
//!   `ResolveReference` with a reference that is an absolute path keeps the base's scheme and
//!   authority and replaces its path, query and fragment (RFC 3986 §5.2.2, "R.path starts with
//!   `/`").
//! * builder-sdk `dist/signer/server.js` `resolveRemoteUrl`: `target.pathname = remotePath` on a
//!   copy of the signer URL, which likewise drops the configured path.
//!
//! So a signer URL with a path (`https://th.example/signer`) reaches `https://th.example/…`.

/// The URL go-livepeer calls for `path` (one of the signer's absolute paths) when started with
/// `-remoteSignerUrl remote_signer_url`.
pub fn signer_endpoint(remote_signer_url: &str, path: &str) -> String {
    assert!(
        path.starts_with('/'),
        "go-livepeer's signer paths are absolute"
    );
    // url.Parse: scheme ":" "//" authority, then the path, query and fragment it replaces.
    let (scheme, rest) = remote_signer_url
        .split_once("://")
        .expect("an absolute URL");
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    format!("{scheme}://{}{path}", &rest[..authority_end])
}

#[test]
fn a_signer_url_path_is_replaced_as_by_go_resolve_reference() {
    for (base, expected) in [
        (
            "https://th.example/signer",
            "https://th.example/generate-live-payment",
        ),
        (
            "https://th.example/signer/",
            "https://th.example/generate-live-payment",
        ),
        (
            "http://127.0.0.1:8935",
            "http://127.0.0.1:8935/generate-live-payment",
        ),
        (
            "http://u:p@h:1/a/b?x=1#f",
            "http://u:p@h:1/generate-live-payment",
        ),
        (
            "https://th.example?q=1",
            "https://th.example/generate-live-payment",
        ),
    ] {
        assert_eq!(
            signer_endpoint(base, "/generate-live-payment"),
            expected,
            "{base}"
        );
    }
}
