//! A job's steps: commands, HTTP calls or plugin actions run before and after its backups and
//! restores (Fossul's workflows, hen-backup's hooks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepWhen {
    /// Before the backup (quiesce, lock, check).
    BeforeBackup,
    /// After the backup (unquiesce, unlock, notify).
    AfterBackup,
    /// Before a restore into the job's target.
    BeforeRestore,
    /// After a restore into the job's target.
    AfterRestore,
}

impl StepWhen {
    /// `before_backup`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            StepWhen::BeforeBackup => "before_backup",
            StepWhen::AfterBackup => "after_backup",
            StepWhen::BeforeRestore => "before_restore",
            StepWhen::AfterRestore => "after_restore",
        }
    }

    /// True for the steps after a backup or a restore.
    pub fn after(self) -> bool {
        matches!(self, StepWhen::AfterBackup | StepWhen::AfterRestore)
    }
}

/// What a failed step does to the run (hen-backup's policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// No impact: the run goes on and can succeed.
    Ignore,
    /// The run goes on but ends failed (an archive it made is kept).
    Continue,
    /// The run stops: before a backup, no backup is made; the `always` steps still run.
    #[default]
    Break,
}

impl OnFailure {
    /// `ignore`, `continue` or `break`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Ignore => "ignore",
            OnFailure::Continue => "continue",
            OnFailure::Break => "break",
        }
    }
}

/// An HTTP call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (`POST` when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// An `http://` or `https://` URL.
    #[schema(example = "https://app.internal/maintenance/on")]
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body, sent as it is.
    #[serde(default)]
    pub body: Option<String>,
}

/// One step. Exactly one of `command`, `http` and `plugin_action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its name, unique in the job, for the task log.
    #[schema(example = "lock tables", min_length = 1, max_length = 100)]
    pub name: String,
    /// When it runs.
    pub when: StepWhen,
    /// A command, as an argument list (no shell unless it names one), run where the task runs:
    /// the daemon's host, or the target's agent.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// An HTTP call, made from where the task runs; a 2xx answer is success.
    #[serde(default)]
    pub http: Option<HttpStep>,
    /// An action of the job's target plugin (for example a plugin's `quiesce`), with the
    /// target's endpoint.
    #[serde(default)]
    pub plugin_action: Option<String>,
    /// Seconds it may take (1 to 86400; 60 when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub timeout: Option<u64>,
    /// What its failure does (`break` when absent).
    #[serde(default)]
    pub on_failure: OnFailure,
    /// After-steps only: run also after a failed or canceled run (an unlock must never be
    /// skipped). Other after-steps run only after a successful one.
    #[serde(default)]
    pub always: bool,
    /// Keys of the target's endpoint given to a command step as `BULWARK_SECRET_<KEY>`
    /// (upper case); no secret reaches a step that does not name it.
    #[serde(default)]
    pub secrets: Vec<String>,
}

impl Step {
    /// Its timeout in seconds.
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(60)
    }
}

/// Checks a job's steps; the error says which step and what is wrong.
pub fn check_steps(steps: &[Step]) -> Result<(), String> {
    if steps.len() > 50 {
        return Err("a job has at most 50 steps".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for s in steps {
        let name = s.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(format!(
                "step name '{}' must be 1 to 100 printable characters",
                s.name
            ));
        }
        if !names.insert(name) {
            return Err(format!("two steps are named '{name}'"));
        }
        let kinds = [
            s.command.is_some(),
            s.http.is_some(),
            s.plugin_action.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!(
                "step '{name}' needs exactly one of command, http and plugin_action"
            ));
        }
        if let Some(argv) = &s.command
            && argv.first().is_none_or(|a| a.is_empty())
        {
            return Err(format!(
                "step '{name}': command is a list whose first item is the program"
            ));
        }
        if let Some(h) = &s.http {
            if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                return Err(format!(
                    "step '{name}': url must start with http:// or https://"
                ));
            }
            let method = h.method.as_deref().unwrap_or("POST");
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
                return Err(format!(
                    "step '{name}': method must be GET, POST, PUT, PATCH or DELETE, not '{method}'"
                ));
            }
        }
        if let Some(a) = &s.plugin_action
            && (a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!(
                "step '{name}': plugin_action '{a}' is not an action name"
            ));
        }
        if !(1..=86_400).contains(&s.timeout_secs()) {
            return Err(format!("step '{name}': timeout must be 1 to 86400 seconds"));
        }
        if s.always && !s.when.after() {
            return Err(format!(
                "step '{name}': always is for steps after a backup or a restore"
            ));
        }
        for k in &s.secrets {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "step '{name}': secret '{k}' is not an endpoint key"
                ));
            }
        }
        if !s.secrets.is_empty() && s.command.is_none() {
            return Err(format!(
                "step '{name}': only a command step is given secrets"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn step(v: serde_json::Value) -> Step {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn good_steps_pass_and_bad_ones_say_why() {
        let good = [
            step(serde_json::json!({"name": "lock", "when": "before_backup",
                                     "command": ["mariadb", "-e", "SET GLOBAL read_only = 1"]})),
            step(
                serde_json::json!({"name": "unlock", "when": "after_backup", "always": true,
                                     "command": ["true"], "secrets": ["password"]}),
            ),
            step(serde_json::json!({"name": "tell", "when": "after_restore",
                                     "http": {"url": "https://x/y", "method": "PUT"},
                                     "on_failure": "ignore"})),
        ];
        check_steps(&good).unwrap();
        assert_eq!(good[0].on_failure, OnFailure::Break);
        for (bad, says) in [
            (
                serde_json::json!({"name": "x", "when": "before_backup"}),
                "exactly one",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "command": []}),
                "first item",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "always": true, "command": ["a"]}),
                "always",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "http": {"url": "ftp://a"}}),
                "url",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "http": {"url": "http://a", "method": "TRACE"}}),
                "method",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "command": ["a"], "timeout": 0}),
                "timeout",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "plugin_action": "a b"}),
                "action",
            ),
            (
                serde_json::json!({"name": "x", "when": "before_backup", "http": {"url": "http://a"}, "secrets": ["p"]}),
                "only a command",
            ),
        ] {
            let e = check_steps(&[step(bad)]).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        let twice = [good[0].clone(), good[0].clone()];
        assert!(check_steps(&twice).unwrap_err().contains("two steps"));
        assert!(
            serde_json::from_value::<Step>(
                serde_json::json!({"name": "x", "when": "never", "command": ["a"]})
            )
            .is_err()
        );
    }
}
