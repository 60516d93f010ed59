//! Raw stack text, as people paste it (the `symx symbolicate` CLI and the console read it with
//! these parsers): JavaScript `Error.stack` as V8 (Chrome, Node, Edge), Firefox and Safari
//! print it; Android tombstone / logcat native frames
//! (`#00 pc 000000000001a2b4  /data/app/.../libfoo.so (func+12) (BuildId: 1e17...)`); Dart
//! "non-symbolic" stack traces of Flutter release builds (`build_id: '...'` then
//! `#00 abs ... virt ... _kDartIsolateSnapshotInstructions+0x...`); and Apple crash reports,
//! as `.crash` text (thread backtraces plus the `Binary Images:` section) or `.ips` JSON.

/// One frame read from stack text. Line and column are 1-based, as printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFrame {
    pub function: Option<String>,
    pub url: String,
    pub line: u32,
    pub column: u32,
    /// Hermes printed `address at bundle:1:<offset>`: `column` is a 0-based bytecode offset.
    pub bytecode: bool,
}

/// A native frame: a module-relative pc in a module named by path and code id (ELF build id,
/// Mach-O UUID in hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeTextFrame {
    /// The frame number within its thread.
    pub index: u32,
    pub pc: u64,
    pub module: String,
    pub build_id: Option<String>,
    /// The pc is the faulting (or current) instruction, not a return address: frame 0 of a
    /// thread.
    pub exact: bool,
}

/// A JVM frame line: `\tat a.b.c(SourceFile:12)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvmTextFrame {
    /// What precedes `at` (kept when printing).
    pub indent: String,
    pub class: String,
    pub method: String,
    pub file: Option<String>,
    /// 1-based; 0 when the frame has none (`Unknown Source`, `Native Method`).
    pub line: u32,
}

/// A JVM throwable line: `Exception in thread "main" a.b: msg`, `Caused by: a.b: msg`,
/// `\tSuppressed: a.b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvmTextThrowable {
    /// What precedes the class (`Caused by: `, `\tSuppressed: `, `Exception in thread "x" `).
    pub prefix: String,
    pub class: String,
    pub message: Option<String>,
}

/// A line of stack text: a frame, or text kept as is (the message, `Caused by`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackLine {
    Frame {
        raw: String,
        frame: TextFrame,
    },
    Native {
        raw: String,
        frame: NativeTextFrame,
    },
    Jvm {
        raw: String,
        frame: JvmTextFrame,
    },
    Throwable {
        raw: String,
        throwable: JvmTextThrowable,
    },
    Text(String),
}

fn is_java_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '-')
        })
}

/// `\tat a.b.c(SourceFile:12)`, `at a.b.c(Native Method)`, `at a.b.c(:4)`,
/// `at java.base/java.lang.Thread.run(Thread.java:833)` (module prefix dropped).
fn jvm_frame(line: &str) -> Option<JvmTextFrame> {
    let at = line.find("at ")?;
    let indent = &line[..at];
    if !indent.chars().all(char::is_whitespace) || indent.is_empty() {
        return None;
    }
    let rest = line[at + 3..].trim_end();
    let open = rest.find('(')?;
    let inner = rest[open + 1..].strip_suffix(')')?;
    let mut qualified = &rest[..open];
    if let Some(slash) = qualified.rfind('/') {
        qualified = &qualified[slash + 1..];
    }
    let (class, method) = qualified.rsplit_once('.')?;
    if !is_java_name(class) || method.is_empty() || method.contains(' ') {
        return None;
    }
    let (file, line_no) = match inner.rsplit_once(':') {
        Some((f, l)) => match l.trim().parse::<u32>() {
            Ok(n) => (f, n),
            Err(_) => (inner, 0),
        },
        None => (inner, 0),
    };
    let file = (!file.is_empty() && file != "Unknown Source" && file != "Native Method")
        .then(|| file.to_owned());
    Some(JvmTextFrame {
        indent: indent.to_owned(),
        class: class.to_owned(),
        method: method.to_owned(),
        file,
        line: line_no,
    })
}

