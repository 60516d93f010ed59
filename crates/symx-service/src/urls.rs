//! How a frame's URL finds the minified file it ran: exact URL, else path, else a shorter
//! path suffix, the way datadog-ci's `--minified-path-prefix` uploads are meant to match.

/// The parts of a minified URL that matter for matching: the scheme-less host (if any) and the
/// path, always starting with `/`. Query strings and fragments are dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlKey {
    pub host: Option<String>,
    pub path: String,
}

impl UrlKey {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        let no_frag = raw.split('#').next().unwrap_or(raw);
        let no_query = no_frag.split('?').next().unwrap_or(no_frag);
        if let Some((scheme, rest)) = no_query.split_once("://")
            && !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            return Self {
                host: (!host.is_empty()).then(|| host.to_ascii_lowercase()),
                path: normalize_path(path),
            };
        }
        // `//cdn.example.com/app.js` (protocol-relative).
        if let Some(rest) = no_query.strip_prefix("//") {
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            return Self {
                host: Some(host.to_ascii_lowercase()),
                path: normalize_path(path),
            };
        }
        // `~/static/app.js` (Sentry's "any host") and plain paths.
        let path = no_query.strip_prefix('~').unwrap_or(no_query);
        Self {
            host: None,
            path: normalize_path(path),
        }
    }

    /// The key of the exact-URL index: host and path.
    pub fn full(&self) -> Option<String> {
        self.host.as_ref().map(|h| format!("{h}{}", self.path))
    }

    /// The path and its shorter suffixes at `/` boundaries, longest first:
    /// `/a/b/c.js`, `/b/c.js`, `/c.js`.
    pub fn path_suffixes(&self) -> impl Iterator<Item = &str> {
        let p = self.path.as_str();
        let mut next = Some(0usize);
        std::iter::from_fn(move || {
            let at = next?;
            let rest = &p[at..];
            next = rest[1..].find('/').map(|i| at + 1 + i);
            Some(rest)
        })
    }
}

fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    // Collapse `//` and drop `./` segments; `..` is kept (it is part of how the file was named).
    for seg in path.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The file name of a URL path (`main.min.js`).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Why a frame's URL can never have a source map (runtime internals, engine placeholders,
/// browser extensions and pages), or `None` for a URL an artifact may match. Such frames are
/// not looked up and are answered `skipped`, not `missing_artifact`.
pub fn never_mapped(url: &str) -> Option<&'static str> {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    // Placeholders engines print instead of a file.
    if matches!(
        lower.as_str(),
        "<anonymous>" | "anonymous" | "<unknown>" | "native" | "[native code]" | "eval code"
    ) || lower.starts_with("<anonymous>")
    {
        return Some("the frame is engine code (no file), which no source map describes");
    }
    if lower.starts_with("node:") {
        return Some("the frame is Node.js runtime code (`node:`), which no upload describes");
    }
    const SCHEMES: [&str; 9] = [
        "chrome-extension:",
        "moz-extension:",
        "safari-extension:",
        "safari-web-extension:",
        "ms-browser-extension:",
        "webkit-masked-url:",
        "chrome:",
        "about:",
        "edge:",
    ];
    if SCHEMES.iter().any(|s| lower.starts_with(s)) {
        return Some("the frame is browser or extension code, which no upload describes");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_paths_and_prefixes() {
        let k = UrlKey::parse("https://CDN.example.com/static/js/main.js?v=3#x");
        assert_eq!(k.host.as_deref(), Some("cdn.example.com"));
        assert_eq!(k.path, "/static/js/main.js");
        assert_eq!(
            k.full().as_deref(),
            Some("cdn.example.com/static/js/main.js")
        );
        let k = UrlKey::parse("static/./js//main.js");
        assert_eq!((k.host, k.path.as_str()), (None, "/static/js/main.js"));
        assert_eq!(UrlKey::parse("~/app.js").path, "/app.js");
        assert_eq!(
            UrlKey::parse("//cdn.x/app.js").host.as_deref(),
            Some("cdn.x")
        );
        assert_eq!(UrlKey::parse("webpack:///src/a.js").path, "/src/a.js");
    }

    #[test]
    fn suffixes_longest_first() {
        let k = UrlKey::parse("/a/b/c.js");
        let v: Vec<&str> = k.path_suffixes().collect();
        assert_eq!(v, ["/a/b/c.js", "/b/c.js", "/c.js"]);
        assert_eq!(file_name("/a/b/c.js"), "c.js");
    }

    #[test]
    fn runtime_frames_are_never_mapped() {
        for url in [
            "node:internal/process/task_queues",
            "node:events",
            "<anonymous>",
            "native",
            "[native code]",
            "chrome-extension://abcdef/content.js",
            "moz-extension://1234/x.js",
            "webkit-masked-url://hidden/",
        ] {
            assert!(never_mapped(url).is_some(), "{url}");
        }
        for url in [
            "https://cdn.example.com/app.min.js",
            "/static/js/app.js",
            "app:///index.android.bundle",
            "index.android.bundle",
            "internal/app.js",
            "",
        ] {
            assert!(never_mapped(url).is_none(), "{url}");
        }
    }
}
