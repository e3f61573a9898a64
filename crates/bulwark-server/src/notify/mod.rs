//! Notifications: channels (a signed webhook, email over SMTP) told of the events they chose.
//!
//! An event is queued in the catalog as one delivery per channel that wants it; the sender
//! takes due deliveries and tries each, and a try that fails is tried again after
//! `notifications.retry_delay` seconds, then twice that, and so on (at most an hour apart),
//! until `notifications.attempts` tries have failed. Nothing here ever blocks or fails a task:
//! queueing is one catalog write, and sending happens on its own.

pub mod email;
pub mod event;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use bulwark_catalog::{Catalog, Delivery};
use bulwark_core::clock::Clock;

use crate::config::NotificationsConfig;
use crate::vault::Vault;
pub use event::{Event, Named, Payload};

/// Sends notifications; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Catalog,
    clock: Arc<dyn Clock>,
    vault: Vault,
    config: NotificationsConfig,
    http: reqwest::Client,
    wake: Notify,
}

/// Deliveries tried at once.
const BATCH: i64 = 8;

/// The longest wait between two tries of one delivery.
const MAX_DELAY: u64 = 3600;

/// A channel's settings, checked: what a kind needs, and nothing else.
pub enum Settings {
    Webhook(webhook::Webhook),
    Email(email::Email),
}

/// Checks a channel's settings (its config opened) for its kind.
pub fn parse_settings(kind: &str, config: &Map<String, Value>) -> Result<Settings, String> {
    match kind {
        "webhook" => webhook::parse(config).map(Settings::Webhook),
        "email" => email::parse(config).map(Settings::Email),
        other => Err(format!("kind must be webhook or email, not '{other}'")),
    }
}

impl Notifier {
    /// A notifier over `catalog`; nothing is sent until [`Notifier::run`].
    pub fn new(
        catalog: Catalog,
        clock: Arc<dyn Clock>,
        vault: Vault,
        config: NotificationsConfig,
    ) -> Notifier {
        let timeout = Duration::from_secs(config.timeout);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Notifier {
            inner: Arc::new(Inner {
                catalog,
                clock,
                vault,
                config,
                http,
                wake: Notify::new(),
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &NotificationsConfig {
        &self.inner.config
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    /// Queues `payload` for the channels that want it. Never fails: a notification that cannot
    /// be queued is logged.
    pub async fn announce(&self, payload: &Payload) {
        match self
            .inner
            .catalog
            .queue_notice(&payload.notice(), self.now())
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(event = %payload.event, deliveries = n, "Notification queued.");
                self.inner.wake.notify_one();
            }
            Err(err) => {
                tracing::error!(event = %payload.event, error = %err, "Cannot queue a notification.");
            }
        }
    }

    /// Sends a test to one channel now, once, and returns the delivery as recorded.
    pub async fn test(
        &self,
        channel: &bulwark_catalog::Channel,
        by: &str,
    ) -> Result<Delivery, String> {
        let p = Payload::new(
            Event::Test,
            self.now(),
            format!(
                "A test from Bulwark, sent by {by} to the channel '{}'.",
                channel.name
            ),
        );
        let notice = p.notice();
        let catalog = &self.inner.catalog;
        let id = catalog
            .queue_notice_to(channel.uuid, &notice, self.now())
            .await
            .map_err(|e| e.to_string())?;
        let d = catalog
            .get_delivery(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the test delivery vanished")?;
        self.attempt_and_record(&d, false).await;
        catalog
            .get_delivery(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the test delivery vanished".to_string())
    }

    /// Sends due deliveries until `stop`.
    pub async fn run(&self, stop: CancellationToken) {
        loop {
            let due = match self.inner.catalog.due_deliveries(self.now(), BATCH).await {
                Ok(d) => d,
                Err(err) => {
                    tracing::error!(error = %err, "Cannot read the notifications due.");
                    Vec::new()
                }
            };
            // A full batch means more may be waiting: go on at once.
            let full = due.len() as i64 == BATCH;
            futures_util::future::join_all(due.iter().map(|d| self.attempt_and_record(d, true)))
                .await;
            if full {
                continue;
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => break,
            }
        }
    }

    /// Tries a delivery once and records how it went; `retry` says whether a failure is tried
    /// again later.
    async fn attempt_and_record(&self, d: &Delivery, retry: bool) {
        let result = self.attempt(d).await;
        let catalog = &self.inner.catalog;
        let recorded = match result {
            Ok(()) => {
                tracing::info!(delivery = %d.uuid, channel = %d.channel_name, event = %d.event, "Notification sent.");
                catalog.delivery_sent(d.uuid, self.now()).await
            }
            Err(err) => {
                let tries = d.attempts + 1;
                let retry_at =
                    (retry && tries < i64::from(self.inner.config.attempts)).then(|| {
                        let shift = u32::try_from(d.attempts).unwrap_or(u32::MAX).min(20);
                        let wait = self
                            .inner
                            .config
                            .retry_delay
                            .saturating_mul(1 << shift)
                            .min(MAX_DELAY);
                        self.now() + i64::try_from(wait).unwrap_or(3600)
                    });
                tracing::warn!(delivery = %d.uuid, channel = %d.channel_name, event = %d.event,
                    tries, error = %err, given_up = retry_at.is_none(), "Notification not delivered.");
                catalog.delivery_failed(d.uuid, &err, retry_at).await
            }
        };
        if let Err(err) = recorded {
            tracing::error!(delivery = %d.uuid, error = %err, "Cannot record a notification try.");
        }
    }

    /// One try; the error hides the channel's secrets.
    async fn attempt(&self, d: &Delivery) -> Result<(), String> {
        let channel = self
            .inner
            .catalog
            .get_channel(d.channel)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the channel no longer exists")?;
        if !channel.enabled && d.event != Event::Test.as_str() {
            return Err("the channel is disabled".into());
        }
        let plain = crate::sealing::open(&self.inner.vault, &channel.config)
            .map_err(|e| format!("the channel's settings cannot be opened: {e}"))?;
        let secrets = bulwark_runner::secret_values(&plain, &[]);
        let config: Map<String, Value> = serde_json::from_str(&plain)
            .map_err(|e| format!("the channel's settings are not a JSON object: {e}"))?;
        let sent = match parse_settings(&channel.kind, &config)? {
            Settings::Webhook(hook) => {
                webhook::send(
                    &self.inner.http,
                    &hook,
                    &d.event,
                    d.uuid,
                    &d.payload,
                    self.now(),
                )
                .await
            }
            Settings::Email(mail) => {
                let payload: Value = serde_json::from_str(&d.payload).unwrap_or_default();
                let (subject, body) = event::email_text(&payload);
                let timeout = Duration::from_secs(self.inner.config.timeout);
                email::send(&mail, &subject, body, timeout).await
            }
        };
        sent.map_err(|e| bulwark_core::redact::hide_secrets(&e, &secrets))
    }
}
