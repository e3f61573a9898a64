//! The parser of the schedule language: a small lexer and a recursive-descent parser over its
//! tokens. Errors are plain messages; the caller prefixes the input.

use chrono::Weekday;

use super::{Clock, CronSchedule, Schedule};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(u32),
    /// `1st`, `2nd`, `23rd`, `4th`
    Ord(u32),
    Colon,
    Star,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    text: String,
}

fn lex(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let n: u32 = digits
                .parse()
                .map_err(|_| format!("number '{digits}' is too large"))?;
            let suffix: String = chars[i..]
                .iter()
                .take(2)
                .collect::<String>()
                .to_ascii_lowercase();
            let after_suffix = chars.get(i + 2).is_none_or(|c| !c.is_alphabetic());
            if matches!(suffix.as_str(), "st" | "nd" | "rd" | "th") && after_suffix {
                i += 2;
                out.push(Token {
                    tok: Tok::Ord(n),
                    text: format!("{digits}{suffix}"),
                });
            } else {
                out.push(Token {
                    tok: Tok::Num(n),
                    text: digits,
                });
            }
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            out.push(Token {
                tok: Tok::Word(word.clone()),
                text: word,
            });
        } else if c == ':' {
            i += 1;
            out.push(Token {
                tok: Tok::Colon,
                text: ":".into(),
            });
        } else if c == '*' {
            i += 1;
            out.push(Token {
                tok: Tok::Star,
                text: "*".into(),
            });
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(out)
}

/// Parses any schedule: an interval, a cron expression, or a timespec phrase.
pub(super) fn parse(input: &str) -> Result<Schedule, String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    if words.is_empty() {
        return Err("the schedule is empty".into());
    }
    // cron's shortcuts, as crontab(5) defines them.
    if let [only] = words.as_slice()
        && let Some(name) = only.strip_prefix('@')
    {
        let phrase = match name.to_ascii_lowercase().as_str() {
            "hourly" => "hourly",
            "daily" | "midnight" => "daily",
            "weekly" => "weekly",
            "monthly" => "monthly",
            "yearly" | "annually" => return parse_cron(&["0", "0", "1", "1", "*"]),
            other => {
                return Err(format!(
                    "'@{other}' is not a cron shortcut; expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually"
                ));
            }
        };
        return parse(phrase);
    }
    if let Some(s) = parse_interval(&words)? {
        return Ok(s);
    }
    if looks_like_cron(&words) {
        return parse_cron(&words);
    }
    let tokens = lex(input)?;
    let mut p = Parser { tokens, pos: 0 };
    let spec = p.spec()?;
    if let Some(t) = p.peek() {
        return Err(format!(
            "unexpected '{}' after a complete schedule ('{spec}')",
            t.text
        ));
    }
    Ok(spec)
}

/// `every 90s`, `every 4h`, `every 1h30m`: one token of number-unit pairs after "every".
fn parse_interval(words: &[&str]) -> Result<Option<Schedule>, String> {
    if words.len() != 2 || !words[0].eq_ignore_ascii_case("every") {
        return Ok(None);
    }
    let text = words[1].to_ascii_lowercase();
    let looks = text.chars().next().is_some_and(|c| c.is_ascii_digit())
        && text.chars().last().is_some_and(|c| "smhd".contains(c))
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "smhd".contains(c));
    if !looks {
        return Ok(None);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if number.is_empty() {
            return Err(format!(
                "interval '{text}': unit '{c}' has no number before it"
            ));
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("interval '{text}' is too large"))?;
        let size = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        };
        total = n
            .checked_mul(size)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("interval '{text}' is too large"))?;
        number.clear();
    }
    if total == 0 {
        return Err("an interval must be at least 1 second".into());
    }
    if total > 366 * 86_400 {
        return Err(format!("interval '{text}' is longer than a year"));
    }
    Ok(Some(Schedule::Interval { seconds: total }))
}

/// Five or six fields of cron characters, the first of them numeric or a wildcard. No timespec
/// phrase has that shape: phrases start with a word or an ordinal, or have fewer words.
fn looks_like_cron(words: &[&str]) -> bool {
    let cron_char = |c: char| c.is_ascii_alphanumeric() || "*/,-?#".contains(c);
    (words.len() == 5 || words.len() == 6)
        && words[0]
            .chars()
            .all(|c| c.is_ascii_digit() || "*/,-?".contains(c))
        && words.iter().all(|w| w.chars().all(cron_char))
}

