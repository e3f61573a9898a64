//! Bulwark's built-in database targets: `postgres`, `mysql`, `redis`, `sqlite` and `rabbitmq`,
//! and `scripts`, which runs a DBA's lifecycle scripts (OSB Backup Manager's).
//!
//! Each implements [`bulwark_plugin::TargetPlugin`] and is run like every plugin, as
//! `bulwark plugin NAME ACTION`, one short-lived process per call with its endpoint in its
//! environment. Where a database ships its own dump tools (PostgreSQL, MySQL/MariaDB), the
//! plugin drives them; where a protocol does the job (Redis replication, SQLite's backup API,
//! RabbitMQ's management API), the plugin speaks it itself.

pub mod mysql;
mod params;
pub mod postgres;
pub mod rabbitmq;
pub mod redis;
pub mod schelly;
pub mod scripts;
pub mod sqlite;
pub mod tool;

use bulwark_plugin::PluginInfo;
use bulwark_plugin::builtin::{Builtin, field};
use bulwark_plugin::protocol::{Features, Field};

/// The database targets' names.
pub const NAMES: &[&str] = &[
    "postgres", "mysql", "redis", "sqlite", "rabbitmq", "scripts", "schelly",
];

fn target(
    name: &'static str,
    title: &str,
    fields: Vec<Field>,
    plugin: &'static dyn bulwark_plugin::TargetPlugin,
) -> Builtin {
    Builtin {
        name,
        info: PluginInfo {
            name: title.into(),
            author: "Bulwark".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: Features {
                target: true,
                store: false,
                endpoint_env: true,
            },
            fields,
        },
        target: Some(plugin),
        store: None,
    }
}

fn host(example: &str) -> Field {
    field(
        "host",
        "string",
        "Host",
        "The server's host name or address.",
        example,
        false,
    )
}

fn port(default: &str) -> Field {
    field(
        "port",
        "port",
        "Port",
        &format!("The server's TCP port (default {default})."),
        default,
        false,
    )
}

fn password(help: &str) -> Field {
    field("password", "password", "Password", help, "s3cret", false)
}

fn database_fields() -> Vec<Field> {
    vec![
        field(
            "database",
            "string",
            "Database",
            "The one database to back up or restore into (created on restore when missing). Either this or all.",
            "shop",
            false,
        ),
        field(
            "all",
            "bool",
            "All databases",
            "true: every database (and, for PostgreSQL, the roles) instead of one.",
            "true",
            false,
        ),
    ]
}

fn bin_dir(example: &str) -> Field {
    field(
        "bin_dir",
        "abspath",
        "Tools directory",
        "Where the client tools are, when not on PATH (or to pick a version).",
        example,
        false,
    )
}

