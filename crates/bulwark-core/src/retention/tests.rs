#![allow(clippy::unwrap_used)]

use super::*;
use chrono::TimeZone;

fn at(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
}

fn items(times: &[&str]) -> Vec<Item<String>> {
    times
        .iter()
        .map(|t| Item {
            id: (*t).to_string(),
            taken_at: at(t),
            pinned: false,
        })
        .collect()
}

/// The kept archives' ids, newest first.
fn kept(times: &[&str], rules: &Rules, now: &str, tz: Tz) -> Vec<String> {
    let now = Utc.timestamp_opt(at(now), 0).unwrap();
    decide(&items(times), rules, now, tz)
        .into_iter()
        .filter(|v| v.keep())
        .map(|v| v.id)
        .collect()
}

#[test]
fn daily_keeps_the_newest_of_each_day() {
    let times = [
        "2026-03-01 23:59",
        "2026-03-01 08:00",
        "2026-03-02 00:00",
        "2026-03-02 12:00",
        "2026-03-04 09:00",
    ];
    let rules = Rules {
        keep_daily: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-05 00:00", chrono_tz::UTC),
        ["2026-03-04 09:00", "2026-03-02 12:00"]
    );
    // Counts left when the oldest is reached: its day's newest was kept; it is not (restic 0.14).
    let rules = Rules {
        keep_daily: Some(7),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-05 00:00", chrono_tz::UTC),
        ["2026-03-04 09:00", "2026-03-02 12:00", "2026-03-01 23:59"]
    );
}

#[test]
fn weeks_start_on_monday_and_years_turn_at_new_year() {
    // 2026-03-01 is a Sunday, 2026-03-02 a Monday.
    let times = ["2026-03-02 10:00", "2026-03-01 10:00", "2026-02-28 10:00"];
    let rules = Rules {
        keep_weekly: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-03 00:00", chrono_tz::UTC),
        ["2026-03-02 10:00", "2026-03-01 10:00"]
    );
    let times = ["2027-01-01 00:30", "2026-12-31 23:30", "2026-06-01 00:00"];
    let rules = Rules {
        keep_yearly: Some(1),
        keep_monthly: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2027-01-02 00:00", chrono_tz::UTC),
        ["2027-01-01 00:30", "2026-12-31 23:30"]
    );
}

#[test]
fn days_are_the_policy_zone_s_days_across_dst_and_leap_days() {
    // In Berlin, 2026-03-28 23:30 UTC is already 00:30 on the 29th (the day DST starts).
    let times = ["2026-03-29 01:30", "2026-03-28 23:30", "2026-03-28 21:00"];
    let rules = Rules {
        keep_daily: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(
            &times,
            &rules,
            "2026-03-30 00:00",
            chrono_tz::Europe::Berlin
        ),
        ["2026-03-29 01:30", "2026-03-28 21:00"]
    );
    assert_eq!(
        kept(&times, &rules, "2026-03-30 00:00", chrono_tz::UTC),
        ["2026-03-29 01:30", "2026-03-28 23:30"]
    );
    let times = ["2028-03-01 01:00", "2028-02-29 01:00", "2028-02-28 01:00"];
    let rules = Rules {
        keep_daily: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2028-03-02 00:00", chrono_tz::UTC),
        ["2028-03-01 01:00", "2028-02-29 01:00"]
    );
}

#[test]
fn last_within_expires_and_pins() {
    let times = [
        "2026-03-10 10:00",
        "2026-03-10 10:00",
        "2026-03-09 10:00",
        "2026-03-01 10:00",
        "2026-01-01 10:00",
    ];
    let rules = Rules {
        keep_last: Some(2),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-11 00:00", chrono_tz::UTC).len(),
        2
    );
    let rules = Rules {
        keep_within: Some(2 * 86_400),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2027-01-01 00:00", chrono_tz::UTC).len(),
        3
    );
    let rules = Rules {
        expires: Some(10 * 86_400),
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-15 00:00", chrono_tz::UTC).len(),
        3,
        "younger than ten days"
    );
    let mut list = items(&times);
    list[4].pinned = true;
    let now = Utc.timestamp_opt(at("2030-01-01 00:00"), 0).unwrap();
    let v = decide(&list, &rules, now, chrono_tz::UTC);
    assert_eq!(v[4].reasons, [Reason::Pinned]);
    assert!(v[..4].iter().all(|v| !v.keep()));
}

#[test]
fn min_good_holds_the_newest_when_every_rule_lets_go() {
    // Backups failed for weeks: the one week expiry would purge every archive left.
    let times = ["2026-02-01 04:00", "2026-01-31 04:00", "2026-01-30 04:00"];
    let rules = Rules {
        expires: Some(7 * 86_400),
        min_good: 1,
        ..Rules::default()
    };
    assert_eq!(
        kept(&times, &rules, "2026-03-01 00:00", chrono_tz::UTC),
        ["2026-02-01 04:00"]
    );
    let rules = Rules {
        min_good: 2,
        ..rules
    };
    let now = Utc.timestamp_opt(at("2026-03-01 00:00"), 0).unwrap();
    let v = decide(&items(&times), &rules, now, chrono_tz::UTC);
    assert_eq!(v[0].reasons, [Reason::MinGood]);
    assert_eq!(v[1].reasons, [Reason::MinGood]);
    assert!(!v[2].keep());
    let none: Vec<Item<String>> = Vec::new();
    assert!(decide(&none, &rules, now, chrono_tz::UTC).is_empty());
}
