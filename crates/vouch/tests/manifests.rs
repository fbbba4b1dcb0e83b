//! The Kubernetes manifests in `deploy/kubernetes/`: every document parses and names its
//! apiVersion, kind and name; the DaemonSet's volumes, mounts and arguments fit together; the
//! shipped configuration is one `vouch sync` accepts; and, when `kubernetes-validate` (PyPI) is
//! installed, every document passes the Kubernetes schemas.

mod common;

use common::*;
use serde::Deserialize;
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use vouch_testkit::signer::TestCa;

const NAMESPACE: &str = "vouch-system";

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// Every document of every `*.yaml` manifest (the kustomization excluded), with its file.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml") && !f.ends_with("kustomization.yaml")) {
        let text = std::fs::read_to_string(f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out
}

fn find<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter().map(|(_, v)| v).find(|v| v["kind"] == kind && v["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

#[test]
fn every_document_names_api_version_kind_and_name() {
    let docs = documents();
    assert!(docs.len() >= 4, "{} documents", docs.len());
    for (file, v) in &docs {
        for key in ["apiVersion", "kind"] {
            assert!(v[key].as_str().is_some_and(|s| !s.is_empty()), "{file}: no {key}");
        }
        assert!(v["metadata"]["name"].as_str().is_some(), "{file}: no metadata.name");
        if v["kind"] != "Namespace" {
            assert_eq!(v["metadata"]["namespace"].as_str(), Some(NAMESPACE), "{file}");
        }
    }
    assert_eq!(find(&docs, "Namespace", NAMESPACE)["apiVersion"], "v1");
    assert_eq!(find(&docs, "DaemonSet", "vouch")["apiVersion"], "apps/v1");
    let kustomization = std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap();
    for (file, _) in &docs {
        assert!(kustomization.contains(file.as_str()), "kustomization.yaml lacks {file}");
    }
}

/// Every container of the pod template, init containers first.
fn containers(pod: &Value) -> Vec<&Value> {
    seq(&pod["initContainers"]).iter().chain(seq(&pod["containers"])).collect()
}

fn args(c: &Value) -> Vec<&str> {
    seq(&c["args"]).iter().map(str_of).collect()
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1).copied())
}

/// The mount of `c` whose path holds `path`, and the volume behind it.
fn mount_for<'a>(pod: &'a Value, c: &'a Value, path: &str) -> (&'a str, &'a Value) {
    let m = seq(&c["volumeMounts"])
        .iter()
        .filter(|m| Path::new(path).starts_with(str_of(&m["mountPath"])))
        .max_by_key(|m| str_of(&m["mountPath"]).len())
        .unwrap_or_else(|| panic!("{path} is on no mount of {}", str_of(&c["name"])));
    let volume = seq(&pod["volumes"]).iter().find(|v| v["name"] == m["name"]).expect("mounted volume exists");
    (str_of(&m["mountPath"]), volume)
}

#[test]
fn daemonset_volumes_mounts_and_args_fit_together() {
    let docs = documents();
    let ds = find(&docs, "DaemonSet", "vouch");
    let pod = &ds["spec"]["template"]["spec"];
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    for (k, v) in ds["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&labels[k.as_str().unwrap()], v, "the selector matches the pod labels");
    }
    let volumes: Vec<&str> = seq(&pod["volumes"]).iter().map(|v| str_of(&v["name"])).collect();
    let mounted: Vec<&str> = containers(pod).iter().flat_map(|c| seq(&c["volumeMounts"])).map(|m| str_of(&m["name"])).collect();
    for m in &mounted {
        assert!(volumes.contains(m), "mount {m} has no volume");
    }
    for v in &volumes {
        assert!(mounted.contains(v), "volume {v} is never mounted");
    }
    let commands: Vec<Vec<&str>> = containers(pod).iter().map(|c| args(c)).collect();
    assert_eq!(commands.iter().map(|a| a[0]).collect::<Vec<_>>(), ["sync", "install", "sync"], "sync once, install, then watch");
    assert!(!commands[0].contains(&"--watch") && commands[2].contains(&"--watch"));
    check_install(pod, containers(pod)[1]);
    for c in [containers(pod)[0], containers(pod)[2]] {
        check_sync(&docs, pod, c);
    }
}

