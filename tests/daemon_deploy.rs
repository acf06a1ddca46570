//! The deployment files checked by the tools operators use: `systemd-analyze` on the unit,
//! `kubernetes-validate --strict` (PyPI) on every Kubernetes manifest, and the example
//! config of the ConfigMap parsed by rosterd itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}; run scripts/test.sh, which installs it"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_systemd_unit_verifies_clean() {
    // `verify` insists that ExecStart's program exists: check a copy whose only change is
    // that path, pointing at the binary under test.
    let unit = std::fs::read_to_string(repo("systemd/rosterd.service")).unwrap();
    let exec = "ExecStart=/usr/local/bin/rosterd ";
    assert_eq!(unit.matches(exec).count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("rosterd.service");
    std::fs::write(&copy, unit.replace(exec, &format!("ExecStart={} ", env!("CARGO_BIN_EXE_rosterd")))).unwrap();
    let (ok, text) = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(ok && text.trim().is_empty(), "systemd-analyze verify:\n{text}");
}

#[test]
fn the_systemd_unit_is_rated_1_2_or_lower_by_systemd_analyze_security() {
    let (_, text) =
        run(Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(repo("systemd/rosterd.service")));
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    println!("{}", line.trim());
    assert!(score <= 1.2, "{line}");
    let unit = std::fs::read_to_string(repo("systemd/rosterd.service")).unwrap();
    let wanted = [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=rosterd",
        "StateDirectoryMode=0700",
        "UMask=0077",
        // A bad config (exit 2) is not restarted in a loop.
        "RestartPreventExitStatus=2",
        "PrivateMounts=yes",
        "LoadCredential=scim-token:/etc/rosterd/scim-token",
    ];
    for want in wanted {
        assert!(unit.contains(want), "the unit lacks {want}");
    }
}

fn kubernetes_validate(file: &Path) -> (bool, String) {
    let tool = std::env::var_os("ROSTERD_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target/scim-venv/bin/kubernetes-validate"));
    run(Command::new(tool).arg("--strict").arg(file))
}

#[test]
fn every_kubernetes_manifest_passes_kubernetes_validate_strict_and_the_base_is_a_kustomization() {
    let base = repo("deploy/kubernetes");
    let kustomization: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(base.join("kustomization.yaml")).unwrap()).unwrap();
    assert_eq!(kustomization["apiVersion"].as_str(), Some("kustomize.config.k8s.io/v1beta1"));
    assert_eq!(kustomization["kind"].as_str(), Some("Kustomization"));
    let resources: Vec<&str> =
        kustomization["resources"].as_sequence().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&base).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "kustomization.yaml" || !name.ends_with(".yaml") {
            continue;
        }
        let (ok, text) = kubernetes_validate(&path);
        assert!(ok && !text.contains("WARN") && !text.contains("ERROR"), "{name}:\n{text}");
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if resources.contains(&name.as_str()) {
            kinds.push(doc["kind"].as_str().unwrap().to_string());
        }
    }
    for r in &resources {
        assert!(base.join(r).exists(), "kustomization lists {r}, which does not exist");
    }
    kinds.sort();
    assert_eq!(kinds, ["ConfigMap", "NetworkPolicy", "Service", "ServiceAccount", "StatefulSet"]);
    // Rendering is a bonus where kubectl is installed.
    if let Ok(out) = Command::new("kubectl").args(["kustomize"]).arg(&base).output() {
        assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
        let rendered = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(rendered.path(), &out.stdout).unwrap();
        let (ok, text) = kubernetes_validate(rendered.path());
        assert!(ok, "rendered base:\n{text}");
    }
}

#[test]
fn the_configmaps_config_is_valid_but_for_the_secret_files_it_expects() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo("deploy/kubernetes/configmap.yaml")).unwrap()).unwrap();
    let text = doc["data"]["rosterd.yaml"].as_str().unwrap();
    let problems = match rosterd::config::Config::parse(text, Path::new("/etc/rosterd/config/rosterd.yaml")) {
        Ok(c) => panic!("the secret files cannot exist here, yet {c:?} loaded"),
        Err(p) => p,
    };
    for p in &problems {
        assert!(p.message.contains("cannot read /etc/rosterd/secrets/"), "{p}");
    }
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["source.scim.token", "platforms[0].api_key", "http.trigger_token"]);
}