/// A throwable line. Plain `a.b.C: message` lines count only as the first line of a trace
/// (`first`); `Caused by:` and `Suppressed:` lines anywhere.
fn jvm_throwable(line: &str, first: bool) -> Option<JvmTextThrowable> {
    let trimmed = line.trim_start();
    let lead = &line[..line.len() - trimmed.len()];
    let (prefix, rest) = if let Some(r) = trimmed.strip_prefix("Caused by: ") {
        (format!("{lead}Caused by: "), r)
    } else if let Some(r) = trimmed.strip_prefix("Suppressed: ") {
        (format!("{lead}Suppressed: "), r)
    } else if let Some(r) = trimmed.strip_prefix("Exception in thread \"") {
        let end = r.find("\" ")?;
        (
            format!("{lead}Exception in thread \"{}\" ", &r[..end]),
            &r[end + 2..],
        )
    } else if first && lead.is_empty() {
        (String::new(), trimmed)
    } else {
        return None;
    };
    let (class, message) = match rest.split_once(": ") {
        Some((c, m)) => (c, Some(m.to_owned())),
        None => (rest.trim_end_matches(':'), None),
    };
    (is_java_name(class) && class.contains('.')).then(|| JvmTextThrowable {
        prefix,
        class: class.to_owned(),
        message,
    })
}

/// A Java stack trace: some `at` frame lines and a throwable line somewhere.
fn is_java(text: &str) -> bool {
    text.lines().any(|l| jvm_frame(l).is_some())
        && text
            .lines()
            .enumerate()
            .any(|(i, l)| jvm_throwable(l, i == 0).is_some())
}

fn java(text: &str) -> Vec<StackLine> {
    let mut first = true;
    // Whether the previous line was indented (a frame, `... N more`): a header at the start
    // of a line after it starts the next trace, when traces are pasted back to back without
    // a blank line between them.
    let mut after_indented = false;
    text.lines()
        .map(|raw| {
            let indented = raw.starts_with([' ', '\t']);
            let follows_trace = std::mem::replace(&mut after_indented, indented) && !indented;
            let is_first = std::mem::take(&mut first) || raw.trim().is_empty() || follows_trace;
            if let Some(frame) = jvm_frame(raw) {
                return StackLine::Jvm {
                    raw: raw.to_owned(),
                    frame,
                };
            }
            // A new trace may start after a blank line (several traces in one file).
            if let Some(throwable) = jvm_throwable(raw, is_first) {
                return StackLine::Throwable {
                    raw: raw.to_owned(),
                    throwable,
                };
            }
            first = raw.trim().is_empty();
            StackLine::Text(raw.to_owned())
        })
        .collect()
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
        exact: index == 0,
    })
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// A Dart non-symbolic trace: the header says `build_id: '<hex>'` and has `#NN abs` frames.
fn is_dart(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("build_id: '"))
        && text.lines().any(|l| dart_frame(l, None, None).is_some())
}

/// `#00 abs 000000723d6346d7 virt 00000000001ed6d7 _kDartIsolateSnapshotInstructions+0x1e26d7`
/// (older Dart versions omit `virt`: then `abs - isolate_dso_base`).
fn dart_frame(
    line: &str,
    build_id: Option<&str>,
    dso_base: Option<u64>,
) -> Option<NativeTextFrame> {
    let t = line.trim_start().strip_prefix('#')?;
    let mut words = t.split_whitespace();
    let index = words.next()?.parse().ok()?;
    if words.next()? != "abs" {
        return None;
    }
    let abs = hex(words.next()?)?;
    let mut next = words.next();
    let virt = if next == Some("virt") {
        let v = hex(words.next()?)?;
        next = words.next();
        Some(v)
    } else {
        None
    };
    let pc = virt.or_else(|| dso_base.and_then(|b| abs.checked_sub(b)))?;
    let symbol = next.unwrap_or_default();
    Some(NativeTextFrame {
        index,
        pc,
        module: symbol.split('+').next().unwrap_or(symbol).to_owned(),
        build_id: build_id.map(str::to_owned),
        exact: index == 0,
    })
}

