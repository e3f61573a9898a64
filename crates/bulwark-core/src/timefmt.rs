//! How the API writes and reads times.
//!
//! The catalog keeps Unix seconds. The API writes them as seed 003 shows,
//! `"2015-10-25 11:32:00"`, always in UTC, and reads day filters as `YYYYMMDD` (UTC midnight).

use chrono::{DateTime, NaiveDate, Utc};

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_epoch(secs: i64) -> String {
    match DateTime::<Utc>::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => secs.to_string(),
    }
}

/// Parses a `YYYYMMDD` day into the Unix seconds of its first instant (UTC).
pub fn parse_day(s: &str) -> Result<i64, String> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a date in the form YYYYMMDD"));
    }
    let day = NaiveDate::parse_from_str(s, "%Y%m%d")
        .map_err(|_| format!("'{s}' is not a real calendar date"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        assert_eq!(format_epoch(1445772720), "2015-10-25 11:32:00");
    }

    #[test]
    fn parses_days() {
        assert_eq!(parse_day("20151025"), Ok(1445731200));
        assert!(
            parse_day("20150230")
                .unwrap_err()
                .contains("not a real calendar date")
        );
        assert!(parse_day("2015-10-25").unwrap_err().contains("YYYYMMDD"));
        assert!(parse_day("").is_err());
    }
}
