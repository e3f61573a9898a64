//! What the repository ships for installing: the systemd unit passes `systemd-analyze verify`, runs
//! the binary where the README installs it, and the example configuration loads.

use std::path::PathBuf;
use std::process::Command;

use crate::common::bin;
use crate::servers::have;

fn dist(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dist")
        .join(name)
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(dist("bulwark.service")).unwrap();
    let exec = "ExecStart=/usr/local/bin/bulwark server --config /etc/bulwark/bulwark.toml";
    assert!(unit.lines().any(|l| l == exec), "{unit}");
    assert!(unit.contains("\nUser=bulwark\n") && unit.contains("\nStateDirectory=bulwark\n"));
    if !have("systemd-analyze", "systemd") {
        return;
    }
    // The same unit, with the binary of this build where the README installs it.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("bulwark.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/bulwark", &bin().display().to_string()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it does find mistakes: a unit without ExecStart is refused.
    std::fs::write(&copy, unit.replace(exec, "")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success() || !out.stderr.is_empty());
}

#[test]
fn the_example_configuration_loads() {
    let config = bulwark_server::config::Config::load(Some(&dist("bulwark.toml"))).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/bulwark"));
    assert!(config.listen.ip().is_loopback());
}

#[test]
fn the_readme_speaks_to_users_and_links_nothing_outside() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    for word in ["seed 0", "../shared", "](http"] {
        assert!(!readme.contains(word), "the README says {word}");
    }
    assert!(readme.contains("SHIELD-compatible"));
    assert!(readme.contains("## Install and run as a service"));
    let license =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../LICENSE"))
            .unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0"));
}