/// The database target called `name`.
pub fn get(name: &str) -> Option<Builtin> {
    Some(match name {
        "postgres" => {
            let mut fields = vec![
                host("db1.internal"),
                port("5432"),
                field(
                    "user",
                    "string",
                    "User",
                    "The role to connect as (default postgres).",
                    "postgres",
                    false,
                ),
                password(
                    "The role's password; given to the tools in their environment (PGPASSWORD), never on a command line.",
                ),
            ];
            fields.extend(database_fields());
            fields.extend([
                field("sslmode", "string", "SSL mode", "libpq's sslmode: disable, allow, prefer, require, verify-ca or verify-full.", "require", false),
                field("maintenance_database", "string", "Maintenance database", "Where to connect to create a missing database or to replay a cluster dump (default postgres).", "postgres", false),
                bin_dir("/usr/lib/postgresql/16/bin"),
            ]);
            target("postgres", "PostgreSQL", fields, &postgres::Postgres)
        }
        "mysql" => {
            let mut fields = vec![
                host("db1.internal"),
                port("3306"),
                field(
                    "user",
                    "string",
                    "User",
                    "The account to connect as (default root).",
                    "backup",
                    false,
                ),
                password(
                    "The account's password; given to the tools in a temporary option file, never on a command line.",
                ),
            ];
            fields.extend(database_fields());
            fields.extend([
                field(
                    "socket",
                    "abspath",
                    "Socket",
                    "A Unix socket to connect through instead of host and port.",
                    "/run/mysqld/mysqld.sock",
                    false,
                ),
                bin_dir("/usr/bin"),
            ]);
            target("mysql", "MySQL / MariaDB", fields, &mysql::Mysql)
        }
        "redis" => target(
            "redis",
            "Redis",
            vec![
                host("cache1.internal"),
                port("6379"),
                field(
                    "username",
                    "string",
                    "User",
                    "An ACL user (needs SYNC to back up); without it, the default user.",
                    "backup",
                    false,
                ),
                password("The password (AUTH)."),
                field(
                    "mode",
                    "string",
                    "Mode",
                    "sync (default): a snapshot through the replication protocol, from anywhere; bgsave: the server saves its dump file and the plugin reads it, for servers that refuse SYNC (run it on the server's host, through an agent).",
                    "sync",
                    false,
                ),
                field(
                    "dump_file",
                    "abspath",
                    "Dump file (bgsave)",
                    "Where the server writes its dump; asked of the server (CONFIG GET dir, dbfilename) when empty.",
                    "/var/lib/redis/dump.rdb",
                    false,
                ),
                field(
                    "restore",
                    "string",
                    "Restore",
                    "live (default): RESTORE every key into the running server; file: stop the server, make the snapshot its dump file (and its append-only files when appendonly is on), start it again (run it on the server's host, through an agent).",
                    "live",
                    false,
                ),
                field(
                    "start_command",
                    "string",
                    "Start command (file restore)",
                    "How to start the server again after a file restore, run by /bin/sh.",
                    "systemctl start redis-server",
                    false,
                ),
                field(
                    "stop_command",
                    "string",
                    "Stop command (file restore)",
                    "How to stop the server for a file restore (default SHUTDOWN NOSAVE); needed when a supervisor would restart it at once.",
                    "systemctl stop redis-server",
                    false,
                ),
            ],
            &redis::Redis,
        ),
        "sqlite" => target(
            "sqlite",
            "SQLite",
            vec![field(
                "path",
                "abspath",
                "Database file",
                "The SQLite database file.",
                "/srv/app/app.db",
                true,
            )],
            &sqlite::Sqlite,
        ),
        "rabbitmq" => target(
            "rabbitmq",
            "RabbitMQ definitions",
            vec![
                field(
                    "url",
                    "string",
                    "Management API",
                    "The management plugin's address (default http://localhost:15672).",
                    "http://rabbit1:15672",
                    false,
                ),
                field(
                    "user",
                    "string",
                    "User",
                    "A user with the administrator tag (default guest).",
                    "admin",
                    false,
                ),
                password("The user's password."),
                field(
                    "vhost",
                    "string",
                    "Virtual host",
                    "Only this virtual host's definitions; without it, the whole broker's.",
                    "/",
                    false,
                ),
            ],
            &rabbitmq::Rabbitmq,
        ),
        "scripts" => target(
            "scripts",
            "Lifecycle scripts (OSB)",
            vec![
                field(
                    "scripts",
                    "abspath",
                    "Scripts directory",
                    "Where the DBA's scripts are: backup and restore, and optionally pre-backup-lock, pre-backup-check, backup-cleanup, post-backup-unlock, pre-restore-lock, restore-cleanup and post-restore-unlock.",
                    "/etc/bulwark/scripts/shop",
                    true,
                ),
                field(
                    "work_dir",
                    "abspath",
                    "Working directory",
                    "Where each run's BULWARK_DIR is made (default the system's temporary directory); it needs room for one backup.",
                    "/var/tmp",
                    false,
                ),
                field(
                    "parameters",
                    "list",
                    "Parameters",
                    "NAME=value pairs given to every script in its environment.",
                    "[\"DB_NAME=shop\"]",
                    false,
                ),
                password("Given to the scripts as BULWARK_PASSWORD; hidden in the task log."),
                field(
                    "script_timeout",
                    "number",
                    "Script timeout",
                    "Seconds one script may take before it is killed (default: only the task's timeout).",
                    "600",
                    false,
                ),
            ],
            &scripts::Scripts,
        ),
        "schelly" => Builtin {
            name: "schelly",
            info: PluginInfo {
                name: "Schelly backup provider".into(),
                author: "Bulwark".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                features: Features {
                    target: true,
                    store: true,
                    endpoint_env: true,
                },
                fields: vec![
                    field(
                        "url",
                        "string",
                        "Provider URL",
                        "Store: the provider's backup endpoint (POST creates, GET /{id} polls, DELETE /{id} removes).",
                        "http://backup-provider:7070/backups",
                        false,
                    ),
                    field(
                        "headers",
                        "list",
                        "Headers",
                        "Store: \"Name: value\" headers sent with every call (Schelly's WEBHOOK_HEADERS).",
                        "[\"Authorization: Bearer abc\"]",
                        false,
                    ),
                    field(
                        "delete_body",
                        "string",
                        "Delete body",
                        "Store: the body of DELETE (Schelly's WEBHOOK_DELETE_BODY).",
                        "{}",
                        false,
                    ),
                    field(
                        "poll_interval",
                        "number",
                        "Poll interval",
                        "Store: seconds between polls (default 2).",
                        "2",
                        false,
                    ),
                    field(
                        "timeout",
                        "number",
                        "Timeout",
                        "Store: seconds a backup may take to become available (default 3600).",
                        "3600",
                        false,
                    ),
                    field(
                        "create_body",
                        "string",
                        "Create body",
                        "Target: the body of POST (Schelly's WEBHOOK_CREATE_BODY; default {}).",
                        "{\"database\": \"shop\"}",
                        false,
                    ),
                ],
            },
            target: Some(&schelly::Schelly),
            store: Some(&schelly::Schelly),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_name_is_a_target_with_documented_fields() {
        for name in NAMES {
            let b = get(name).unwrap();
            assert_eq!(b.name, *name);
            assert!(b.target.is_some());
            assert_eq!(b.store.is_some(), *name == "schelly", "{name}");
            assert!(!b.info.fields.is_empty());
            for f in &b.info.fields {
                assert!(!f.help.is_empty(), "{name}.{}", f.name);
            }
        }
        assert!(get("fs").is_none());
    }
}
