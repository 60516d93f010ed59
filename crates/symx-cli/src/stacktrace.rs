//! Raw stack text: JavaScript `Error.stack` as V8 (Chrome, Node, Edge), Firefox and Safari
//! print it, and Android tombstone / logcat native frames
//! (`#00 pc 000000000001a2b4  /data/app/.../libfoo.so (func+12) (BuildId: 1e17...)`).

/// One frame read from stack text. Line and column are 1-based, as printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFrame {
    pub function: Option<String>,
    pub url: String,
    pub line: u32,
    pub column: u32,
}

/// A native frame of a tombstone: a module-relative pc in a module named by path and build id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeTextFrame {
    /// The frame number (`#00` is the crashing frame: its pc is exact).
    pub index: u32,
    pub pc: u64,
    pub module: String,
    pub build_id: Option<String>,
}

/// A line of stack text: a frame, or text kept as is (the message, `Caused by`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackLine {
    Frame { raw: String, frame: TextFrame },
    Native { raw: String, frame: NativeTextFrame },
    Text(String),
}

/// `#00 pc 000000000001a2b4  /path/libfoo.so (func+12) (BuildId: abcd...)`, possibly after a
/// logcat prefix (`... DEBUG   :     #00 pc ...`).
fn tombstone(line: &str) -> Option<NativeTextFrame> {
    let at = line.find('#')?;
    let mut words = line[at + 1..].split_whitespace();
    let index = words.next()?.parse().ok()?;
    if words.next()? != "pc" {
        return None;
    }
    let pc = u64::from_str_radix(words.next()?, 16).ok()?;
    let module = words.next()?.to_owned();
    let build_id = line
        .find("(BuildId: ")
        .map(|i| &line[i + "(BuildId: ".len()..])
        .and_then(|rest| rest.split(')').next())
        .map(|id| id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty());
    Some(NativeTextFrame {
        index,
        pc,
        module,
        build_id,
    })
}

/// Splits `url:line:col` (the URL may itself contain colons).
fn location(s: &str) -> Option<(String, u32, u32)> {
    let (rest, col) = s.rsplit_once(':')?;
    let (url, line) = rest.rsplit_once(':')?;
    let line = line.trim().parse().ok()?;
    let col = col.trim().parse().ok()?;
    (!url.is_empty()).then(|| (url.to_owned(), line, col))
}

/// V8: `at fn (url:1:2)`, `at url:1:2`, `at async fn (url:1:2)`, `at new C (url:1:2)`,
/// `at obj.fn [as alias] (url:1:2)`.
fn v8(line: &str) -> Option<TextFrame> {
    let rest = line.trim_start().strip_prefix("at ")?.trim();
    if let Some(open) = rest.rfind(" (")
        && rest.ends_with(')')
    {
        let inner = &rest[open + 2..rest.len() - 1];
        // `eval at f (url:1:2), <anonymous>:3:4`: take the outer location.
        let inner = inner.rsplit(", ").next().unwrap_or(inner);
        let (url, l, c) = location(inner)?;
        let mut name = rest[..open].trim();
        name = name.strip_prefix("async ").unwrap_or(name);
        if let Some(i) = name.find(" [as ") {
            name = &name[..i];
        }
        return Some(TextFrame {
            function: (!name.is_empty()).then(|| name.to_owned()),
            url,
            line: l,
            column: c,
        });
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let (url, l, c) = location(rest)?;
    Some(TextFrame {
        function: None,
        url,
        line: l,
        column: c,
    })
}

/// Firefox and Safari: `fn@url:1:2`, `@url:1:2`, `global code@url:1:2`.
fn gecko(line: &str) -> Option<TextFrame> {
    let t = line.trim();
    let at = t.find('@')?;
    let (name, loc) = (&t[..at], &t[at + 1..]);
    if name.contains(' ') && name != "global code" && !name.starts_with("async ") {
        return None;
    }
    let (url, l, c) = location(loc)?;
    Some(TextFrame {
        function: (!name.is_empty()).then(|| name.to_owned()),
        url,
        line: l,
        column: c,
    })
}

pub fn parse(text: &str) -> Vec<StackLine> {
    text.lines()
        .map(|raw| {
            if let Some(frame) = tombstone(raw) {
                return StackLine::Native {
                    raw: raw.to_owned(),
                    frame,
                };
            }
            match v8(raw).or_else(|| gecko(raw)) {
                Some(frame) => StackLine::Frame {
                    raw: raw.to_owned(),
                    frame,
                },
                None => StackLine::Text(raw.to_owned()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<TextFrame> {
        parse(text)
            .into_iter()
            .filter_map(|l| match l {
                StackLine::Frame { frame, .. } => Some(frame),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn v8_stacks() {
        let f = frames(
            "TypeError: x is undefined\n    at a.b [as c] (https://h.io/app.min.js:1:234)\n    at https://h.io/app.min.js:2:5\n    at async Promise.all (index 0)\n    at new Foo (http://localhost:8080/x.js?v=1:10:20)",
        );
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].function.as_deref(), Some("a.b"));
        assert_eq!(
            (f[0].url.as_str(), f[0].line, f[0].column),
            ("https://h.io/app.min.js", 1, 234)
        );
        assert_eq!(f[1].function, None);
        assert_eq!(f[2].function.as_deref(), Some("new Foo"));
        assert_eq!(f[2].url, "http://localhost:8080/x.js?v=1");
    }

    #[test]
    fn firefox_and_safari_stacks() {
        let f = frames(
            "r@https://h.io/app.min.js:1:99\n@https://h.io/app.min.js:1:5\nglobal code@https://h.io/a.js:3:1",
        );
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].function.as_deref(), Some("r"));
        assert_eq!(f[1].function, None);
        assert_eq!((f[2].line, f[2].column), (3, 1));
    }

    #[test]
    fn tombstone_frames() {
        let lines = parse(
            "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0\n\
             backtrace:\n\
             \x20     #00 pc 000000000001a2b4  /data/app/~~x==/com.a-1/lib/arm64/libfoo.so (crash+20) (BuildId: 1E17ab)\n\
             11-22 08:00:00.000 F DEBUG   :       #01 pc 0000000000000abc  /system/lib64/libc.so\n",
        );
        let natives: Vec<&NativeTextFrame> = lines
            .iter()
            .filter_map(|l| match l {
                StackLine::Native { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(natives.len(), 2);
        assert_eq!((natives[0].index, natives[0].pc), (0, 0x1a2b4));
        assert_eq!(natives[0].build_id.as_deref(), Some("1e17ab"));
        assert!(natives[0].module.ends_with("libfoo.so"));
        assert_eq!(
            (
                natives[1].index,
                natives[1].pc,
                natives[1].build_id.as_deref()
            ),
            (1, 0xabc, None)
        );
    }

    #[test]
    fn prose_is_kept_as_text() {
        let lines = parse("Error: boom at 12:30\nsomething else");
        assert!(lines.iter().all(|l| matches!(l, StackLine::Text(_))));
    }
}
