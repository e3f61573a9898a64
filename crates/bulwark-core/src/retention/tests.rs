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

#[test]
fn until_says_when_an_archive_could_go_at_the_earliest() {
    let times = ["2026-03-04 09:00", "2026-03-03 09:00", "2026-03-01 09:00"];
    let rules = Rules {
        expires: Some(2 * 86_400),
        keep_within: Some(3 * 86_400),
        keep_last: Some(1),
        ..Rules::default()
    };
    let now = Utc.timestamp_opt(at("2026-03-04 10:00"), 0).unwrap();
    let v = decide(&items(&times), &rules, now, chrono_tz::UTC);
    // The newest is held by a count: it goes only when newer ones push it out.
    assert_eq!(v[0].until, None);
    // Held by expires (2 days) and keep_within (3 days): the later of the two.
    assert_eq!(v[1].reasons, [Reason::Expires, Reason::Within]);
    assert_eq!(v[1].until, Some(at("2026-03-06 09:00")));
    // Held by nothing: due now.
    assert!(!v[2].keep());
    assert_eq!(v[2].until, Some(now.timestamp()));
    assert!(rules.keeps_anything());
    assert!(!Rules::default().keeps_anything());
    let json = serde_json::to_string(&rules).unwrap();
    assert_eq!(
        json,
        r#"{"expires":172800,"keep_last":1,"keep_within":259200,"min_good":0}"#
    );
    assert_eq!(serde_json::from_str::<Rules>(&json).unwrap(), rules);
}

#[test]
fn decide_all_decides_each_group_by_its_own_rules() {
    let member = |id: &str, t: &str, group: &str, keep_last: u32| Member {
        item: Item {
            id: id.to_string(),
            taken_at: at(t),
            pinned: false,
        },
        group: group.into(),
        rules: Rules {
            keep_last: Some(keep_last),
            ..Rules::default()
        },
    };
    let all = [
        member("a1", "2026-03-01 00:00", "a", 1),
        member("b1", "2026-03-01 00:00", "b", 2),
        member("a2", "2026-03-02 00:00", "a", 1),
        member("b2", "2026-03-02 00:00", "b", 2),
        member("b3", "2026-03-03 00:00", "b", 2),
    ];
    let now = Utc.timestamp_opt(at("2026-03-04 00:00"), 0).unwrap();
    let mut kept: Vec<String> = decide_all(&all, now, chrono_tz::UTC)
        .into_iter()
        .filter(|v| v.keep())
        .map(|v| v.id)
        .collect();
    kept.sort();
    assert_eq!(kept, ["a2", "b2", "b3"]);
}

#[test]
fn rules_read_as_words() {
    let rules = Rules {
        expires: Some(30 * 86_400),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_within: Some(36 * 3600),
        min_good: 1,
        ..Rules::default()
    };
    assert_eq!(
        rules.describe(),
        "for 4w2d, 7 daily, 4 weekly, all within 1d12h of the newest, at least 1 left"
    );
    assert_eq!(span(3600), "1h");
    assert_eq!(span(90 * 60), "1h30m");
    assert_eq!(span(45), "45s");
    assert_eq!(span(14 * 86_400), "2w");
}
