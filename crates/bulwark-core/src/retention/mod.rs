//! Retention rules: which archives of one job (one target into one store) a policy keeps, and
//! why, as a pure function of the archives, the rules and the time.
//!
//! The count rules follow restic's `forget` (the semantics its users know): archives are looked
//! at newest first; `keep_last N` keeps the N newest; `keep_hourly`, `keep_daily`,
//! `keep_weekly`, `keep_monthly` and `keep_yearly N` keep the newest archive of each of the N
//! newest hours, days, ISO weeks (a week starts on Monday), months or years that have one, in the
//! policy's time zone (as restic 0.14 does; later versions also keep the oldest archive while a
//! rule has counts left, which this does not). `keep_within` keeps every archive taken within that long of the newest one. On top of
//! restic: `expires` (the seed's one field) keeps every archive younger than that, pinned
//! archives are always kept, and `min_good` never lets fewer than N archives remain (the newest
//! of those a rule would purge are kept instead). An archive no rule keeps is purged.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A policy's rules. As JSON (an archive whose job was deleted keeps them), absent rules are
/// left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Keep archives younger than this many seconds (the seed's `expires`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    /// Keep the N newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest of each of the N newest hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// ... days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// ... ISO weeks (Monday to Sunday).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// ... months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// ... years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep every archive taken within this many seconds of the newest one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<i64>,
    /// Never leave fewer than this many archives (default 1).
    pub min_good: u32,
}

/// Why an archive is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// An operator pinned it.
    Pinned,
    /// Younger than `expires`.
    Expires,
    /// One of the `keep_last` newest.
    Last,
    /// The newest of its hour.
    Hourly,
    /// The newest of its day.
    Daily,
    /// The newest of its week.
    Weekly,
    /// The newest of its month.
    Monthly,
    /// The newest of its year.
    Yearly,
    /// Within `keep_within` of the newest.
    Within,
    /// Kept so that `min_good` archives remain.
    MinGood,
}

impl Reason {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Pinned => "pinned",
            Reason::Expires => "expires",
            Reason::Last => "keep_last",
            Reason::Hourly => "keep_hourly",
            Reason::Daily => "keep_daily",
            Reason::Weekly => "keep_weekly",
            Reason::Monthly => "keep_monthly",
            Reason::Yearly => "keep_yearly",
            Reason::Within => "keep_within",
            Reason::MinGood => "min_good",
        }
    }
}

/// One archive as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<T> {
    /// Whatever identifies it to the caller.
    pub id: T,
    /// When it was taken (Unix seconds).
    pub taken_at: i64,
    /// An operator pinned it.
    pub pinned: bool,
}

/// What the rules say of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<T> {
    /// The archive.
    pub id: T,
    /// When it was taken.
    pub taken_at: i64,
    /// Why it is kept; empty when it is purged.
    pub reasons: Vec<Reason>,
    /// The earliest time it could go: `None` while a count rule, `min_good` or a pin holds it
    /// (it goes only when newer archives push it out); `taken_at` plus `expires` or
    /// `keep_within` when only those hold it; when it is purged, the time of the decision.
    pub until: Option<i64>,
}

