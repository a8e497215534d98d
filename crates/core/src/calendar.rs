//! The working-time clock: working hours on working days in one time zone, with public
//! holidays and make-up working days (调休) read from one data file per year. SLA deadlines
//! on the `working` clock are counted with it. Instants in and out are UTC.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::config::CalendarSettings;
use crate::error::{CoreError, CoreResult};

/// The furthest a search for working time looks ahead before deciding there is none.
const MAX_DAYS_AHEAD: i64 = 3 * 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    tz: Tz,
    /// Working periods of a working day, local times, sorted and not overlapping.
    periods: Vec<(NaiveTime, NaiveTime)>,
    weekly: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    makeup_workdays: BTreeSet<NaiveDate>,
    years: BTreeSet<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    makeup_workdays: Vec<String>,
}

fn bad(field: &str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(field, "invalid", message)
}

/// `2026-02-15` or `2026-02-15..2026-02-23` (inclusive).
fn dates(entry: &str, field: &str) -> CoreResult<Vec<NaiveDate>> {
    let parse = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|e| bad(field, format!("{s:?}: {e}")))
    };
    match entry.split_once("..") {
        None => Ok(vec![parse(entry)?]),
        Some((first, last)) => {
            let (first, last) = (parse(first)?, parse(last)?);
            if last < first {
                return Err(bad(field, format!("{entry:?} ends before it starts")));
            }
            Ok(first.iter_days().take_while(|d| *d <= last).collect())
        }
    }
}

fn period(text: &str) -> CoreResult<(NaiveTime, NaiveTime)> {
    let field = "calendar.working_hours";
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| bad(field, format!("{text:?} is not HH:MM-HH:MM")))?;
    let time = |s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|e| bad(field, format!("{text:?}: {e}")))
    };
    let (start, end) = (time(a)?, time(b)?);
    if end <= start {
        return Err(bad(field, format!("{text:?} ends before it starts")));
    }
    Ok((start, end))
}