/// `--bin-dir` lies strictly below its mount, so the temporary copy (in its parent) and
/// bin_dir share the host filesystem.
fn check_install(pod: &Value, c: &Value) {
    let bin_dir = flag(&args(c), "--bin-dir").expect("--bin-dir");
    let (mount, volume) = mount_for(pod, c, bin_dir);
    assert_ne!(Path::new(bin_dir), Path::new(mount), "bin_dir's parent must be mounted, not bin_dir");
    let host = Path::new(str_of(&volume["hostPath"]["path"])).join(Path::new(bin_dir).strip_prefix(mount).unwrap());
    assert_eq!(host, Path::new("/opt/containerd/image-verifier/bin"), "containerd's default bin_dir on the host");
}

/// `--to` is the host's /etc/vouch; `--from` is the projected configuration, whose items
/// name keys that exist.
fn check_sync(docs: &[(String, Value)], pod: &Value, c: &Value) {
    let a = args(c);
    let (to, from) = (flag(&a, "--to").expect("--to"), flag(&a, "--from").expect("--from"));
    let (mount, volume) = mount_for(pod, c, to);
    assert_eq!((to, str_of(&volume["hostPath"]["path"])), (mount, "/etc/vouch"));
    let (mount, volume) = mount_for(pod, c, from);
    assert_eq!(mount, from);
    for source in seq(&volume["projected"]["sources"]) {
        let cm = find(docs, "ConfigMap", str_of(&source["configMap"]["name"]));
        for item in seq(&source["configMap"]["items"]) {
            assert!(!cm["data"][str_of(&item["key"])].is_null(), "key {:?} missing", item["key"]);
        }
    }
}

/// The files the DaemonSet's projected volume would hold.
fn projected_files(docs: &[(String, Value)]) -> Vec<(String, String)> {
    let ds = find(docs, "DaemonSet", "vouch");
    let volume = seq(&ds["spec"]["template"]["spec"]["volumes"]).iter().find(|v| v["name"] == "config").unwrap();
    let mut out = Vec::new();
    for source in seq(&volume["projected"]["sources"]) {
        let cm = find(docs, "ConfigMap", str_of(&source["configMap"]["name"]));
        for item in seq(&source["configMap"]["items"]) {
            out.push((str_of(&item["path"]).to_string(), str_of(&cm["data"][str_of(&item["key"])]).to_string()));
        }
    }
    out
}

#[test]
fn shipped_configuration_is_accepted_by_sync_once_the_certificate_is_real() {
    let docs = documents();
    let dir = TempDir::new("manifests");
    let from = dir.path().join("config");
    let write = |files: &[(String, String)]| {
        for (rel, text) in files {
            let p = from.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    };
    let mut files = projected_files(&docs);
    write(&files);
    let to = dir.path().join("etc-vouch");
    let sync = |to: &Path| Command::new(vouch_bin()).args(["sync", "--from"]).arg(&from).arg("--to").arg(to).output().unwrap();
    let placeholder = sync(&to);
    assert_eq!(placeholder.status.code(), Some(1), "the placeholder certificate is refused");
    assert!(String::from_utf8_lossy(&placeholder.stderr).contains("truststore"), "{}", String::from_utf8_lossy(&placeholder.stderr));
    for (rel, text) in files.iter_mut() {
        if rel.starts_with("truststore/") {
            *text = TestCa::new("acme root").unwrap().cert_pem();
        }
    }
    write(&files);
    let out = sync(&to);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dockerfile_builds_vouch_in_stages() {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Dockerfile")).unwrap();
    assert!(text.matches("\nFROM ").count() + usize::from(text.starts_with("FROM ")) >= 2, "multi-stage");
    assert!(text.contains(" AS build") && text.contains("COPY --from=build"), "{text}");
    assert!(text.contains("cargo build --release --locked -p vouch"));
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/vouch\"]"));
}

/// The Kubernetes schemas, through `kubernetes-validate --strict` when it is installed
/// (`pip install kubernetes-validate`; scripts/test installs it).
#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let Ok(probe) = Command::new("kubernetes-validate").arg("--version").output() else {
        println!("skipped: kubernetes-validate is not installed (pip install kubernetes-validate)");
        return;
    };
    if !probe.status.success() {
        println!("skipped: kubernetes-validate does not run");
        return;
    }
    let files: Vec<PathBuf> = ["namespace", "configmap", "truststore", "daemonset"].iter().map(|f| deploy_dir().join(format!("{f}.yaml"))).collect();
    let out = Command::new("kubernetes-validate").arg("--strict").args(&files).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed ").count(), files.len(), "{text}");
}