fn dart(text: &str) -> Vec<StackLine> {
    let mut build_id: Option<String> = None;
    let mut dso_base: Option<u64> = None;
    text.lines()
        .map(|raw| {
            let t = raw.trim();
            if let Some(rest) = t.strip_prefix("build_id: '") {
                build_id = rest
                    .split('\'')
                    .next()
                    .map(|b| b.to_ascii_lowercase())
                    .filter(|b| !b.is_empty());
            }
            // `isolate_dso_base: 723d452000, vm_dso_base: 723d452000`
            if let Some(rest) = t.strip_prefix("isolate_dso_base: ") {
                dso_base = rest.split(',').next().and_then(hex);
            }
            match dart_frame(raw, build_id.as_deref(), dso_base) {
                Some(frame) => StackLine::Native {
                    raw: raw.to_owned(),
                    frame,
                },
                None => StackLine::Text(raw.to_owned()),
            }
        })
        .collect()
}

/// A binary image of an Apple crash report: load address and UUID (32 hex digits).
#[derive(Clone, Debug)]
struct Image {
    base: u64,
    uuid: String,
}

/// `0x104800000 - 0x104803fff +libapp.dylib arm64  <4c4c44a2555531...> /path/libapp.dylib`
/// (the name may hold spaces; the UUID may be dashed).
fn binary_image(line: &str) -> Option<(String, Image)> {
    let t = line.trim();
    let (range, rest) = t.split_once(" - ").or_else(|| t.split_once('-'))?;
    let base = hex(range.trim())?;
    let rest = rest.trim_start();
    let end_at = rest.find(char::is_whitespace)?;
    hex(&rest[..end_at])?;
    let rest = &rest[end_at..];
    let open = rest.find('<')?;
    let close = rest[open..].find('>')? + open;
    let uuid: String = rest[open + 1..close]
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let (name, _arch) = rest[..open].trim().rsplit_once(char::is_whitespace)?;
    let name = name.trim().trim_start_matches('+').to_owned();
    (uuid.len() == 32).then(|| {
        (
            name,
            Image {
                base,
                uuid: uuid.to_ascii_lowercase(),
            },
        )
    })
}

/// `0   libapp.dylib      0x0000000104800598 geo::farthest + 40` in a thread backtrace.
fn apple_frame(line: &str, images: &[(String, Image)]) -> Option<NativeTextFrame> {
    let t = line.trim();
    let (index, rest) = t.split_once(char::is_whitespace)?;
    let index: u32 = index.parse().ok()?;
    // The address is the first `0x` word after the image name (spaces or a tab before it).
    let at = rest
        .match_indices("0x")
        .map(|(i, _)| i)
        .find(|&i| i > 0 && rest[..i].ends_with(char::is_whitespace))?;
    let name = rest[..at].trim();
    let addr_text = rest[at..].split_whitespace().next()?;
    let addr = hex(addr_text)?;
    let (_, image) = images.iter().find(|(n, _)| n == name)?;
    Some(NativeTextFrame {
        index,
        pc: addr.checked_sub(image.base)?,
        module: name.to_owned(),
        build_id: Some(image.uuid.clone()),
        exact: index == 0,
    })
}

