//! The dependency rules of ARCHITECTURE.md, checked against `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};

/// Package name -> names of its normal (non-dev, non-build) dependencies.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(symx_e2e::repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut map = BTreeMap::new();
    for p in v["packages"].as_array().expect("packages") {
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        map.insert(p["name"].as_str().unwrap_or_default().to_owned(), deps);
    }
    map
}

#[test]
fn dependency_edges_follow_the_architecture() {
    let deps = dependencies();
    let users_of = |dep: &str| -> BTreeSet<&str> {
        deps.iter()
            .filter(|(_, d)| d.contains(dep))
            .map(|(p, _)| p.as_str())
            .collect()
    };
    assert_eq!(
        users_of("rocksdb"),
        BTreeSet::from(["symx-storage"]),
        "only symx-storage links rocksdb"
    );
    let rpc: BTreeSet<&str> = [
        "symx-proto",
        "symx-grpc",
        "symx-cli",
        "symx-e2e",
        "symx-benches",
    ]
    .into();
    for dep in ["tonic", "prost", "prost-types", "tonic-prost"] {
        assert!(
            users_of(dep).is_subset(&rpc),
            "{dep} used by {:?}",
            users_of(dep)
        );
    }
    for dep in ["tonic", "axum", "http", "hyper", "prost"] {
        assert!(
            !deps["symx-service"].contains(dep),
            "symx-service must not know {dep}"
        );
    }
    // Format crates: bytes in, index out; only the vocabulary crate among ours.
    // They never depend on each other: the service composes them.
    for format in [
        "symx-sourcemap",
        "symx-native",
        "symx-proguard",
        "symx-il2cpp",
    ] {
        let ours: Vec<&String> = deps[format]
            .iter()
            .filter(|d| d.starts_with("symx-"))
            .collect();
        assert_eq!(ours, vec!["symx-types"], "{format} depends on {ours:?}");
    }
    assert!(
        !deps["symx-types"].iter().any(|d| d.starts_with("symx-")),
        "symx-types depends on nothing of ours"
    );
    assert!(
        !deps["symx-http"].contains("tonic"),
        "symx-http has its own DTOs"
    );
    // Every edge between our crates is one ARCHITECTURE.md lists ("Dependency edges").
    let allowed: BTreeMap<&str, BTreeSet<&str>> = [
        ("symx-types", vec![]),
        ("symx-sourcemap", vec!["symx-types"]),
        ("symx-native", vec!["symx-types"]),
        ("symx-proguard", vec!["symx-types"]),
        ("symx-il2cpp", vec!["symx-types"]),
        ("symx-storage", vec!["symx-types"]),
        ("symx-proto", vec![]),
        (
            "symx-service",
            vec![
                "symx-types",
                "symx-sourcemap",
                "symx-native",
                "symx-proguard",
                "symx-il2cpp",
                "symx-storage",
            ],
        ),
        (
            "symx-grpc",
            vec!["symx-types", "symx-proto", "symx-service"],
        ),
        ("symx-http", vec!["symx-service", "symx-types"]),
        (
            "symx-server",
            vec!["symx-grpc", "symx-http", "symx-service", "symx-types"],
        ),
        ("symx-cli", vec!["symx-proto", "symx-types", "symx-native"]),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().collect()))
    .collect();
    for (package, its) in &deps {
        if matches!(package.as_str(), "symx-e2e" | "symx-benches") {
            continue;
        }
        let ours: BTreeSet<&str> = its
            .iter()
            .filter(|d| d.starts_with("symx-"))
            .map(String::as_str)
            .collect();
        let Some(ok) = allowed.get(package.as_str()) else {
            panic!("{package} is not in ARCHITECTURE.md's crate table: add it and its edges");
        };
        assert!(
            ours.is_subset(ok),
            "{package} depends on {:?}, which ARCHITECTURE.md does not list",
            ours.difference(ok).collect::<Vec<_>>()
        );
    }
}

