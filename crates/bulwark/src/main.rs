//! `bulwark`: the one binary of Bulwark. Each subcommand is one part of the system: `server`, the
//! core daemon, and `plugin`, which runs a built-in plugin through seed 003's Plugin Calling
//! Protocol; `status`, `list` and `show`, the CLI's first verbs, which talk to a daemon through
//! its HTTP API. The agent and the other CLI verbs join them as they are built.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use bulwark_server::config::{Config, LogFormat};

/// Backup and restore for data services.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the core daemon: the catalog, the HTTP API (and, later, the scheduler and workers).
    ///
    /// Example: bulwark server --config /etc/bulwark/bulwark.toml
    Server {
        /// A TOML configuration file; see the README for its keys. BULWARK_* environment
        /// variables override it.
        #[arg(short, long, env = "BULWARK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a built-in plugin through the Plugin Calling Protocol, exactly as an external plugin
    /// is called: `ACTION [--endpoint JSON] [--key KEY]`, data on stdin/stdout, exit codes of
    /// the protocol. The endpoint may come from BULWARK_PLUGIN_ENDPOINT instead of the command
    /// line, which keeps secrets out of the process list.
    ///
    /// Example: echo hello | bulwark plugin fs store --endpoint '{"base_dir":"/tmp/store"}'
    Plugin {
        /// The built-in plugin: fs, repository, postgres, mysql, redis, sqlite or rabbitmq.
        name: String,
        /// The action and its flags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print a store's secret, for disaster recovery: a repository store's password (what a
    /// stock restic needs), or the age key a plugin store's streams are sealed with. It reads
    /// the catalog and the master key in the data directory directly (the API never shows
    /// secrets), so it runs on the daemon's host as the daemon's user. The secret goes to
    /// stdout; how to use it goes to stderr.
    ///
    /// Example: RESTIC_PASSWORD=$(bulwark store-secret nightly) restic -r /srv/repo snapshots
    StoreSecret {
        /// The store's UUID or name.
        store: String,
        /// The daemon's configuration file (for its data directory and passphrase).
        #[arg(short, long, env = "BULWARK_CONFIG")]
        config: Option<PathBuf>,
        /// The data directory, overriding the configuration's.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Say whether the daemon is up and healthy (through its API, on this host or another).
    ///
    /// Example: bulwark status --api http://backup1:8450
    Status {
        #[command(flatten)]
        conn: cli::Conn,
    },
    /// List schedules, retention policies, targets, stores, jobs, archives, tasks or plugins,
    /// with the API's filters; a table, or the API's JSON with --json.
    ///
    /// Example: bulwark list jobs --paused --target orders --json
    List {
        #[command(subcommand)]
        what: cli::ListWhat,
        #[command(flatten)]
        conn: cli::Conn,
    },
    /// Show one resource, named by UUID, unique UUID prefix or name.
    ///
    /// Example: bulwark show job nightly
    Show {
        /// What kind of resource.
        kind: cli::Kind,
        /// Its UUID, a unique prefix of it, or its name.
        reference: String,
        #[command(flatten)]
        conn: cli::Conn,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server { config } => run_server(config),
        Command::Plugin { name, args } => run_plugin(&name, &args),
        Command::Status { conn } => cli::status(&conn),
        Command::List { what, conn } => cli::list(&what, &conn),
        Command::Show {
            kind,
            reference,
            conn,
        } => cli::show(kind, &reference, &conn),
        Command::StoreSecret {
            store,
            config,
            data_dir,
        } => store_secret(&store, config, data_dir),
    }
}

fn store_secret(store: &str, config: Option<PathBuf>, data_dir: Option<PathBuf>) -> ExitCode {
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

fn run_plugin(name: &str, args: &[String]) -> ExitCode {
    if name == bulwark_repo::NAME {
        let code = bulwark_repo::cli::run(
            args,
            bulwark_repo::cli::Env::from_process(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code);
    }
    let Some(plugin) = bulwark_plugin::builtin::get(name).or_else(|| bulwark_targets::get(name))
    else {
        eprintln!(
            "bulwark plugin: there is no built-in plugin named '{name}' (built-in: {})",
            bulwark_server::plugins::builtin_names().join(", ")
        );
        return ExitCode::from(bulwark_plugin::Exit::Usage.code());
    };
    let code = bulwark_plugin::cli::run(
        &plugin,
        args,
        bulwark_plugin::cli::Env::from_process(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

fn run_server(config_file: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bulwark server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bulwark server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let server = bulwark_server::Server::start(config).await?;
        let addr = server.local_addr();
        // The first line on stdout says where to reach the daemon; tools and tests read it.
        println!(
            "Bulwark API listening on http://{addr}/v1 (OpenAPI: http://{addr}/v1/openapi.json)"
        );
        server.serve(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Daemon failed.");
            eprintln!("bulwark server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BULWARK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("Shutdown requested; finishing requests in flight.");
}
