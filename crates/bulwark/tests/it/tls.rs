//! HTTPS with a certificate from the configuration, the CLI trusting it through --ca-cert, the
//! warning for plain HTTP beyond loopback, and slow clients being dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, piped};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=bulwark test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "key.pem",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

/// Adds a user to the daemon of `config` on the host.
fn add_user(config: &Path, name: &str, password: &str) {
    let (code, _, err) = piped(
        Command::new(bin())
            .args([
                "user",
                "add",
                name,
                "--role",
                "admin",
                "--password-stdin",
                "--config",
            ])
            .arg(config),
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{err}");
}

/// Starts `bulwark server --config FILE` with stderr to `log`; returns it and the URL it prints.
fn start(config: &Path, log: &Path) -> (Child, String) {
    let mut child = Command::new(bin())
        .args(["server", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.contains("://"))
        .unwrap_or_else(|| panic!("no address in {line}"))
        .trim_end_matches("/v1")
        .to_string();
    (child, url)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn cli(args: &[&str], home: &Path, stdin: &str) -> (i32, String, String) {
    piped(
        Command::new(bin())
            .args(args)
            .env("XDG_CONFIG_HOME", home)
            .env_remove("BULWARK_TOKEN")
            .env_remove("BULWARK_API"),
        stdin,
    )
}

#[test]
fn https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let config = d.join("bulwark.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            d.join("data").display(),
            d.join("cert.pem").display(),
            d.join("key.pem").display()
        ),
    )
    .unwrap();
    let password = bulwark_testkit::random_password();
    add_user(&config, "admin", &password);
    let (child, url) = start(&config, &d.join("log"));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = d.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let home = d.join("home");
    let home = home.as_path();

    // The CLI trusts the CA it is given, and not a certificate the system does not know.
    let (code, out, err) = cli(&["status", "--api", &url, "--ca-cert", ca], home, "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("up and healthy"), "{out}");
    let (code, _, err) = cli(&["status", "--api", &url], home, "");
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the Bulwark daemon"), "{err}");
    let (code, _, err) = cli(
        &[
            "login",
            "-u",
            "admin",
            "--password-stdin",
            "--api",
            &url,
            "--ca-cert",
            ca,
        ],
        home,
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(
        &["list", "jobs", "--json", "--api", &url, "--ca-cert", ca],
        home,
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "[]");

    // Browsers get a Secure cookie.
    let mut curl = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--cacert",
            ca,
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!("{url}/v1/auth/login"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        curl.stdin.take().unwrap(),
        "{}",
        serde_json::json!({"username": "admin", "password": password})
    )
    .unwrap();
    let answer = String::from_utf8(curl.wait_with_output().unwrap().stdout).unwrap();
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP on the HTTPS port gets nothing.
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(url.replace("https://", "http://") + "/v1/status")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "000");
    stop(child);

    // A key that does not go with the certificate: the daemon refuses to start, saying why.
    std::fs::copy(d.join("ca.key"), d.join("key.pem")).unwrap();
    let out = Command::new(bin())
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls.cert and tls.key"),
        "{out:?}"
    );
}

#[test]
fn plain_http_beyond_loopback_is_warned_about_and_slow_clients_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("bulwark.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"0.0.0.0:0\"\ndata_dir = \"{}\"\n",
            d.join("data").display()
        ),
    )
    .unwrap();
    let password = bulwark_testkit::random_password();
    add_user(&config, "admin", &password);
    let log = d.join("log");
    let (child, url) = start(&config, &log);
    let local = url.replace("0.0.0.0", "127.0.0.1");
    let home = d.join("home");
    let (code, _, err) = cli(
        &["login", "-u", "admin", "--password-stdin", "--api", &local],
        &home,
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&["status", "--json", "--api", &local], &home, "");
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        status["warnings"][0]
            .as_str()
            .unwrap()
            .contains("without TLS"),
        "{status}"
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("without TLS")
    );

    // A client that never finishes its headers is cut off.
    let port: u16 = local.rsplit(':').next().unwrap().parse().unwrap();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the slow client was kept {took:?}"
    );
    assert!(
        took >= Duration::from_secs(5),
        "closed too early ({took:?}): {}",
        String::from_utf8_lossy(&buf)
    );
    stop(child);
}