/// The modules of `symx-service` (by path, `""` for the crate root) and, for each, the modules
/// it names (`crate::a::b`, `super::`, `self::` paths in code, comments left out; test modules
/// at the end of a file left out).
fn service_modules() -> BTreeMap<String, BTreeSet<String>> {
    let root = symx_e2e::repo_root().join("crates/symx-service/src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let module_of = |path: &std::path::Path| -> String {
        let rel = path.strip_prefix(&root).expect("under src");
        let mut parts: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("lib" | "mod")) {
            parts.pop();
        }
        parts.join("::")
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(file);
        let text = std::fs::read_to_string(file).expect("read module");
        // Test modules come last in a file; what they use is not a dependency of the module.
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let mut uses = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or_default();
            // Children named by a relative path (`request::Found`, `use js::JsMemo`).
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                if let Some((first, _)) = word.split_once("::") {
                    let child = if me.is_empty() {
                        first.to_owned()
                    } else {
                        format!("{me}::{first}")
                    };
                    if !first.is_empty() && modules.contains(&child) {
                        uses.insert(child);
                    }
                }
            }
            for path in module_paths(line, &me) {
                // The longest known module the path starts with.
                let mut segs: Vec<&str> = path.split("::").collect();
                while !segs.is_empty() && !modules.contains(&segs.join("::")) {
                    segs.pop();
                }
                let target = segs.join("::");
                if target != me {
                    uses.insert(target);
                }
            }
        }
        graph.insert(me, uses);
    }
    graph
}

/// The absolute module paths (without `crate::`) a line of code names through `crate::`,
/// `super::` or `self::`, with `{a, b::c}` groups expanded.
fn module_paths(line: &str, me: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let starts = ["crate::", "super::", "self::"];
    let mut i = 0;
    while i < bytes.len() {
        let Some(start) = starts.iter().find(|s| line[i..].starts_with(**s)) else {
            i += 1;
            continue;
        };
        // Not the tail of a longer identifier (`symx_crate::`).
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            i += 1;
            continue;
        }
        let base: Vec<&str> = match *start {
            "crate::" => Vec::new(),
            "self::" => me.split("::").filter(|s| !s.is_empty()).collect(),
            _ => {
                let mut v: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
                v.pop();
                v
            }
        };
        let rest = &line[i + start.len()..];
        let end = rest
            .find(|c: char| {
                !(c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == ':'
                    || c == '{'
                    || c == '}'
                    || c == ','
                    || c == ' ')
            })
            .unwrap_or(rest.len());
        let tail = rest[..end].trim_end_matches([' ', ',']);
        let prefix = |p: &str| -> String {
            let mut v = base.clone();
            v.extend(p.split("::").filter(|s| !s.is_empty()));
            v.join("::")
        };
        match tail.find('{') {
            Some(b) => {
                let head = tail[..b].trim_end_matches(':');
                let group = tail[b + 1..].split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let item = item.trim();
                    if !item.is_empty() {
                        out.push(prefix(&format!("{head}::{item}")));
                    }
                }
                out.push(prefix(head));
            }
            None => out.push(prefix(tail.split(' ').next().unwrap_or_default())),
        }
        i += start.len();
    }
    out
}

/// A cycle in `graph`, if there is one (as the modules along it).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| p == node).unwrap_or(0);
                let mut cycle = path[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn service_modules_depend_one_way() {
    let graph = service_modules();
    // The checker sees real edges (a broken parser would find no cycle in anything).
    assert!(
        graph["resolve::native"].contains("indexes")
            && graph["ingest::kinds"].contains("lookups")
            && graph[""].contains("resolve"),
        "the module graph misses known edges: {graph:#?}"
    );
    let mut with_cycle = graph.clone();
    with_cycle
        .get_mut("indexes")
        .expect("indexes")
        .insert("resolve".into());
    assert!(
        find_cycle(&with_cycle).is_some(),
        "an added upward edge must make a cycle"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle in symx-service: {}", cycle.join(" -> "));
    }
    // Nothing below the facade names it: the root's items are for the edges only.
    for (module, uses) in &graph {
        assert!(
            module.is_empty() || !uses.contains(""),
            "{module} uses the crate root (the facade); depend on the module that owns the item"
        );
    }
    // Every module is in ARCHITECTURE.md's module map.
    let doc = std::fs::read_to_string(symx_e2e::repo_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    for module in graph.keys().filter(|m| !m.is_empty()) {
        assert!(
            doc.contains(&format!("`{module}`")),
            "ARCHITECTURE.md's module map of symx-service does not name `{module}`"
        );
    }
}
