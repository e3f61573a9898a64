//! Throwaway database servers for the tests: started from the installed binaries in a temporary
//! directory on a free loopback port, with a password, and stopped (killed) when dropped. None
//! of them touches the machine's own services or their data.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A program the tests need: present, or (outside CI) a loud skip. `path` may be a name on
/// PATH or an absolute path.
pub fn have(path: &str, package: &str) -> bool {
    let found = if path.starts_with('/') {
        Path::new(path).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {path}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "{path} is not installed; .ci/run installs {package}"
        );
        eprintln!("SKIPPED: {path} is not installed (apt-get install {package})");
    }
    found
}

fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills a server started as the leader of its own process group, with its whole group
/// (through `killpg` with a checked group id: see `bulwark_testkit::process`).
pub(crate) fn kill_group(child: &mut Child) {
    bulwark_testkit::process::stop_group(child);
}

/// A directory the server's own user can write when the tests run as root.
pub(crate) fn server_dir(owner: Option<&str>) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bulwark-server-")
        .tempdir()
        .unwrap();
    if let Some(owner) = owner.filter(|_| is_root()) {
        run(Command::new("chown")
            .arg(format!("{owner}:"))
            .arg(dir.path()));
    }
    dir
}

/// PostgreSQL's server binaries (initdb, pg_ctl), newest version first.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL cluster with password authentication (scram) for user `postgres`.
pub struct Postgres {
    pub port: u16,
    pub password: String,
    bin: PathBuf,
    dir: TempDir,
}

impl Postgres {
    pub fn start(password: &str) -> Option<Postgres> {
        let bin = postgres_bin();
        if !have(
            bin.as_ref()
                .map(|b| b.join("initdb").display().to_string())
                .as_deref()
                .unwrap_or("/usr/lib/postgresql/*/bin/initdb"),
            "postgresql",
        ) || !have("pg_dump", "postgresql-client")
        {
            return None;
        }
        let bin = bin?;
        let dir = server_dir(Some("postgres"));
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, password).unwrap();
        if is_root() {
            run(Command::new("chown").arg("postgres:").arg(&pwfile));
        }
        let port = free_port();
        let data = dir.path().join("data");
        let as_server = |program: &Path| {
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            cmd.stdin(Stdio::null());
            cmd
        };
        run(as_server(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "scram-sha-256",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg(format!("--pwfile={}", pwfile.display())));
        run(as_server(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                dir.path().display()
            ))
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "start"]));
        Some(Postgres {
            port,
            password: password.to_string(),
            bin,
            dir,
        })
    }

    /// The endpoint of one database (or, with `None`, of the whole cluster).
    pub fn endpoint(&self, database: Option<&str>) -> serde_json::Value {
        let mut ep = serde_json::json!({"host": "127.0.0.1", "port": self.port,
            "user": "postgres", "password": self.password});
        match database {
            Some(db) => ep["database"] = db.into(),
            None => ep["all"] = true.into(),
        }
        ep
    }

    /// Runs SQL through psql on `db` and returns its unaligned, tuples-only output.
    pub fn sql(&self, db: &str, script: &str) -> String {
        let mut cmd = Command::new("psql");
        cmd.args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            script,
        ])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", self.port.to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", db)
        .env("PGPASSWORD", &self.password);
        run(&mut cmd)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = cmd
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// A MariaDB (or MySQL) server whose root account has a password.
pub struct Mariadb {
    pub port: u16,
    pub password: String,
    dir: TempDir,
    child: Child,
}

impl Mariadb {
    pub fn start(password: &str) -> Option<Mariadb> {
        if !have("mariadbd", "mariadb-server")
            || !have("mariadb-install-db", "mariadb-server")
            || !have("mariadb-dump", "mariadb-client")
        {
            return None;
        }
        let dir = server_dir(None);
        let data = dir.path().join("data");
        run(Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(is_root().then_some("--user=root")));
        let port = free_port();
        let sock = dir.path().join("sock");
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(is_root().then_some("--user=root"))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .args([
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let m = Mariadb {
            port,
            password: password.to_string(),
            dir,
            child,
        };
        wait_until("mariadbd", 60, || {
            m.root_socket()
                .arg("-e")
                .arg("SELECT 1")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let pw = password.replace('\\', "\\\\").replace('\'', "''");
        run(m.root_socket().arg("-e").arg(format!(
            "ALTER USER root@localhost IDENTIFIED BY '{pw}'; ALTER USER root@'127.0.0.1' IDENTIFIED BY '{pw}';"
        )));
        Some(m)
    }

    /// The client on the socket as root, before the password is set.
    fn root_socket(&self) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults").arg("-uroot").arg(format!(
            "--socket={}",
            self.dir.path().join("sock").display()
        ));
        c
    }

    pub fn endpoint(&self, database: Option<&str>) -> serde_json::Value {
        let mut ep = serde_json::json!({"host": "127.0.0.1", "port": self.port,
            "user": "root", "password": self.password});
        match database {
            Some(db) => ep["database"] = db.into(),
            None => ep["all"] = true.into(),
        }
        ep
    }

    /// Runs SQL (as root, over TCP) and returns tab-separated output without headers.
    pub fn sql(&self, script: &str) -> String {
        run(&mut self.client(script))
    }

    /// Like [`Mariadb::sql`], but an error is returned as its text.
    pub fn sql_or_error(&self, script: &str) -> String {
        let out = self.client(script).output().unwrap();
        String::from_utf8_lossy(if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        })
        .into_owned()
    }