fn parse_cron(words: &[&str]) -> Result<Schedule, String> {
    let text = words.join(" ");
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        // Schelly and Quartz write "0/3" for "every 3 from 0"; accept it.
        .sloppy_ranges(true)
        .build();
    let cron = parser
        .parse(&text)
        .map_err(|e| format!("not a valid cron expression: {e}"))?;
    Ok(Schedule::Cron(Box::new(CronSchedule { text, cron })))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    /// Consumes the word if it is next; true when it did.
    fn eat(&mut self, word: &str) -> bool {
        if self.peek_word() == Some(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("found '{}'", t.text),
            None => "found the end".into(),
        }
    }

    fn spec(&mut self) -> Result<Schedule, String> {
        let first = self
            .next()
            .ok_or_else(|| "the schedule is empty".to_string())?;
        match &first.tok {
            Tok::Word(w) => match w.as_str() {
                "hourly" => self.hourly(),
                "daily" => self.daily(),
                "weekly" => self.weekly(),
                "monthly" => self.monthly(),
                "every" => self.every(),
                other => match weekday(other) {
                    Some(wd) => {
                        self.eat("at");
                        let at = self.clock()?;
                        Ok(Schedule::Weekly { weekday: wd, at })
                    }
                    None => Err(format!(
                        "'{other}' does not start a schedule; expected hourly, daily, weekly, monthly, every, a weekday, an ordinal (2nd tuesday ...), a cron expression or an interval (every 4h)"
                    )),
                },
            },
            Tok::Ord(n) => {
                let n = *n;
                if !(1..=5).contains(&n) {
                    return Err(format!("week-of-month {n} is out of range (1st to 5th)"));
                }
                let wd = self.peek_word().and_then(weekday).ok_or_else(|| {
                    format!(
                        "expected a weekday after '{}', {}",
                        first.text,
                        self.found()
                    )
                })?;
                self.pos += 1;
                self.eat("at");
                let at = self.clock()?;
                Ok(Schedule::MonthlyWeekday {
                    nth: n,
                    weekday: wd,
                    at,
                })
            }
            _ => Err(format!("'{}' does not start a schedule", first.text)),
        }
    }

    /// Midnight, for a bare `daily`, `weekly` or `monthly`.
    const MIDNIGHT: Clock = Clock { hour: 0, minute: 0 };

    fn hourly(&mut self) -> Result<Schedule, String> {
        if self.peek().is_none() {
            // A bare `hourly`: on the hour, as cron's @hourly.
            return Ok(Schedule::Hourly { minute: 0 });
        }
        self.eat("at");
        if self.peek().is_none() {
            return Err("expected the minute of the hour, as in 'hourly at :15'".into());
        }
        let minute = self.minute_of_hour()?;
        Ok(Schedule::Hourly { minute })
    }

    fn daily(&mut self) -> Result<Schedule, String> {
        if self.peek().is_none() {
            return Ok(Schedule::Daily { at: Self::MIDNIGHT });
        }
        self.eat("at");
        let at = self.clock()?;
        Ok(Schedule::Daily { at })
    }

    /// `weekly [at] clock [on] weekday`, or the weekday first.
    fn weekly(&mut self) -> Result<Schedule, String> {
        if self.peek().is_none() {
            // A bare `weekly`: Sunday at midnight, as cron's @weekly.
            return Ok(Schedule::Weekly {
                weekday: Weekday::Sun,
                at: Self::MIDNIGHT,
            });
        }
        let weekday_here = |p: &mut Parser| -> Result<Weekday, String> {
            p.eat("on");
            let wd = p
                .peek_word()
                .and_then(weekday)
                .ok_or_else(|| format!("expected a weekday, {}", p.found()))?;
            p.pos += 1;
            Ok(wd)
        };
        if self.peek_word() == Some("on") || self.peek_word().and_then(weekday).is_some() {
            let wd = weekday_here(self)?;
            self.eat("at");
            let at = self.clock()?;
            return Ok(Schedule::Weekly { weekday: wd, at });
        }
        self.eat("at");
        let at = self.clock()?;
        let wd = weekday_here(self)?;
        Ok(Schedule::Weekly { weekday: wd, at })
    }

    /// `monthly [at] clock [on] day`, or the day first.
    fn monthly(&mut self) -> Result<Schedule, String> {
        if self.peek().is_none() {
            // A bare `monthly`: the 1st at midnight, as cron's @monthly.
            return Ok(Schedule::MonthlyDay {
                day: 1,
                at: Self::MIDNIGHT,
            });
        }
        let day_here = |p: &mut Parser| -> Result<u32, String> {
            p.eat("on");
            let day = match p.peek().map(|t| t.tok.clone()) {
                Some(Tok::Ord(n)) | Some(Tok::Num(n)) => n,
                _ => {
                    return Err(format!(
                        "expected a day of the month (1st to 31st), {}",
                        p.found()
                    ));
                }
            };
            p.pos += 1;
            if !(1..=31).contains(&day) {
                return Err(format!("day-of-month {day} is out of range (1 to 31)"));
            }
            Ok(day)
        };
        if self.peek_word() == Some("on") {
            let day = day_here(self)?;
            self.eat("at");
            let at = self.clock()?;
            return Ok(Schedule::MonthlyDay { day, at });
        }
        self.eat("at");
        let at = self.clock()?;
        let day = day_here(self)?;
        Ok(Schedule::MonthlyDay { day, at })
    }

    fn every(&mut self) -> Result<Schedule, String> {
        let tok = self.next().ok_or_else(|| {
            "expected something after 'every' (minute, hour, day, 15 minutes, 4 hours, 4h ...)"
                .to_string()
        })?;
        match &tok.tok {
            Tok::Word(w) if w == "minute" => Ok(Schedule::EveryMinutes {
                every: 1,
                from: Clock { hour: 0, minute: 0 },
            }),
            Tok::Word(w) if w == "hour" => self.hourly(),
            Tok::Word(w) if w == "day" => self.daily(),
            Tok::Word(w) if w == "quarter" || w == "half" => {
                let every = if w == "quarter" { 15 } else { 30 };
                if !self.eat("hour") {
                    return Err(format!(
                        "expected 'hour' after 'every {w}', {}",
                        self.found()
                    ));
                }
                let minute = if self.eat("from") {
                    self.minute_of_hour()?
                } else {
                    0
                };
                if minute >= every {
                    return Err(format!(
                        "'from :{minute:02}' is not less than the interval of {every} minutes; use from :{:02}",
                        minute % every
                    ));
                }
                Ok(Schedule::EveryMinutes {
                    every,
                    from: Clock { hour: 0, minute },
                })
            }
            Tok::Num(n) => {
                let n = *n;
                let unit = self.next().map(|t| t.text).unwrap_or_default();
                let (minutes_per, max, unit_name) = match unit.as_str() {
                    "minute" | "minutes" | "min" | "mins" => (1, 1440, "minutes"),
                    "hour" | "hours" => (60, 23, "hours"),
                    _ => {
                        return Err(format!(
                            "expected 'minutes' or 'hours' after 'every {n}', found '{unit}'"
                        ));
                    }
                };
                if n == 0 || n > max {
                    return Err(format!(
                        "every {n} {unit_name}: the interval must be 1 to {max}"
                    ));
                }
                let from = if self.eat("from") {
                    self.clock()?
                } else {
                    Clock { hour: 0, minute: 0 }
                };
                let span = n * minutes_per;
                if from.minutes() >= span {
                    return Err(format!(
                        "'from {from}' is not less than the interval of {n} {unit_name}; use from {}",
                        Clock::from_minutes(from.minutes() % span)
                    ));
                }
                Ok(if minutes_per == 1 {
                    Schedule::EveryMinutes { every: n, from }
                } else if n == 1 {
                    Schedule::Hourly {
                        minute: from.minute,
                    }
                } else {
                    Schedule::EveryHours { every: n, from }
                })
            }
            _ => Err(format!("unexpected '{}' after 'every'", tok.text)),
        }
    }

    /// `[h|x|*]:MM`, `MM`, `quarter past`, `half past`, `10 til`, ...
    fn minute_of_hour(&mut self) -> Result<u32, String> {
        let tok = self
            .next()
            .ok_or_else(|| "expected the minute of the hour, as in ':15'".to_string())?;
        let check = |m: u32| {
            if m > 59 {
                Err(format!("minute {m} is out of range (0 to 59)"))
            } else {
                Ok(m)
            }
        };
        let relative = |p: &mut Parser, m: u32| -> Result<u32, String> {
            if p.eat("past") || p.eat("after") {
                check(m)
            } else if p.eat("til") || p.eat("until") || p.eat("till") || p.eat("to") {
                if m == 0 || m > 59 {
                    return Err(format!("minute {m} is out of range for 'til' (1 to 59)"));
                }
                Ok(60 - m)
            } else {
                Err(format!("expected 'past' or 'til', {}", p.found()))
            }
        };
        match tok.tok {
            Tok::Word(ref w) if w == "h" || w == "x" => self.colon_minute(),
            Tok::Star => self.colon_minute(),
            Tok::Colon => {
                self.pos -= 1;
                self.colon_minute()
            }
            Tok::Word(ref w) if w == "quarter" => relative(self, 15),
            Tok::Word(ref w) if w == "half" => relative(self, 30),
            Tok::Num(n) => {
                if matches!(
                    self.peek_word(),
                    Some("past" | "after" | "til" | "until" | "till" | "to")
                ) {
                    relative(self, n)
                } else {
                    check(n)
                }
            }
            _ => Err(format!(
                "expected the minute of the hour (':15', '15', 'quarter past'), found '{}'",
                tok.text
            )),
        }
    }

    fn colon_minute(&mut self) -> Result<u32, String> {
        if !matches!(self.next().map(|t| t.tok), Some(Tok::Colon)) {
            return Err("expected ':' before the minute".into());
        }
        match self.next().map(|t| t.tok) {
            Some(Tok::Num(m)) if m <= 59 => Ok(m),
            Some(Tok::Num(m)) => Err(format!("minute {m} is out of range (0 to 59)")),
            _ => Err("expected a minute after ':'".into()),
        }
    }

    /// `H:MM`, `H:MM am`, `Ham`, `H pm`.
    fn clock(&mut self) -> Result<Clock, String> {
        let hour = match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Num(h)) => h,
            _ => {
                return Err(format!(
                    "expected a time like 4am or 16:00, {}",
                    self.found()
                ));
            }
        };
        self.pos += 1;
        let mut minute = 0;
        let has_minutes = matches!(self.peek().map(|t| &t.tok), Some(Tok::Colon));
        if has_minutes {
            self.pos += 1;
            minute = match self.next().map(|t| t.tok) {
                Some(Tok::Num(m)) => m,
                _ => return Err(format!("expected minutes after '{hour}:'")),
            };
            if minute > 59 {
                return Err(format!("minute {minute} is out of range (0 to 59)"));
            }
        }
        let ampm = match self.peek_word() {
            Some("am") => Some(false),
            Some("pm") => Some(true),
            _ => None,
        };
        match ampm {
            Some(pm) => {
                self.pos += 1;
                if !(1..=12).contains(&hour) {
                    return Err(format!(
                        "hour {hour} cannot take {}: with am/pm the hour is 1 to 12",
                        if pm { "pm" } else { "am" }
                    ));
                }
                let h24 = match (hour, pm) {
                    (12, false) => 0,
                    (12, true) => 12,
                    (h, false) => h,
                    (h, true) => h + 12,
                };
                Ok(Clock { hour: h24, minute })
            }
            None if !has_minutes => Err(format!(
                "'{hour}' is not a time: write {hour}am, {hour}pm or {hour}:00"
            )),
            None if hour > 23 => Err(format!("hour {hour} is out of range (0 to 23)")),
            None => Ok(Clock { hour, minute }),
        }
    }
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "sun" | "sunday" | "sundays" => Weekday::Sun,
        "mon" | "monday" | "mondays" => Weekday::Mon,
        "tue" | "tues" | "tuesday" | "tuesdays" => Weekday::Tue,
        "wed" | "wednesday" | "wednesdays" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" | "thursdays" => Weekday::Thu,
        "fri" | "friday" | "fridays" => Weekday::Fri,
        "sat" | "saturday" | "saturdays" => Weekday::Sat,
        _ => return None,
    })
}