fn apple_crash(text: &str) -> Vec<StackLine> {
    let mut images = Vec::new();
    let mut in_images = false;
    for line in text.lines() {
        if line.trim_start().starts_with("Binary Images:") {
            in_images = true;
            continue;
        }
        if in_images {
            match binary_image(line) {
                Some(image) => images.push(image),
                None if line.trim().is_empty() => {}
                None => in_images = false,
            }
        }
    }
    let mut in_images = false;
    text.lines()
        .map(|raw| {
            if raw.trim_start().starts_with("Binary Images:") {
                in_images = true;
            }
            match (!in_images).then(|| apple_frame(raw, &images)).flatten() {
                Some(frame) => StackLine::Native {
                    raw: raw.to_owned(),
                    frame,
                },
                None => StackLine::Text(raw.to_owned()),
            }
        })
        .collect()
}

/// An `.ips` report (macOS 12 / iOS 15 and later): a JSON header line, then a JSON body with
/// `usedImages` and `threads[].frames[]` (`imageIndex`, `imageOffset`). Printed back as the
/// `.crash` text of its threads.
fn apple_ips(text: &str) -> Option<Vec<StackLine>> {
    use serde_json::Value;
    let (head, body) = text.trim_start().split_once('\n')?;
    let head: Value = serde_json::from_str(head).ok()?;
    let body: Value = serde_json::from_str(body).ok()?;
    let images = body.get("usedImages")?.as_array()?;
    let threads = body.get("threads")?.as_array()?;
    let mut out = Vec::new();
    let name_of =
        |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    for key in ["app_name", "app_version", "os_version", "bug_type"] {
        if let Some(v) = head.get(key).and_then(Value::as_str) {
            out.push(StackLine::Text(format!("{key}: {v}")));
        }
    }
    for (ti, thread) in threads.iter().enumerate() {
        let crashed = thread.get("triggered").and_then(Value::as_bool) == Some(true);
        out.push(StackLine::Text(String::new()));
        let queue = thread
            .get("queue")
            .and_then(Value::as_str)
            .map(|q| format!(":: Dispatch queue: {q}"))
            .unwrap_or_default();
        out.push(StackLine::Text(format!(
            "Thread {ti}{}:{queue}",
            if crashed { " Crashed" } else { "" }
        )));
        let frames = thread.get("frames").and_then(Value::as_array);
        for (fi, f) in frames.into_iter().flatten().enumerate() {
            let image = f
                .get("imageIndex")
                .and_then(Value::as_u64)
                .and_then(|i| images.get(usize::try_from(i).ok()?));
            let offset = f.get("imageOffset").and_then(Value::as_u64).unwrap_or(0);
            let (name, base, uuid) = match image {
                Some(img) => (
                    name_of(img, "name"),
                    img.get("base").and_then(Value::as_u64).unwrap_or(0),
                    name_of(img, "uuid").replace('-', "").to_ascii_lowercase(),
                ),
                None => ("???".to_owned(), 0, String::new()),
            };
            let symbol = match (
                f.get("symbol").and_then(Value::as_str),
                f.get("symbolLocation").and_then(Value::as_u64),
            ) {
                (Some(s), Some(l)) => format!("{s} + {l}"),
                (Some(s), None) => s.to_owned(),
                _ => format!("0x{base:x} + {offset}"),
            };
            let raw = format!("{fi:<4}{name:<30}\t0x{:016x} {symbol}", base + offset);
            let index = u32::try_from(fi).unwrap_or(u32::MAX);
            if image.is_none() || uuid.len() != 32 {
                out.push(StackLine::Text(raw));
                continue;
            }
            out.push(StackLine::Native {
                raw,
                frame: NativeTextFrame {
                    index,
                    pc: offset,
                    module: name,
                    build_id: Some(uuid),
                    exact: index == 0,
                },
            });
        }
    }
    Some(out)
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
        // Hermes bytecode: `at fn (address at index.android.bundle:1:1234)`.
        let (inner, bytecode) = match inner.strip_prefix("address at ") {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
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
            bytecode,
        });
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let (url, l, c) = location(rest)?;
    Some(TextFrame {
        function: None,
        url,
        line: l,
        column: c,
        bytecode: false,
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
        bytecode: false,
    })
}

