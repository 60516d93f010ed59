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