impl WorkingCalendar {
    /// The calendar of the settings, with every `<year>.toml` of `dir`.
    pub fn load(settings: &CalendarSettings, dir: &Path) -> CoreResult<Self> {
        let mut calendar = Self::weekly(settings)?;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %dir.display(), "no calendar files: holidays and make-up days are unknown");
                return Ok(calendar);
            }
            Err(e) => {
                return Err(CoreError::internal_because(
                    format!("reading {}", dir.display()),
                    e,
                ))
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CoreError::internal_because(format!("reading {}", path.display()), e)
            })?;
            calendar
                .add_year_file(&text)
                .map_err(|e| CoreError::internal_because(path.display().to_string(), e))?;
        }
        Ok(calendar)
    }

    /// Only the weekly schedule, no holidays.
    pub fn weekly(settings: &CalendarSettings) -> CoreResult<Self> {
        let tz: Tz = settings.timezone.parse().map_err(|_| {
            bad(
                "calendar.timezone",
                format!("{:?} is not an IANA time zone", settings.timezone),
            )
        })?;
        let mut periods = settings
            .working_hours
            .iter()
            .map(|p| period(p))
            .collect::<CoreResult<Vec<_>>>()?;
        periods.sort();
        if periods.is_empty() || periods.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(bad(
                "calendar.working_hours",
                "give one or more periods that do not overlap",
            ));
        }
        let mut weekly = [false; 7];
        for day in &settings.working_days {
            let weekday: Weekday = day
                .parse()
                .map_err(|_| bad("calendar.working_days", format!("{day:?} is not a weekday")))?;
            weekly[weekday.num_days_from_monday() as usize] = true;
        }
        if !weekly.contains(&true) {
            return Err(bad(
                "calendar.working_days",
                "name at least one working day",
            ));
        }
        Ok(Self {
            tz,
            periods,
            weekly,
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
            years: BTreeSet::new(),
        })
    }

    /// Adds one year's holidays and make-up working days (the text of a `<year>.toml`).
    pub fn add_year_file(&mut self, text: &str) -> CoreResult<()> {
        let file: YearFile = toml_from_str(text)?;
        for (list, field, into) in [
            (&file.holidays, "holidays", &mut self.holidays),
            (
                &file.makeup_workdays,
                "makeup_workdays",
                &mut self.makeup_workdays,
            ),
        ] {
            for entry in list {
                for date in dates(entry, field)? {
                    if date.year() != file.year {
                        return Err(bad(field, format!("{date} is not in {}", file.year)));
                    }
                    into.insert(date);
                }
            }
        }
        if let Some(both) = self.holidays.intersection(&self.makeup_workdays).next() {
            return Err(bad("makeup_workdays", format!("{both} is also a holiday")));
        }
        self.years.insert(file.year);
        Ok(())
    }

    /// The time zone of the working hours and holidays.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Per year with a calendar file: how many holidays and make-up working days it has.
    pub fn year_summary(&self) -> Vec<(i32, usize, usize)> {
        use chrono::Datelike;
        self.years
            .iter()
            .map(|&y| {
                (
                    y,
                    self.holidays.iter().filter(|d| d.year() == y).count(),
                    self.makeup_workdays
                        .iter()
                        .filter(|d| d.year() == y)
                        .count(),
                )
            })
            .collect()
    }

    /// Years with holiday data; outside them only the weekly schedule applies.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.holidays.contains(&day) {
            return false;
        }
        self.makeup_workdays.contains(&day)
            || self.weekly[day.weekday().num_days_from_monday() as usize]
    }

    fn local(&self, utc: NaiveDateTime) -> NaiveDateTime {
        self.tz.from_utc_datetime(&utc).naive_local()
    }

    fn utc(&self, local: NaiveDateTime) -> NaiveDateTime {
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.naive_utc())
            // A local time skipped by a daylight-saving jump: an hour later exists.
            .unwrap_or_else(|| self.utc(local + Duration::hours(1)))
    }

    /// The working periods of each day from `from`'s day on, as local intervals.
    fn periods_from(
        &self,
        from: NaiveDate,
    ) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        from.iter_days()
            .take(MAX_DAYS_AHEAD as usize)
            .filter(|d| self.is_working_day(*d))
            .flat_map(move |d| {
                self.periods
                    .iter()
                    .map(move |(s, e)| (d.and_time(*s), d.and_time(*e)))
            })
    }

    /// The instant `minutes` working minutes after `start` (UTC). With 0, the first working
    /// instant at or after `start`: an instant on a holiday moves to the next working start.
    pub fn add_working_minutes(&self, start: NaiveDateTime, minutes: i64) -> NaiveDateTime {
        let mut remaining = Duration::minutes(minutes.max(0));
        let local = self.local(start);
        for (s, e) in self.periods_from(local.date()) {
            if e <= local {
                continue;
            }
            let from = s.max(local);
            let available = e - from;
            if remaining < available || (remaining == available && remaining.is_zero()) {
                return self.utc(from + remaining);
            }
            if remaining == available {
                return self.utc(e);
            }
            remaining -= available;
        }
        // No working time within three years: the calendar is misconfigured; fall back to the clock.
        start + Duration::minutes(minutes)
    }

    /// The instant `minutes` working minutes before `end` (UTC): where the stretch of that
    /// much working time that ends at `end` (or at the last working instant before it)
    /// begins. With 0, `end` itself.
    pub fn sub_working_minutes(&self, end: NaiveDateTime, minutes: i64) -> NaiveDateTime {
        if minutes <= 0 {
            return end;
        }
        let mut remaining = Duration::minutes(minutes);
        let local = self.local(end);
        let days = std::iter::successors(Some(local.date()), |d| d.pred_opt())
            .take(MAX_DAYS_AHEAD as usize)
            .filter(|d| self.is_working_day(*d));
        for day in days {
            for (s, e) in self.periods.iter().rev() {
                let (s, e) = (day.and_time(*s), day.and_time(*e));
                if s >= local {
                    continue;
                }
                let to = e.min(local);
                if remaining <= to - s {
                    return self.utc(to - remaining);
                }
                remaining -= to - s;
            }
        }
        // No working time within three years: the calendar is misconfigured.
        end - Duration::minutes(minutes)
    }

    /// The instant `minutes` before the deadline `end` on an SLA clock: how far ahead of a
    /// deadline its warnings go.
    pub fn before(
        &self,
        clock: crate::types::ClockKind,
        end: NaiveDateTime,
        minutes: i32,
    ) -> NaiveDateTime {
        let start = match clock {
            crate::types::ClockKind::Calendar => end - Duration::minutes(minutes.into()),
            crate::types::ClockKind::Working => self.sub_working_minutes(end, minutes.into()),
        };
        crate::db::truncate_to_micros(start)
    }

    /// The deadline `minutes` after `start` on an SLA clock.
    pub fn deadline(
        &self,
        clock: crate::types::ClockKind,
        start: NaiveDateTime,
        minutes: i32,
    ) -> NaiveDateTime {
        let end = match clock {
            crate::types::ClockKind::Calendar => start + Duration::minutes(minutes.into()),
            crate::types::ClockKind::Working => self.add_working_minutes(start, minutes.into()),
        };
        crate::db::truncate_to_micros(end)
    }

    /// Working minutes (whole and part) between two instants; 0 if `end` is not after `start`.
    pub fn working_minutes_between(&self, start: NaiveDateTime, end: NaiveDateTime) -> i64 {
        if end <= start {
            return 0;
        }
        let (a, b) = (self.local(start), self.local(end));
        let mut total = Duration::zero();
        for (s, e) in self.periods_from(a.date()) {
            if s >= b {
                break;
            }
            let (from, to) = (s.max(a), e.min(b));
            if to > from {
                total += to - from;
            }
        }
        total.num_minutes()
    }
}