/// True for an Apple `.ips` report (JSON, but not a symbolicate request).
/// Where a line's answer is: the stack trace and the frame within it that a frame line went
/// to, the stack trace a throwable line opened (no frame), or nothing (text).
pub type Slot = Option<(usize, Option<usize>)>;

/// One stack trace of parsed lines: its throwable (when a JVM throwable line opened it) and
/// its frame lines, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct TraceLines<'a> {
    pub exception: Option<&'a JvmTextThrowable>,
    pub frames: Vec<&'a StackLine>,
}

/// Parsed lines as stack traces: each JVM throwable (`Caused by:`, `Suppressed:`) starts one;
/// frames before any throwable form the first. Also, per line, its [`Slot`].
pub fn group(lines: &[StackLine]) -> (Vec<TraceLines<'_>>, Vec<Slot>) {
    let mut traces: Vec<TraceLines<'_>> = Vec::new();
    let mut slots = Vec::with_capacity(lines.len());
    for line in lines {
        match line {
            StackLine::Text(_) => slots.push(None),
            StackLine::Throwable { throwable, .. } => {
                traces.push(TraceLines {
                    exception: Some(throwable),
                    frames: Vec::new(),
                });
                slots.push(Some((traces.len() - 1, None)));
            }
            _ => {
                if traces.is_empty() {
                    traces.push(TraceLines {
                        exception: None,
                        frames: Vec::new(),
                    });
                }
                let t = traces.len() - 1;
                traces[t].frames.push(line);
                slots.push(Some((t, Some(traces[t].frames.len() - 1))));
            }
        }
    }
    (traces, slots)
}

pub fn is_apple_ips(text: &str) -> bool {
    apple_ips(text).is_some()
}