impl<T> Verdict<T> {
    /// True when some rule keeps it.
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// A count rule: its reason, its count left, the bucket of the archive it kept last.
struct Bucket {
    reason: Reason,
    left: Option<u32>,
    last: Option<i64>,
    key: fn(DateTime<Tz>, usize) -> i64,
}

fn hour(t: DateTime<Tz>, _: usize) -> i64 {
    i64::from(t.year()) * 1_000_000 + i64::from(t.ordinal()) * 100 + i64::from(t.hour())
}
fn day(t: DateTime<Tz>, _: usize) -> i64 {
    i64::from(t.year()) * 1000 + i64::from(t.ordinal())
}
fn week(t: DateTime<Tz>, _: usize) -> i64 {
    let w = t.iso_week();
    i64::from(w.year()) * 100 + i64::from(w.week())
}
fn month(t: DateTime<Tz>, _: usize) -> i64 {
    i64::from(t.year()) * 100 + i64::from(t.month())
}
fn year(t: DateTime<Tz>, _: usize) -> i64 {
    i64::from(t.year())
}
fn nth(_: DateTime<Tz>, n: usize) -> i64 {
    n as i64
}

/// Decides every archive of one job at `now`, in `tz`. The answer is newest first.
pub fn decide<T: Clone>(
    items: &[Item<T>],
    rules: &Rules,
    now: DateTime<Utc>,
    tz: Tz,
) -> Vec<Verdict<T>> {
    let mut list: Vec<&Item<T>> = items.iter().collect();
    // Newest first; archives taken at the same second keep the caller's order.
    list.sort_by_key(|i| std::cmp::Reverse(i.taken_at));
    let mut buckets: Vec<Bucket> = [
        (
            Reason::Last,
            rules.keep_last,
            nth as fn(DateTime<Tz>, usize) -> i64,
        ),
        (Reason::Hourly, rules.keep_hourly, hour),
        (Reason::Daily, rules.keep_daily, day),
        (Reason::Weekly, rules.keep_weekly, week),
        (Reason::Monthly, rules.keep_monthly, month),
        (Reason::Yearly, rules.keep_yearly, year),
    ]
    .into_iter()
    .filter_map(|(reason, n, key)| {
        n.filter(|n| *n > 0).map(|n| Bucket {
            reason,
            left: Some(n),
            last: None,
            key,
        })
    })
    .collect();
    let newest = list.first().map(|i| i.taken_at);
    let mut out = Vec::with_capacity(list.len());
    for (nr, item) in list.iter().enumerate() {
        let mut reasons = Vec::new();
        if item.pinned {
            reasons.push(Reason::Pinned);
        }
        if let Some(e) = rules.expires
            && now.timestamp() < item.taken_at.saturating_add(e)
        {
            reasons.push(Reason::Expires);
        }
        let local = tz.from_utc_datetime(
            &DateTime::<Utc>::from_timestamp(item.taken_at, 0)
                .unwrap_or_default()
                .naive_utc(),
        );
        for b in &mut buckets {
            if b.left == Some(0) {
                continue;
            }
            let key = (b.key)(local, nr);
            if b.last != Some(key) {
                b.last = Some(key);
                b.left = b.left.map(|l| l - 1);
                reasons.push(b.reason);
            }
        }
        if let (Some(w), Some(n)) = (rules.keep_within, newest)
            && item.taken_at > n.saturating_sub(w)
        {
            reasons.push(Reason::Within);
        }
        out.push(Verdict {
            id: item.id.clone(),
            taken_at: item.taken_at,
            until: until(item.taken_at, &reasons, rules, now.timestamp()),
            reasons,
        });
    }
    let kept = out.iter().filter(|v| v.keep()).count();
    let mut short = (rules.min_good as usize).saturating_sub(kept);
    for v in out.iter_mut() {
        if short == 0 {
            break;
        }
        if !v.keep() {
            v.reasons.push(Reason::MinGood);
            v.until = None;
            short -= 1;
        }
    }
    out
}

/// One archive among all of them: its group (the archives that count together, such as one
/// job's archives of one target in one store) and the rules of that group.
#[derive(Debug, Clone)]
pub struct Member<T> {
    /// The archive.
    pub item: Item<T>,
    /// Archives with the same group are decided together.
    pub group: String,
    /// The group's rules.
    pub rules: Rules,
}

/// Decides every archive: each group by its own rules (those of its first member). This is the
/// whole retention sweep; its caller only reads the archives and queues the purges.
pub fn decide_all<T: Clone>(members: &[Member<T>], now: DateTime<Utc>, tz: Tz) -> Vec<Verdict<T>> {
    let mut groups: std::collections::BTreeMap<&str, (&Rules, Vec<Item<T>>)> =
        std::collections::BTreeMap::new();
    for m in members {
        groups
            .entry(m.group.as_str())
            .or_insert_with(|| (&m.rules, Vec::new()))
            .1
            .push(m.item.clone());
    }
    groups
        .into_values()
        .flat_map(|(rules, items)| decide(&items, rules, now, tz))
        .collect()
}

/// Seconds in the largest units that say them exactly: `2w`, `36h`, `90m`, `45s`, `1d12h`.
fn span(s: i64) -> String {
    let mut left = s;
    let mut out = String::new();
    for (unit, secs) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if left >= secs && (left % secs == 0 || out.len() < 4) {
            out.push_str(&format!("{}{unit}", left / secs));
            left %= secs;
        }
        if left == 0 {
            return out;
        }
    }
    out.push_str(&format!("{left}s"));
    out
}

/// The earliest time an archive kept for `reasons` could go (see [`Verdict::until`]).
fn until(taken_at: i64, reasons: &[Reason], rules: &Rules, now: i64) -> Option<i64> {
    if reasons.is_empty() {
        return Some(now);
    }
    let mut at = taken_at;
    for r in reasons {
        let by = match r {
            Reason::Expires => rules.expires,
            Reason::Within => rules.keep_within,
            _ => return None,
        };
        at = at.max(taken_at.saturating_add(by.unwrap_or(0)));
    }
    Some(at)
}

impl Rules {
    /// The rules in words: `for 30d, 7 daily, 4 weekly, at least 1 left`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = self.expires {
            parts.push(format!("for {}", span(e)));
        }
        for (n, word) in [
            (self.keep_last, "last"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ] {
            if let Some(n) = n.filter(|n| *n > 0) {
                parts.push(format!("{n} {word}"));
            }
        }
        if let Some(w) = self.keep_within {
            parts.push(format!("all within {} of the newest", span(w)));
        }
        if self.min_good > 0 {
            parts.push(format!("at least {} left", self.min_good));
        }
        parts.join(", ")
    }

    /// True when some rule can keep an archive (a policy of none would purge everything).
    pub fn keeps_anything(&self) -> bool {
        self.expires.is_some()
            || self.keep_within.is_some()
            || [
                self.keep_last,
                self.keep_hourly,
                self.keep_daily,
                self.keep_weekly,
                self.keep_monthly,
                self.keep_yearly,
            ]
            .into_iter()
            .any(|n| n.is_some_and(|n| n > 0))
    }
}