    fn client(&self, script: &str) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .args([
                "-uroot",
                "-h127.0.0.1",
                "--protocol=TCP",
                "--batch",
                "--skip-column-names",
            ])
            .arg(format!("--port={}", self.port))
            .arg("--default-character-set=utf8mb4")
            .arg("-e")
            .arg(script)
            .env("MYSQL_PWD", &self.password);
        c
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A Redis server with a password that keeps nothing on disk.
pub struct Redis {
    pub port: u16,
    pub password: String,
    child: Child,
    _dir: TempDir,
}

impl Redis {
    pub fn start(password: &str) -> Option<Redis> {
        if !have("redis-server", "redis-server") {
            return None;
        }
        let dir = server_dir(None);
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--requirepass",
                password,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let r = Redis {
            port,
            password: password.to_string(),
            child,
            _dir: dir,
        };
        wait_until("redis-server", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(r)
    }

    pub fn endpoint(&self) -> serde_json::Value {
        serde_json::json!({"host": "127.0.0.1", "port": self.port, "password": self.password})
    }

    pub fn conn(&self) -> redis::Connection {
        let url = format!(
            "redis://:{}@127.0.0.1:{}/",
            self.password.replace('@', "%40").replace(' ', "%20"),
            self.port
        );
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A RabbitMQ node with the management plugin, its own ports, node name, data directory, Erlang
/// cookie and port mapper (`epmd`), so that it shares nothing with a RabbitMQ the machine runs:
/// the Debian wrapper `/usr/sbin/rabbitmq-server` is bypassed (it changes to
/// `/var/lib/rabbitmq` and to the system's cookie), and the node registers with an `epmd` of
/// its own on a free port instead of the machine's on 4369.
pub struct Rabbit {
    pub api_port: u16,
    /// The node's name, `bulwark-test-PORT@localhost`.
    pub node: String,
    /// The port of the node's own `epmd`.
    pub epmd_port: u16,
    child: Child,
    epmd: Child,
    _dir: TempDir,
}

/// The RabbitMQ server script without Debian's wrapper, or the one on PATH.
fn rabbitmq_script() -> &'static str {
    const DIRECT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    if Path::new(DIRECT).exists() {
        DIRECT
    } else {
        "rabbitmq-server"
    }
}

impl Rabbit {
    pub fn start() -> Option<Rabbit> {
        if !have("rabbitmq-server", "rabbitmq-server") || !have("epmd", "erlang-base") {
            return None;
        }
        let dir = server_dir(None);
        let d = dir.path();
        let (amqp, api, dist, epmd_port) = (free_port(), free_port(), free_port(), free_port());
        std::fs::write(d.join("enabled_plugins"), "[rabbitmq_management].\n").unwrap();
        std::fs::write(
            d.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = {amqp}\nmanagement.tcp.port = {api}\nmanagement.tcp.ip = 127.0.0.1\nloopback_users = none\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("rabbitmq-env.conf"), "").unwrap();
        for sub in ["mnesia", "log"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        // The node's own port mapper, in the foreground and in a group the test stops.
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        wait_until("epmd", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", epmd_port)).is_ok()
        });
        let node = format!("bulwark-test-{api}@localhost");
        let child = Command::new(rabbitmq_script())
            .current_dir(d)
            // The Erlang cookie is made in (and read from) $HOME.
            .env("HOME", d)
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_NODE_PORT", amqp.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_LOGS", d.join("log/node.log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", d.join("expand"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", d.join("feature_flags"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let r = Rabbit {
            api_port: api,
            node,
            epmd_port,
            child,
            epmd,
            _dir: dir,
        };
        wait_until("rabbitmq-server", 120, || {
            Command::new("curl")
                .args(["-sf", "-u", "guest:guest"])
                .arg(format!("http://127.0.0.1:{api}/api/overview"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// The node names an `epmd` on `port` knows (empty when none answers there).
    pub fn epmd_names(port: u16) -> String {
        Command::new("epmd")
            .args(["-port", &port.to_string(), "-names"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        kill_group(&mut self.epmd);
    }
}

/// curl with `user:password` in a config it reads from stdin, so that the password is not on
/// its command line (the tests watch every command line for it).
pub fn curl(user: &str, password: &str, args: &[&str]) -> String {
    use std::io::Write;
    let mut child = Command::new("curl")
        .args(["-sf", "-K", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let quoted = format!("{user}:{password}")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("user = \"{quoted}\"\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