pub fn parse(text: &str) -> Vec<StackLine> {
    if let Some(lines) = apple_ips(text) {
        return lines;
    }
    if text
        .lines()
        .any(|l| l.trim_start().starts_with("Binary Images:"))
    {
        return apple_crash(text);
    }
    if is_dart(text) {
        return dart(text);
    }
    if is_java(text) {
        return java(text);
    }
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

    /// Each throwable opens a stack trace; frames before any throwable form the first; text
    /// lines have no slot.
    #[test]
    fn lines_group_into_stack_traces() {
        let lines = parse(
            "java.lang.IllegalStateException: boom\n\tat a.b.c(SourceFile:12)\nCaused by: java.lang.NullPointerException\n\tat a.b.d(Unknown Source)\n\tat a.b.e(SourceFile:3)\n\t... 4 more",
        );
        let (traces, slots) = group(&lines);
        assert_eq!(traces.len(), 2);
        assert_eq!(
            traces[0].exception.map(|t| t.class.as_str()),
            Some("java.lang.IllegalStateException")
        );
        assert_eq!((traces[0].frames.len(), traces[1].frames.len()), (1, 2));
        assert_eq!(
            slots,
            vec![
                Some((0, None)),
                Some((0, Some(0))),
                Some((1, None)),
                Some((1, Some(0))),
                Some((1, Some(1))),
                None
            ]
        );
        let js = parse("Error: x\n    at f (https://h.io/a.js:1:2)");
        let (traces, slots) = group(&js);
        assert_eq!((traces.len(), traces[0].exception), (1, None));
        assert_eq!(slots, vec![None, Some((0, Some(0)))]);
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
        assert!(f.iter().all(|f| !f.bytecode));
    }

    #[test]
    fn hermes_bytecode_frames() {
        let lines = parse(
            "Error: bad\n    at anonymous (address at index.android.bundle:1:2286)\n    at forEach (native)\n    at run (index.android.bundle:3:14)",
        );
        let f: Vec<&TextFrame> = lines
            .iter()
            .filter_map(|l| match l {
                StackLine::Frame { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(f.len(), 2);
        assert!(f[0].bytecode);
        assert_eq!(
            (f[0].url.as_str(), f[0].line, f[0].column),
            ("index.android.bundle", 1, 2286)
        );
        assert_eq!(f[0].function.as_deref(), Some("anonymous"));
        assert!(!f[1].bytecode);
        assert!(matches!(&lines[2], StackLine::Text(t) if t.contains("(native)")));
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

    fn natives(lines: &[StackLine]) -> Vec<&NativeTextFrame> {
        lines
            .iter()
            .filter_map(|l| match l {
                StackLine::Native { frame, .. } => Some(frame),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dart_non_symbolic_traces() {
        let text = "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***\n\
            pid: 4242, tid: 4260, name io.flutter.ui\n\
            os: android arch: arm64 comp: yes sim: no\n\
            build_id: '1CDF8F4D353F52A5D7D3C3A142D03149'\n\
            isolate_dso_base: 7a3c2b1000, vm_dso_base: 7a3c2b1000\n\
            isolate_instructions: 7a3c2c14d4, vm_instructions: 7a3c2c14d4\n\
            \x20   #00 abs 0000007a3c2c1500 virt 0000000000010500 _kDartIsolateSnapshotInstructions+0x2c\n\
            \x20   #01 abs 0000007a3c2c1520 _kDartIsolateSnapshotInstructions+0x4c\n";
        let lines = parse(text);
        let n = natives(&lines);
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].pc, n[0].exact), (0x10500, true));
        // No `virt`: abs minus the DSO base.
        assert_eq!((n[1].pc, n[1].exact), (0x10520, false));
        assert_eq!(
            n[0].build_id.as_deref(),
            Some("1cdf8f4d353f52a5d7d3c3a142d03149")
        );
        assert_eq!(n[0].module, "_kDartIsolateSnapshotInstructions");
    }

    #[test]
    fn apple_crash_text() {
        let text = "Process:   App [123]\n\
            Thread 0 Crashed:: Dispatch queue: com.apple.main-thread\n\
            0   libapp.dylib                  \t0x0000000104800598 geo::farthest + 40\n\
            1   My App                        \t0x0000000104a0f000 main + 12\n\
            2   libsystem.dylib               \t0x0000000180001000 start + 4\n\
            \n\
            Binary Images:\n\
            \x20      0x104800000 -        0x104803fff libapp.dylib arm64  <4c4c44a2555531 44a163e10bad6fdb26> /usr/lib/libapp.dylib\n\
            \x20      0x104a00000 -        0x104a1ffff +My App arm64  <6a1d3c2e-0b1f-3c2a-9e4d-1f2e3d4c5b6a> /Applications/My App.app/My App\n";
        let text = text.replace("555531 44a", "55553144a");
        let lines = parse(&text);
        let n = natives(&lines);
        assert_eq!(n.len(), 2, "{lines:?}");
        assert_eq!((n[0].pc, n[0].exact), (0x598, true));
        assert_eq!(
            n[0].build_id.as_deref(),
            Some("4c4c44a255553144a163e10bad6fdb26")
        );
        assert_eq!(
            (n[1].module.as_str(), n[1].pc, n[1].exact),
            ("My App", 0xf000, false)
        );
        assert_eq!(
            n[1].build_id.as_deref(),
            Some("6a1d3c2e0b1f3c2a9e4d1f2e3d4c5b6a")
        );
        // Frames of images the report does not list stay text.
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, StackLine::Text(t) if t.contains("libsystem")))
        );
    }

    #[test]
    fn apple_ips_json() {
        let text = r#"{"app_name":"App","bug_type":"309","os_version":"macOS 14.1"}
{"usedImages":[{"base":4353687552,"size":16384,"uuid":"4c4c44a2-5555-3144-a163-e10bad6fdb26","name":"libapp.dylib","arch":"arm64"}],
 "threads":[{"triggered":true,"frames":[{"imageOffset":1432,"imageIndex":0,"symbol":"geo::farthest","symbolLocation":40},{"imageOffset":1520,"imageIndex":0}]},
            {"frames":[{"imageOffset":1300,"imageIndex":7}]}]}"#;
        let lines = parse(text);
        let n = natives(&lines);
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].pc, n[0].exact, n[0].index), (1432, true, 0));
        assert_eq!((n[1].pc, n[1].exact), (1520, false));
        assert_eq!(
            n[0].build_id.as_deref(),
            Some("4c4c44a255553144a163e10bad6fdb26")
        );
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, StackLine::Text(t) if t == "Thread 0 Crashed:"))
        );
    }

    #[test]
    fn java_traces() {
        let text = "Exception in thread \"main\" java.lang.IllegalStateException: checkout failed\n\
            \tat com.shop.app.Main.main(SourceFile:13)\n\
            \tat java.base/java.lang.Thread.run(Thread.java:833)\n\
            \tat a.b.c(Native Method)\n\
            \tat a.b.d(:4)\n\
            Caused by: com.shop.a.b: bad quantity 0 for pear\n\
            \tat com.shop.a.a.a(SourceFile:1028)\n\
            \t... 1 more\n\
            \tSuppressed: a.c\n\
            \t\tat a.d.e(Unknown Source)\n";
        let lines = parse(text);
        let throwables: Vec<&JvmTextThrowable> = lines
            .iter()
            .filter_map(|l| match l {
                StackLine::Throwable { throwable, .. } => Some(throwable),
                _ => None,
            })
            .collect();
        assert_eq!(throwables.len(), 3);
        assert_eq!(throwables[0].prefix, "Exception in thread \"main\" ");
        assert_eq!(throwables[0].class, "java.lang.IllegalStateException");
        assert_eq!(throwables[0].message.as_deref(), Some("checkout failed"));
        assert_eq!(throwables[1].prefix, "Caused by: ");
        assert_eq!(throwables[2].prefix, "\tSuppressed: ");
        assert_eq!(
            (
                throwables[2].class.as_str(),
                throwables[2].message.as_deref()
            ),
            ("a.c", None)
        );
        let frames: Vec<&JvmTextFrame> = lines
            .iter()
            .filter_map(|l| match l {
                StackLine::Jvm { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 6);
        assert_eq!(
            (
                frames[0].class.as_str(),
                frames[0].method.as_str(),
                frames[0].line
            ),
            ("com.shop.app.Main", "main", 13)
        );
        assert_eq!(frames[0].file.as_deref(), Some("SourceFile"));
        assert_eq!(frames[1].class, "java.lang.Thread");
        assert_eq!((frames[2].file.as_deref(), frames[2].line), (None, 0));
        assert_eq!((frames[3].file.as_deref(), frames[3].line), (None, 4));
        assert_eq!(frames[5].indent, "\t\t");
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, StackLine::Text(t) if t.contains("... 1 more")))
        );
    }

    #[test]
    fn java_traces_back_to_back_are_separate() {
        let text = "java.lang.IllegalStateException: first\n\
            \tat a.b.c(SourceFile:1)\n\
            \t... 3 more\n\
            com.shop.a.b: second\n\
            \tat a.b.d(SourceFile:2)\n\
            Exception in thread \"main\" java.lang.Error\n\
            \tat a.b.e(SourceFile:3)\n";
        let classes: Vec<String> = parse(text)
            .iter()
            .filter_map(|l| match l {
                StackLine::Throwable { throwable, .. } => Some(throwable.class.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            classes,
            [
                "java.lang.IllegalStateException",
                "com.shop.a.b",
                "java.lang.Error"
            ]
        );
    }

    #[test]
    fn prose_is_kept_as_text() {
        let lines = parse("Error: boom at 12:30\nsomething else");
        assert!(lines.iter().all(|l| matches!(l, StackLine::Text(_))));
    }
}
