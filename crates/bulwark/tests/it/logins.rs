//! Logging in: the CLI's login, saved token and logout around a whole backup and restore, users
//! managed on the host, and the first start without users.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use bulwark_testkit::{TestDaemon, tree};
use serde_json::{Value, json};

use crate::common::{bin, daemon, piped, snapshot};
use crate::engine::engine_daemon;

/// Runs the CLI with its configuration (and saved token) under `home`, no BULWARK_TOKEN.
fn cli_at(
    d: &TestDaemon,
    home: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    piped(
        Command::new(bin())
            .args(args)
            .args(["--api", &d.base_url])
            .env("XDG_CONFIG_HOME", home)
            .env_remove("BULWARK_TOKEN")
            .env_remove("BULWARK_API"),
        stdin.unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_cli_logs_in_backs_up_restores_and_logs_out() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("config");
    let (src, dst, store) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("store"),
    );
    tree::tricky(&src, 1_000_000).unwrap();
    let pw = bulwark_testkit::random_password();
    d.add_user("olga", "admin", &[], &pw).unwrap();

    // Not logged in: refused, with the way in.
    let (code, _, err) = cli_at(&d, &home, &["list", "jobs"], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("(401)") && err.contains("bulwark login"),
        "{err}"
    );
    // A wrong password.
    let (code, _, err) = cli_at(
        &d,
        &home,
        &["login", "--username", "olga", "--password-stdin"],
        Some("nope\n"),
    );
    assert_eq!(code, 1);
    assert!(err.contains("wrong user name or password"), "{err}");
    let (code, out, err) = cli_at(
        &d,
        &home,
        &["login", "--username", "olga", "--password-stdin"],
        Some(&format!("{pw}\n")),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("Logged in to {} as olga (admin)", d.base_url)),
        "{out}"
    );
    let creds = home.join("bulwark/credentials.json");
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    let token = saved[&d.base_url].as_str().unwrap().to_string();
    assert!(token.starts_with("bwk_"));
    assert!(!std::fs::read_to_string(&creds).unwrap().contains(&pw));

    // A whole backup and restore with the saved token.
    let set = |p: &Path| format!("base_dir={}", p.display());
    for args in [
        vec![
            "create",
            "schedule",
            "--name",
            "n",
            "--when",
            "daily at 4am",
        ],
        vec!["create", "retention", "--name", "w", "--expires", "7d"],
        vec![
            "create",
            "target",
            "--name",
            "files",
            "--plugin",
            "fs",
            "--set",
            &set(&src),
        ],
        vec![
            "create",
            "target",
            "--name",
            "copy",
            "--plugin",
            "fs",
            "--set",
            &set(&dst),
        ],
        vec![
            "create",
            "store",
            "--name",
            "disk",
            "--plugin",
            "fs",
            "--set",
            &set(&store),
        ],
        vec![
            "create",
            "job",
            "--name",
            "j",
            "--target",
            "files",
            "--store",
            "disk",
            "--schedule",
            "n",
            "--retention-policy",
            "w",
            "--paused",
        ],
    ] {
        let (code, _, err) = cli_at(&d, &home, &args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, out, err) = cli_at(&d, &home, &["run", "job", "j", "--wait", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let task: Value = serde_json::from_str(&out).unwrap();
    assert!(
        task["owner"].as_str().unwrap().starts_with("token cli@"),
        "{}",
        task["owner"]
    );
    assert!(
        task["owner"].as_str().unwrap().ends_with(" of olga"),
        "{}",
        task["owner"]
    );
    let archive = task["archive_uuid"].as_str().unwrap().to_string();
    let (code, _, err) = cli_at(
        &d,
        &home,
        &["restore", "archive", &archive, "--to", "copy", "--wait"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    tree::assert_same_tree(&src, &dst).unwrap();

    // Tokens: made, listed without secrets, revoked.
    let (code, out, _) = cli_at(
        &d,
        &home,
        &[
            "token",
            "create",
            "--name",
            "probe",
            "--role",
            "viewer",
            "--expires",
            "1d",
        ],
        None,
    );
    assert_eq!(code, 0);
    let probe = out.trim().to_string();
    let (_, list, _) = cli_at(&d, &home, &["token", "list"], None);
    assert!(
        list.contains("probe")
            && list.contains("viewer")
            && !list.contains(probe.splitn(3, '_').nth(2).unwrap()),
        "{list}"
    );
    let probe_id = probe.split('_').nth(1).unwrap();
    assert_eq!(cli_at(&d, &home, &["token", "revoke", probe_id], None).0, 0);
    assert_eq!(d.status_as(Some(&probe), "/v1/jobs").await.unwrap(), 401);

    // Logout revokes the saved token; a command after it is refused and changes nothing.
    let (code, out, _) = cli_at(&d, &home, &["logout"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(d.status_as(Some(&token), "/v1/jobs").await.unwrap(), 401);
    let before = snapshot(&d).await;
    let (code, _, err) = cli_at(&d, &home, &["delete", "job", "j", "--yes"], None);
    assert_eq!(code, 1);
    assert!(err.contains("(401)"), "{err}");
    assert_eq!(snapshot(&d).await, before);
}

fn host(d: &TestDaemon, args: &[&str], stdin: &str) -> (bool, String) {
    let (code, out, err) = piped(
        Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(d.config_path()),
        stdin,
    );
    (code == 0, format!("{out}{err}"))
}

#[tokio::test]
async fn users_are_managed_on_the_host_while_the_daemon_runs() {
    let d = daemon().await;
    let (pw1, pw2) = (
        bulwark_testkit::random_password(),
        bulwark_testkit::random_password(),
    );
    let (ok, said) = host(
        &d,
        &[
            "user",
            "add",
            "eve",
            "--role",
            "operator",
            "--password-stdin",
        ],
        &format!("{pw1}\n"),
    );
    assert!(ok, "{said}");
    // Refused: a second eve, a short password, an unknown role, an admin limited to targets,
    // no password without a terminal.
    for (args, stdin, needle) in [
        (
            vec!["user", "add", "eve", "--role", "viewer", "--password-stdin"],
            format!("{pw1}\n"),
            "already exists",
        ),
        (
            vec!["user", "add", "sam", "--role", "viewer", "--password-stdin"],
            "short\n".to_string(),
            "at least 12",
        ),
        (
            vec!["user", "add", "sam", "--role", "root", "--password-stdin"],
            format!("{pw1}\n"),
            "viewer, operator or admin",
        ),
        (
            vec![
                "user",
                "add",
                "sam",
                "--role",
                "admin",
                "--target",
                "x",
                "--password-stdin",
            ],
            format!("{pw1}\n"),
            "for viewers and operators",
        ),
        (
            vec!["user", "add", "sam", "--role", "viewer"],
            String::new(),
            "--password-stdin",
        ),
        (
            vec![
                "user",
                "add",
                "bad\u{7}name",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            format!("{pw1}\n"),
            "control characters",
        ),
    ] {
        let (ok, said) = host(&d, &args, &stdin);
        assert!(!ok, "{args:?}");
        assert!(said.contains(needle), "{args:?}: {said}");
    }
    let (_, list) = host(&d, &["user", "list"], "");
    assert!(
        list.contains("eve") && list.contains("operator") && !list.contains("sam"),
        "{list}"
    );
    let session = d.login("eve", &pw1).await.unwrap();
    let made = d
        .request_as(
            Some(&session),
            "POST",
            "/v1/auth/tokens",
            Some(&json!({"name": "t"})),
        )
        .await
        .unwrap()
        .1;
    let token = made["token"].as_str().unwrap().to_string();
    // A new password ends the sessions; the old password stops working.
    let (ok, said) = host(
        &d,
        &["user", "passwd", "eve", "--password-stdin"],
        &format!("{pw2}\n"),
    );
    assert!(ok, "{said}");
    assert_eq!(d.status_as(Some(&session), "/v1/jobs").await.unwrap(), 401);
    assert!(d.login("eve", &pw1).await.is_err());
    d.login("eve", &pw2).await.unwrap();
    assert_eq!(d.status_as(Some(&token), "/v1/jobs").await.unwrap(), 200);
    // Removing the user ends its tokens too.
    let (ok, said) = host(&d, &["user", "remove", "eve"], "");
    assert!(ok, "{said}");
    assert_eq!(d.status_as(Some(&token), "/v1/jobs").await.unwrap(), 401);
    let (ok, said) = host(&d, &["user", "remove", "eve"], "");
    assert!(!ok && said.contains("no user eve"), "{said}");
}

#[tokio::test]
async fn a_daemon_without_users_says_how_to_make_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (config, mut child) = crate::common::userless_server(dir.path());
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("No user exists yet") {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        said.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = said
        .lines()
        .find(|l| l.starts_with("No user exists yet"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        line.contains(&format!(
            "bulwark user add NAME --role admin --password-stdin --config {}",
            config.display()
        )),
        "{line}"
    );
}
