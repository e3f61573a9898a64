//! Commands that work on the daemon's host, on its data directory directly (not through the
//! API): `bulwark user ...` and `bulwark store-secret`. Access to the data directory is the root
//! of trust, so they need no login; they can run while the daemon runs (SQLite takes turns).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use bulwark_catalog::{AuditEntry, Catalog, User};
use bulwark_core::role::Role;
use bulwark_server::config::Config;

use crate::cli::auth::read_password;

/// Where the daemon's data directory is.
#[derive(Debug, Args, Clone)]
pub struct HostArgs {
    /// The daemon's configuration file (for its data directory).
    #[arg(short, long, env = "BULWARK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The data directory, overriding the configuration's.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

/// `bulwark user ...`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user. The password comes from the terminal (asked twice) or, with
    /// --password-stdin, from the first line of stdin; never from a flag.
    ///
    /// Example: echo "$ADMIN_PASSWORD" | bulwark user add alice --role admin --password-stdin
    Add {
        /// The login name.
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
        /// Limit a viewer or operator to this target (name or UUID); repeat for more.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    ///
    /// Example: bulwark user list
    List,
    /// Set a user's password; this also unlocks it and ends its login sessions.
    ///
    /// Example: bulwark user passwd alice --password-stdin
    Passwd {
        /// The login name.
        name: String,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user, with its sessions and API tokens.
    ///
    /// Example: bulwark user remove alice
    Remove {
        /// The login name.
        name: String,
    },
}

/// `bulwark secrets ...`
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Reseal every secret of the catalog (endpoint passwords and keys, repository passwords,
    /// stream keys) under a new master key, in one transaction. Stop the daemon first. With a
    /// key file, a new random key replaces master.key; with secrets.passphrase, the new
    /// passphrase comes from stdin and goes into the configuration afterwards.
    ///
    /// Example: bulwark secrets rotate --config /etc/bulwark/bulwark.toml
    Rotate {
        /// Read the new passphrase from the first line of stdin (daemons that use
        /// secrets.passphrase).
        #[arg(long)]
        new_passphrase_stdin: bool,
    },
}

/// `bulwark secrets ...`
pub fn secrets(cmd: &SecretsCmd, args: &HostArgs) -> ExitCode {
    let SecretsCmd::Rotate {
        new_passphrase_stdin,
    } = cmd;
    let result = (|| {
        let (config, _) = locate(args, false)?;
        let new = if *new_passphrase_stdin {
            Some(read_password(true, "")?)
        } else {
            None
        };
        let rt = runtime()?;
        rt.block_on(bulwark_server::rotate::rotate(&config, new.as_deref()))
    })();
    match result {
        Ok(r) => {
            println!(
                "master key rotated: {} targets and stores resealed under key {} (was {})",
                r.rows, r.new_id, r.old_id
            );
            if *new_passphrase_stdin {
                println!("set secrets.passphrase to the new passphrase before starting the daemon");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("secrets rotate", e),
    }
}

fn fail(what: &str, m: impl std::fmt::Display) -> ExitCode {
    eprintln!("bulwark {what}: {m}");
    ExitCode::FAILURE
}

/// The configuration with `--data-dir` applied, and the catalog's path (which must exist unless
/// `create` is set).
fn locate(args: &HostArgs, create: bool) -> Result<(Config, PathBuf), String> {
    let mut config = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    let path = config.catalog_path();
    if !create && !path.exists() {
        return Err(format!("there is no catalog at {}", path.display()));
    }
    Ok((config, path))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Who runs a host command, for the audit log.
fn host_entry(action: &str, name: &str) -> AuditEntry {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    AuditEntry {
        actor: format!("host user {who}"),
        address: "local".into(),
        action: action.into(),
        object_kind: "user".into(),
        object_uuid: name.into(),
        detail: String::new(),
    }
}

fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // A host command's own clock: the audit row's time.
    chrono::Utc::now().timestamp()
}

/// A new password, read and checked (asked twice on a terminal).
fn new_password(from_stdin: bool) -> Result<String, String> {
    let pw = read_password(from_stdin, "New password: ")?;
    if !from_stdin && read_password(false, "Again: ")? != pw {
        return Err("the two passwords differ; nothing was changed".into());
    }
    bulwark_server::auth::hash_password(&pw)
}

/// `bulwark user ...`
pub fn user(cmd: &UserCmd, args: &HostArgs) -> ExitCode {
    let result = (|| {
        let (config, path) = locate(args, matches!(cmd, UserCmd::Add { .. }))?;
        let rt = runtime()?;
        rt.block_on(async {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let catalog = Catalog::open(&path).await.map_err(|e| e.to_string())?;
            let r = user_in(cmd, &catalog, &config).await;
            catalog.close().await;
            r
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("user", e),
    }
}

async fn user_in(cmd: &UserCmd, catalog: &Catalog, config: &Config) -> Result<(), String> {
    let _ = config;
    let e = |e: bulwark_catalog::CatalogError| e.to_string();
    match cmd {
        UserCmd::Add {
            name,
            role,
            targets,
            password_stdin,
        } => {
            bulwark_core::validate::name("user name", name)?;
            let role: Role = role.parse()?;
            if role == Role::Admin && !targets.is_empty() {
                return Err(
                    "an admin manages every target; --target is for viewers and operators".into(),
                );
            }
            let mut ids = Vec::new();
            for t in targets {
                ids.push(
                    catalog
                        .target_by_ref(t)
                        .await
                        .map_err(e)?
                        .ok_or(format!("no target with UUID or name '{t}'"))?,
                );
            }
            if catalog.user_by_name(name).await.map_err(e)?.is_some() {
                return Err(format!(
                    "user {name} already exists; use `bulwark user passwd {name}` to set its password"
                ));
            }
            let hash = new_password(*password_stdin)?;
            let user = User {
                uuid: uuid::Uuid::new_v4().to_string(),
                name: name.clone(),
                role,
                targets: (!ids.is_empty()).then_some(ids),
                password_hash: hash,
                created_at: now(),
                locked_until: None,
            };
            if !catalog
                .add_user(&user, &host_entry("user.add", name), now())
                .await
                .map_err(e)?
            {
                return Err(format!("user {name} already exists"));
            }
            println!("user {name} added with the {role} role");
        }
        UserCmd::List => {
            let users = catalog.list_users().await.map_err(e)?;
            let cells = users
                .iter()
                .map(|u| {
                    vec![
                        u.name.clone(),
                        u.role.to_string(),
                        u.targets.as_ref().map_or("all".into(), |t| {
                            t.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(",")
                        }),
                        bulwark_core::timefmt::format_epoch(u.created_at),
                        if u.locked_until.is_some_and(|t| t > now()) {
                            "locked"
                        } else {
                            ""
                        }
                        .into(),
                    ]
                })
                .collect();
            println!(
                "{}",
                crate::cli::view::grid(&["NAME", "ROLE", "TARGETS", "CREATED", "STATE"], cells)
            );
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            if catalog.user_by_name(name).await.map_err(e)?.is_none() {
                return Err(format!("there is no user {name}"));
            }
            let hash = new_password(*password_stdin)?;
            if !catalog
                .set_password(name, &hash, &host_entry("user.passwd", name), now())
                .await
                .map_err(e)?
            {
                return Err(format!("there is no user {name}"));
            }
            println!("password of {name} set; its sessions were ended");
        }
        UserCmd::Remove { name } => {
            if !catalog
                .remove_user(name, &host_entry("user.remove", name), now())
                .await
                .map_err(e)?
            {
                return Err(format!("there is no user {name}"));
            }
            println!("user {name} removed, with its sessions and tokens");
        }
    }
    Ok(())
}
/// `bulwark store-secret`.
pub fn store_secret(store: &str, config: Option<PathBuf>, data_dir: Option<PathBuf>) -> ExitCode {
    let fail = |m: String| {
        eprintln!("bulwark store-secret: {m}");
        ExitCode::FAILURE
    };
    let mut config = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    let catalog_path = config.catalog_path();
    if !catalog_path.exists() {
        return fail(format!("there is no catalog at {}", catalog_path.display()));
    }
    let vault = match bulwark_server::vault::Vault::load(
        &config.data_dir,
        config.secrets.passphrase.as_deref(),
    ) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let found = runtime.block_on(async {
        let catalog = bulwark_catalog::Catalog::open(&catalog_path)
            .await
            .map_err(|e| e.to_string())?;
        let stores = catalog
            .list_stores(None, None)
            .await
            .map_err(|e| e.to_string())?;
        catalog.close().await;
        let matches: Vec<_> = stores
            .into_iter()
            .filter(|s| s.uuid.to_string() == store || s.name == store)
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("no store with UUID or name '{store}'")),
            many => Err(format!(
                "{} stores are named '{store}'; give the UUID: {}",
                many.len(),
                many.iter()
                    .map(|s| s.uuid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    });
    let store = match found {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let Some(sealed) = &store.secret else {
        return fail(format!(
            "store '{}' was made before stores had secrets; its archives are not encrypted",
            store.name
        ));
    };
    let secret = match vault.open(sealed) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!("{secret}");
    if bulwark_server::store_keys::is_repository(&store.plugin) {
        eprintln!(
            "The repository password of store '{}'. With restic: RESTIC_PASSWORD=... restic -r REPOSITORY snapshots (endpoint: {}).",
            store.name,
            bulwark_core::redact::redact_endpoint(&store.endpoint, &[])
        );
    } else {
        eprintln!(
            "The age key of store '{}'. Save it to a file, then: age --decrypt -i KEYFILE BLOB | zstd -d > STREAM",
            store.name
        );
    }
    ExitCode::SUCCESS
}