fn toml_from_str(text: &str) -> CoreResult<YearFile> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| bad("calendar", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn calendar() -> WorkingCalendar {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/calendar");
        WorkingCalendar::load(&CalendarSettings::default(), &dir).unwrap()
    }

    /// A Beijing wall-clock time as the UTC instant the calendar takes.
    fn bj(text: &str) -> NaiveDateTime {
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        local - Duration::hours(8)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_2026_schedule_is_loaded() {
        let c = calendar();
        assert!(c.years().any(|y| y == 2026));
        for holiday in [
            "2026-01-01",
            "2026-02-16",
            "2026-02-23",
            "2026-04-06",
            "2026-05-05",
            "2026-06-19",
            "2026-09-25",
            "2026-10-07",
        ] {
            assert!(!c.is_working_day(day(holiday)), "{holiday} is a holiday");
        }
        for makeup in [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ] {
            assert!(
                c.is_working_day(day(makeup)),
                "{makeup} is a make-up working day"
            );
        }
        assert!(c.is_working_day(day("2026-11-23")), "an ordinary Monday");
        assert!(!c.is_working_day(day("2026-11-22")), "an ordinary Sunday");
    }

    #[test]
    fn a_working_day_is_seven_and_a_half_hours_and_lunch_does_not_count() {
        let c = calendar();
        assert_eq!(
            c.working_minutes_between(bj("2026-11-23 00:00"), bj("2026-11-24 00:00")),
            450
        );
        assert_eq!(
            c.add_working_minutes(bj("2026-11-23 11:00"), 90),
            bj("2026-11-23 14:00")
        );
        assert_eq!(
            c.add_working_minutes(bj("2026-11-23 17:00"), 60),
            bj("2026-11-23 18:00")
        );
        assert_eq!(
            c.add_working_minutes(bj("2026-11-23 17:00"), 61),
            bj("2026-11-24 09:01")
        );
    }

    #[test]
    fn nights_weekends_and_year_ends_are_skipped() {
        let c = calendar();
        // Friday evening → Monday morning.
        assert_eq!(
            c.add_working_minutes(bj("2026-11-27 17:30"), 60),
            bj("2026-11-30 09:30")
        );
        // Thursday 31 December 2026 → 2027 (no data yet: the weekly schedule).
        assert_eq!(
            c.add_working_minutes(bj("2026-12-31 17:00"), 120),
            bj("2027-01-01 10:00")
        );
        assert_eq!(
            c.working_minutes_between(bj("2026-12-31 17:00"), bj("2027-01-01 10:00")),
            120
        );
    }

    #[test]
    fn holidays_and_make_up_saturdays_are_honoured() {
        let c = calendar();
        // National Day: 270 minutes are left on Wed 30 Sep from 13:30, the other 180 fill
        // the morning of Thu 8 Oct.
        assert_eq!(
            c.add_working_minutes(bj("2026-09-30 13:30"), 450),
            bj("2026-10-08 12:00")
        );
        // Saturday 9 May 2026 is a working day.
        assert_eq!(
            c.add_working_minutes(bj("2026-05-08 17:00"), 120),
            bj("2026-05-09 10:00")
        );
        // Spring Festival: Friday 13 Feb → Saturday 14 Feb (make-up) → then Tuesday 24 Feb.
        assert_eq!(
            c.add_working_minutes(bj("2026-02-13 18:00"), 450 + 60),
            bj("2026-02-24 10:00")
        );
        // An instant inside a holiday moves to the next working start.
        assert_eq!(
            c.add_working_minutes(bj("2026-10-03 15:00"), 0),
            bj("2026-10-08 09:00")
        );
        assert_eq!(
            c.working_minutes_between(bj("2026-10-01 00:00"), bj("2026-10-08 00:00")),
            0
        );
    }

    #[test]
    fn bad_files_and_settings_are_named() {
        let mut c = WorkingCalendar::weekly(&CalendarSettings::default()).unwrap();
        let err = c
            .add_year_file("year = 2027\nholidays = [\"2026-01-01\"]")
            .unwrap_err();
        assert!(err.to_string().contains("not in 2027"), "{err}");
        let settings = CalendarSettings {
            working_hours: vec!["18:00-09:00".into()],
            ..CalendarSettings::default()
        };
        assert!(WorkingCalendar::weekly(&settings)
            .unwrap_err()
            .to_string()
            .contains("calendar.working_hours"));
        let settings = CalendarSettings {
            timezone: "Mars/Olympus".into(),
            ..CalendarSettings::default()
        };
        assert!(WorkingCalendar::weekly(&settings)
            .unwrap_err()
            .to_string()
            .contains("calendar.timezone"));
    }

    fn instant() -> impl Strategy<Value = NaiveDateTime> {
        // Any minute of 2026 (UTC).
        (0i64..365 * 24 * 60).prop_map(|m| bj("2026-01-01 08:00") + Duration::minutes(m))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn adding_a_then_b_is_adding_a_plus_b(t in instant(), a in 1i64..20_000, b in 1i64..20_000) {
            let c = calendar();
            prop_assert_eq!(c.add_working_minutes(c.add_working_minutes(t, a), b), c.add_working_minutes(t, a + b));
        }

        #[test]
        fn the_minutes_added_are_the_minutes_counted(t in instant(), n in 0i64..30_000) {
            let c = calendar();
            prop_assert_eq!(c.working_minutes_between(t, c.add_working_minutes(t, n)), n);
        }

        #[test]
        fn a_deadline_never_lands_outside_working_time(t in instant(), n in 1i64..30_000) {
            let c = calendar();
            let end = c.add_working_minutes(t, n);
            let local = end + Duration::hours(8);
            prop_assert!(c.is_working_day(local.date()), "{}", local);
            let time = local.time();
            prop_assert!(c.periods.iter().any(|(s, e)| time > *s && time <= *e), "{}", local);
        }

        #[test]
        fn going_back_from_a_deadline_and_forward_again_lands_on_it(t in instant(), n in 1i64..30_000, back in 0i64..30_000) {
            let c = calendar();
            let deadline = c.add_working_minutes(t, n);
            let back = back.min(n);
            let warn = c.sub_working_minutes(deadline, back);
            prop_assert_eq!(c.working_minutes_between(warn, deadline), back);
            if back > 0 {
                prop_assert_eq!(c.add_working_minutes(warn, back), deadline);
            }
        }
    }

    #[test]
    fn going_back_skips_lunch_nights_holidays_and_counts_make_up_days() {
        let c = calendar();
        // Within a morning; across lunch; to the evening before.
        assert_eq!(
            c.sub_working_minutes(bj("2026-11-24 11:00"), 60),
            bj("2026-11-24 10:00")
        );
        assert_eq!(
            c.sub_working_minutes(bj("2026-11-24 14:00"), 90),
            bj("2026-11-24 11:00")
        );
        assert_eq!(
            c.sub_working_minutes(bj("2026-11-24 09:30"), 60),
            bj("2026-11-23 17:30")
        );
        // Thursday 8 October 2026 10:00, after National Day (1–7 October): two working hours
        // back are its first hour and the last of Wednesday 30 September.
        assert_eq!(
            c.sub_working_minutes(bj("2026-10-08 10:00"), 120),
            bj("2026-09-30 17:00")
        );
        // Monday 12 October 09:30: an hour back is Saturday 10 October, a make-up working
        // day, at 17:30 — not Friday 9 October.
        assert_eq!(
            c.sub_working_minutes(bj("2026-10-12 09:30"), 60),
            bj("2026-10-10 17:30")
        );
        // On the calendar clock, plain minutes.
        assert_eq!(
            c.before(
                crate::types::ClockKind::Calendar,
                bj("2026-10-08 10:00"),
                120
            ),
            bj("2026-10-08 08:00")
        );
        assert_eq!(
            c.before(
                crate::types::ClockKind::Working,
                bj("2026-10-08 10:00"),
                120
            ),
            bj("2026-09-30 17:00")
        );
    }
}
