use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::Schedule;

fn parse(s: &str) -> Schedule {
    s.parse()
        .unwrap_or_else(|e| panic!("'{s}' should parse: {e}"))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Local wall time in `tz`, as an instant (the earlier one if ambiguous).
fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn canonical_forms() {
    let cases = [
        ("daily at 4am", "daily at 4:00"),
        ("daily 4am", "daily at 4:00"),
        ("Daily At 4 AM", "daily at 4:00"),
        ("every day at 16:00", "daily at 16:00"),
        ("daily at 12am", "daily at 0:00"),
        ("daily at 12pm", "daily at 12:00"),
        ("daily at 2:30pm", "daily at 14:30"),
        ("daily at 2 pm", "daily at 14:00"),
        ("sundays 8am", "sundays at 8:00"),
        ("thurs at 11:35pm", "thursdays at 23:35"),
        ("weekly at 8am on sunday", "sundays at 8:00"),
        ("weekly on tue at 8am", "tuesdays at 8:00"),
        ("hourly at :15", "hourly at :15"),
        ("hourly at x:15", "hourly at :15"),
        ("hourly at h:05", "hourly at :05"),
        ("hourly at *:45", "hourly at :45"),
        ("hourly at 15", "hourly at :15"),
        ("hourly 10", "hourly at :10"),
        ("every hour at quarter past", "hourly at :15"),
        ("hourly at half past", "hourly at :30"),
        ("hourly at quarter til", "hourly at :45"),
        ("hourly at 10 until", "hourly at :50"),
        ("monthly at 4am on 15th", "monthly at 4:00 on 15th"),
        ("monthly 4am 1", "monthly at 4:00 on 1st"),
        ("monthly on 22nd at 1:05", "monthly at 1:05 on 22nd"),
        ("2nd tuesday at 23:15", "2nd tuesday at 23:15"),
        ("1st mon 4pm", "1st monday at 16:00"),
        ("5th fridays at 6:00", "5th friday at 6:00"),
        ("every minute", "every minute"),
        ("every 15 minutes", "every 15 minutes"),
        ("every 7 minutes from 0:03", "every 7 minutes from 0:03"),
        ("every quarter hour", "every 15 minutes"),
        ("every half hour from :10", "every 30 minutes from 0:10"),
        ("every 6 hours from 4:39", "every 6 hours from 4:39"),
        ("every 4 hours", "every 4 hours"),
        ("every 1 hour from 0:20", "hourly at :20"),
        ("every 90s", "every 1m30s"),
        ("every 4h", "every 4h"),
        ("every 1h30m", "every 1h30m"),
        ("every 2d", "every 2d"),
        ("0 4 * * *", "0 4 * * *"),
        ("0/3  *  * * * *", "0/3 * * * * *"),
        ("30 2 * * MON-FRI", "30 2 * * MON-FRI"),
    ];
    for (input, canonical) in cases {
        let spec = parse(input);
        assert_eq!(spec.to_string(), canonical, "canonical form of '{input}'");
        assert_eq!(
            parse(canonical),
            spec,
            "'{canonical}' parses back to the same spec"
        );
        assert_eq!(parse(canonical).to_string(), canonical);
    }
}

#[test]
fn errors_say_what_and_where() {
    let cases = [
        (
            "daily at 25:00",
            "daily at 25:00: hour 25 is out of range (0 to 23)",
        ),
        (
            "daily at 4:60",
            "daily at 4:60: minute 60 is out of range (0 to 59)",
        ),
        (
            "daily at 13pm",
            "daily at 13pm: hour 13 cannot take pm: with am/pm the hour is 1 to 12",
        ),
        (
            "daily at 0am",
            "daily at 0am: hour 0 cannot take am: with am/pm the hour is 1 to 12",
        ),
        (
            "daily at 4",
            "daily at 4: '4' is not a time: write 4am, 4pm or 4:00",
        ),
        (
            "daily at",
            "daily at: expected a time like 4am or 16:00, found the end",
        ),
        (
            "monthly at 4am on 32nd",
            "monthly at 4am on 32nd: day-of-month 32 is out of range (1 to 31)",
        ),
        (
            "6th monday at 4am",
            "6th monday at 4am: week-of-month 6 is out of range (1st to 5th)",
        ),
        (
            "2nd funday at 4am",
            "2nd funday at 4am: expected a weekday after '2nd', found 'funday'",
        ),
        (
            "every 4 hours from 5:30",
            "every 4 hours from 5:30: 'from 5:30' is not less than the interval of 4 hours; use from 1:30",
        ),
        (
            "every 24 hours",
            "every 24 hours: every 24 hours: the interval must be 1 to 23",
        ),
        (
            "every 0 minutes",
            "every 0 minutes: every 0 minutes: the interval must be 1 to 1440",
        ),
        (
            "hourly at :75",
            "hourly at :75: minute 75 is out of range (0 to 59)",
        ),
        (
            "hourly at",
            "hourly at: expected the minute of the hour, as in 'hourly at :15'",
        ),
        (
            "daily at 4am please",
            "daily at 4am please: unexpected 'please' after a complete schedule ('daily at 4:00')",
        ),
        ("", ": the schedule is empty"),
        (
            "every 0s",
            "every 0s: an interval must be at least 1 second",
        ),
        ("60 * * * *", "60 * * * *: not a valid cron expression"),
        ("yearly", "yearly: 'yearly' does not start a schedule"),
        ("daily at 4am!", "daily at 4am!: unexpected character '!'"),
    ];
    for (input, want) in cases {
        let err = input.parse::<Schedule>().expect_err(input).to_string();
        assert!(
            err.starts_with(want),
            "'{input}': got '{err}', want prefix '{want}'"
        );
    }
}

#[test]
fn next_is_strictly_after() {
    let spec = parse("daily at 4am");
    let at_four = utc(2026, 3, 10, 4, 0);
    assert_eq!(
        spec.next_after(at_four, chrono_tz::UTC),
        Some(utc(2026, 3, 11, 4, 0))
    );
    let before = utc(2026, 3, 10, 3, 59);
    assert_eq!(spec.next_after(before, chrono_tz::UTC), Some(at_four));
}

#[test]
fn calendar_cases_in_utc() {
    // 2026-11-22 is a Sunday.
    let now = utc(2026, 11, 22, 10, 30);
    let cases = [
        ("hourly at :15", utc(2026, 11, 22, 11, 15)),
        ("hourly at :45", utc(2026, 11, 22, 10, 45)),
        ("daily at 10:30", utc(2026, 11, 23, 10, 30)),
        ("sundays at 11am", utc(2026, 11, 22, 11, 0)),
        ("sundays at 8am", utc(2026, 11, 29, 8, 0)),
        ("wednesdays at 1am", utc(2026, 11, 25, 1, 0)),
        ("monthly at 4am on 1st", utc(2026, 12, 1, 4, 0)),
        ("monthly at 4am on 22nd", utc(2026, 12, 22, 4, 0)),
        ("4th sunday at 11:00", utc(2026, 11, 22, 11, 0)),
        ("1st monday at 9am", utc(2026, 12, 7, 9, 0)),
        ("every 15 minutes", utc(2026, 11, 22, 10, 45)),
        ("every 7 minutes from 0:03", utc(2026, 11, 22, 10, 33)),
        ("every 6 hours from 4:39", utc(2026, 11, 22, 10, 39)),
        ("every 5 hours", utc(2026, 11, 22, 15, 0)),
        ("every minute", utc(2026, 11, 22, 10, 31)),
        ("every 1h", utc(2026, 11, 22, 11, 0)),
        ("*/20 * * * *", utc(2026, 11, 22, 10, 40)),
    ];
    for (spec, want) in cases {
        assert_eq!(
            parse(spec).next_after(now, chrono_tz::UTC),
            Some(want),
            "{spec}"
        );
    }
}

#[test]
fn every_n_restarts_each_day() {
    // 0:03 + k*7 minutes: the last slot of the day is 23:58 (3 + 205*7), then 0:03 the next day.
    let spec = parse("every 7 minutes from 0:03");
    assert_eq!(
        spec.next_after(utc(2026, 1, 1, 23, 58), chrono_tz::UTC),
        Some(utc(2026, 1, 2, 0, 3))
    );
    assert_eq!(
        spec.next_after(utc(2026, 1, 1, 23, 51), chrono_tz::UTC),
        Some(utc(2026, 1, 1, 23, 58))
    );
    // 4:39 + k*6h: 22:39 is last, then 4:39.
    let spec = parse("every 6 hours from 4:39");
    assert_eq!(
        spec.next_after(utc(2026, 1, 1, 22, 39), chrono_tz::UTC),
        Some(utc(2026, 1, 2, 4, 39))
    );
}

#[test]
fn month_ends_and_leap_years() {
    let on_31st = parse("monthly at 1:00 on 31st");
    // From the end of January, the next 31st is in March (February and April are skipped).
    assert_eq!(
        on_31st.next_after(utc(2026, 1, 31, 2, 0), chrono_tz::UTC),
        Some(utc(2026, 3, 31, 1, 0))
    );
    assert_eq!(
        on_31st.next_after(utc(2026, 3, 31, 2, 0), chrono_tz::UTC),
        Some(utc(2026, 5, 31, 1, 0))
    );
    let on_30th = parse("monthly at 1:00 on 30th");
    assert_eq!(
        on_30th.next_after(utc(2026, 1, 30, 2, 0), chrono_tz::UTC),
        Some(utc(2026, 3, 30, 1, 0))
    );
    let on_29th = parse("monthly at 1:00 on 29th");
    // 2028 is a leap year, 2026 and 2100 are not.
    assert_eq!(
        on_29th.next_after(utc(2026, 1, 29, 2, 0), chrono_tz::UTC),
        Some(utc(2026, 3, 29, 1, 0))
    );
    assert_eq!(
        on_29th.next_after(utc(2028, 1, 29, 2, 0), chrono_tz::UTC),
        Some(utc(2028, 2, 29, 1, 0))
    );
    assert_eq!(
        on_29th.next_after(utc(2100, 1, 29, 2, 0), chrono_tz::UTC),
        Some(utc(2100, 3, 29, 1, 0))
    );
    // Year end.
    assert_eq!(
        parse("daily at 0:00").next_after(utc(2026, 12, 31, 0, 0), chrono_tz::UTC),
        Some(utc(2027, 1, 1, 0, 0))
    );
    // Cron on Feb 29th only.
    let leap_cron = parse("0 12 29 2 *");
    assert_eq!(
        leap_cron.next_after(utc(2026, 3, 1, 0, 0), chrono_tz::UTC),
        Some(utc(2028, 2, 29, 12, 0))
    );
}

#[test]
fn fifth_weekday_skips_months_without_one() {
    let spec = parse("5th friday at 6:00");
    // January 2026 has five Fridays (the 30th); February and March have four... March 2026 has
    // Fridays 6, 13, 20, 27: four. May 2026 has 1, 8, 15, 22, 29: five.
    assert_eq!(
        spec.next_after(utc(2026, 1, 1, 0, 0), chrono_tz::UTC),
        Some(utc(2026, 1, 30, 6, 0))
    );
    assert_eq!(
        spec.next_after(utc(2026, 1, 30, 7, 0), chrono_tz::UTC),
        Some(utc(2026, 5, 29, 6, 0))
    );
    // The 1st weekday is within days 1..7 even when the month starts on it.
    let first = parse("1st tuesday at 6:00");
    assert_eq!(
        first.next_after(utc(2026, 8, 31, 0, 0), chrono_tz::UTC),
        Some(utc(2026, 9, 1, 6, 0))
    );
}

#[test]
fn evaluated_in_the_configured_zone() {
    let ny: Tz = "America/New_York".parse().unwrap();
    let spec = parse("daily at 4am");
    // 12:00 UTC on a winter day is 7:00 in New York (UTC-5); 4am New York is 9:00 UTC.
    assert_eq!(
        spec.next_after(utc(2026, 1, 15, 12, 0), ny),
        Some(utc(2026, 1, 16, 9, 0))
    );
    // In summer New York is UTC-4.
    assert_eq!(
        spec.next_after(utc(2026, 7, 15, 12, 0), ny),
        Some(utc(2026, 7, 16, 8, 0))
    );
    // Weekday is judged locally: Sunday 23:30 in New York is Monday 04:30 UTC.
    let sundays = parse("sundays at 11:30pm");
    assert_eq!(
        sundays.next_after(utc(2026, 11, 20, 0, 0), ny),
        Some(utc(2026, 11, 23, 4, 30))
    );
}

#[test]
fn dst_spring_forward_runs_at_end_of_gap() {
    // Europe/Berlin, 2026-03-29: clocks jump from 2:00 to 3:00 (UTC+1 to UTC+2).
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let spec = parse("daily at 2:30");
    let next = spec.next_after(utc(2026, 3, 28, 12, 0), berlin);
    // 2:30 does not exist that day: it runs at 3:00 local, which is 1:00 UTC.
    assert_eq!(next, Some(utc(2026, 3, 29, 1, 0)));
    // And the day after, at 2:30 local again (UTC+2).
    assert_eq!(
        spec.next_after(utc(2026, 3, 29, 1, 0), berlin),
        Some(local(berlin, 2026, 3, 30, 2, 30))
    );
    // Every 15 minutes through the gap: the 2:xx slots collapse into one run at 3:00.
    let q = parse("every 15 minutes");
    let t1 = q.next_after(utc(2026, 3, 29, 0, 50), berlin).unwrap(); // 1:50 local
    assert_eq!(t1, utc(2026, 3, 29, 1, 0)); // 3:00 local
    let t2 = q.next_after(t1, berlin).unwrap();
    assert_eq!(t2, utc(2026, 3, 29, 1, 15)); // 3:15 local
}

#[test]
fn dst_fall_back_runs_once_at_the_first() {
    // Europe/Berlin, 2026-10-25: 3:00 goes back to 2:00; 2:30 happens twice.
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let spec = parse("daily at 2:30");
    let first = spec.next_after(utc(2026, 10, 24, 12, 0), berlin).unwrap();
    assert_eq!(first, utc(2026, 10, 25, 0, 30)); // 2:30 CEST (UTC+2)
    // From the first 2:30, the next run is the next day, not the repeated 2:30.
    let second = spec.next_after(first, berlin).unwrap();
    assert_eq!(second, utc(2026, 10, 26, 1, 30)); // 2:30 CET (UTC+1)
    // Hourly across the fold: 1:15 CEST, 2:15 CEST, then 3:15 CET; 2:15 CET is not repeated.
    let hourly = parse("hourly at :15");
    let a = hourly.next_after(utc(2026, 10, 24, 23, 0), berlin).unwrap();
    assert_eq!(a, utc(2026, 10, 24, 23, 15)); // 1:15 CEST
    let b = hourly.next_after(a, berlin).unwrap();
    assert_eq!(b, utc(2026, 10, 25, 0, 15)); // 2:15 CEST
    let c = hourly.next_after(b, berlin).unwrap();
    assert_eq!(c, utc(2026, 10, 25, 2, 15)); // 3:15 CET
}

#[test]
fn intervals_count_from_the_epoch() {
    let spec = parse("every 90s");
    let t = Utc.timestamp_opt(1_000_000_000, 0).unwrap();
    assert_eq!(
        spec.next_after(t, chrono_tz::UTC).unwrap().timestamp(),
        1_000_000_080
    );
    let spec = parse("every 4h");
    let t = utc(2026, 1, 1, 4, 0);
    assert_eq!(
        spec.next_after(t, chrono_tz::UTC),
        Some(utc(2026, 1, 1, 8, 0))
    );
    // Intervals do not depend on the time zone.
    let ny: Tz = "America/New_York".parse().unwrap();
    assert_eq!(spec.next_after(t, ny), Some(utc(2026, 1, 1, 8, 0)));
}

#[test]
fn cron_with_seconds() {
    let spec = parse("0/3 * * * * *");
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
    assert_eq!(
        spec.next_after(t, chrono_tz::UTC),
        Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 3).unwrap())
    );
    let weekdays = parse("30 2 * * MON-FRI");
    // 2026-11-21 is a Saturday: next is Monday the 23rd.
    assert_eq!(
        weekdays.next_after(utc(2026, 11, 21, 0, 0), chrono_tz::UTC),
        Some(utc(2026, 11, 23, 2, 30))
    );
}

#[test]
fn cron_in_zone() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let spec = parse("0 4 * * *");
    assert_eq!(
        spec.next_after(utc(2026, 6, 1, 12, 0), berlin),
        Some(utc(2026, 6, 2, 2, 0))
    );
}

#[test]
fn the_words_users_try_first() {
    for (given, canonical) in [
        ("daily", "daily at 0:00"),
        ("hourly", "hourly at :00"),
        ("weekly", "sundays at 0:00"),
        ("monthly", "monthly at 0:00 on 1st"),
        ("@hourly", "hourly at :00"),
        ("@daily", "daily at 0:00"),
        ("@midnight", "daily at 0:00"),
        ("@weekly", "sundays at 0:00"),
        ("@monthly", "monthly at 0:00 on 1st"),
        ("every 15 minutes", "every 15 minutes"),
    ] {
        let s: Schedule = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
        assert_eq!(s.to_string(), canonical, "{given}");
        assert_eq!(
            s.to_string().parse::<Schedule>().unwrap().to_string(),
            canonical
        );
    }
    let yearly: Schedule = "@yearly".parse().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    assert_eq!(
        yearly.next_after(now, chrono_tz::UTC),
        Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
    );
    let err = "@fortnightly".parse::<Schedule>().unwrap_err().to_string();
    assert!(err.contains("not a cron shortcut"), "{err}");
    let err = "hourly at".parse::<Schedule>().unwrap_err().to_string();
    assert!(err.contains("minute of the hour"), "{err}");
}
