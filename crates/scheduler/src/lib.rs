//! The escalation scheduler: on a cron schedule, a sweep raises overdue tickets up the
//! chain (core `escalation::sweep`), and a sender delivers the outbox through lettre —
//! SMTP, or `.eml` files in a folder (the embedded default). The sweep runs inside
//! `jiesu serve` or as `jiesu scheduler`; any number may run against one database.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::{MailTransport, Settings, SmtpTls};
use jiesu_core::db::Pool;
use jiesu_core::escalation::{self, SweepContext, SweepReport};
use jiesu_core::outbox::{self, Mail, Take};
use jiesu_core::warnings;
use jiesu_core::{CoreError, CoreResult};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::OnceCell;

/// Parses the sweep's cron expression, saying plainly what is wrong with a bad one.
pub fn parse_cron(expression: &str) -> CoreResult<cron::Schedule> {
    parse_cron_of("scheduler.cron", expression)
}

/// Parses the cron expression of the setting `field`.
fn parse_cron_of(field: &'static str, expression: &str) -> CoreResult<cron::Schedule> {
    let fields = expression.split_whitespace().count();
    if fields == 5 {
        return Err(CoreError::invalid(
            field,
            "invalid",
            format!(
                "{expression:?} is a five-field crontab line; this schedule has seconds first \
                 (six or seven fields): write \"0 {expression}\""
            ),
        ));
    }
    cron::Schedule::from_str(expression).map_err(|e| {
        CoreError::invalid(
            field,
            "invalid",
            format!(
                "{expression:?}: {e} (six or seven fields, seconds first, e.g. \"0 */5 * * * *\")"
            ),
        )
    })
}

/// Where mail goes, parsed once from the settings.
#[derive(Debug, Clone)]
enum TransportConfig {
    Smtp {
        host: String,
        port: u16,
        tls: SmtpTls,
        credentials: Option<Credentials>,
        timeout: Duration,
    },
    File {
        dir: std::path::PathBuf,
    },
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

impl TransportConfig {
    fn from_settings(settings: &Settings) -> CoreResult<Self> {
        Ok(match settings.mail.transport {
            MailTransport::Smtp => {
                let smtp = &settings.mail.smtp;
                if smtp.host.trim().is_empty() {
                    return Err(CoreError::invalid(
                        "mail.smtp.host",
                        "required",
                        "the SMTP transport needs a host",
                    ));
                }
                TransportConfig::Smtp {
                    host: smtp.host.clone(),
                    port: smtp.port,
                    tls: smtp.tls,
                    credentials: (!smtp.username.is_empty())
                        .then(|| Credentials::new(smtp.username.clone(), smtp.password.clone())),
                    timeout: Duration::from_secs(smtp.timeout_secs),
                }
            }
            MailTransport::File => {
                let dir = settings.outbox_dir();
                jiesu_core::fsutil::create_private_dir(&dir).map_err(|e| {
                    CoreError::internal_because(
                        format!("cannot create the mail folder {}", dir.display()),
                        e,
                    )
                })?;
                TransportConfig::File { dir }
            }
        })
    }

    /// Builds the transport. Must run inside the Tokio runtime that will use it: lettre's
    /// SMTP connection pool starts a task there.
    fn build(&self) -> CoreResult<Transport> {
        Ok(match self {
            TransportConfig::Smtp {
                host,
                port,
                tls,
                credentials,
                timeout,
            } => {
                let builder = match tls {
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        host,
                    )),
                }
                .map_err(|e| CoreError::invalid("mail.smtp.host", "invalid", e.to_string()))?;
                let mut builder = builder.port(*port).timeout(Some(*timeout));
                if let Some(credentials) = credentials {
                    builder = builder.credentials(credentials.clone());
                }
                Transport::Smtp(builder.build())
            }
            TransportConfig::File { dir } => Transport::File(AsyncFileTransport::new(dir)),
        })
    }
}

/// Delivers outbox mails through the configured transport.
pub struct Mailer {
    config: TransportConfig,
    /// Built on first use, inside the runtime that delivers (see `TransportConfig::build`).
    transport: OnceCell<Transport>,
    from: Mailbox,
    retry_base_secs: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    pub failed: usize,
}

impl Mailer {
    /// Checks the mail settings; nothing connects until the first delivery.
    pub fn from_settings(settings: &Settings) -> CoreResult<Self> {
        let from: Mailbox = settings.mail.from.parse().map_err(|e| {
            CoreError::invalid(
                "mail.from",
                "invalid",
                format!("{:?}: {e}", settings.mail.from),
            )
        })?;
        Ok(Self {
            config: TransportConfig::from_settings(settings)?,
            transport: OnceCell::new(),
            from,
            retry_base_secs: settings.mail.retry_base_secs,
        })
    }

    async fn transport(&self) -> CoreResult<&Transport> {
        self.transport
            .get_or_try_init(|| async { self.config.build() })
            .await
    }

    async fn send(&self, mail: &Mail) -> Result<(), String> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| format!("recipient {:?}: {e}", mail.recipient))?;
        // A stable Message-ID: should a crash resend a mail the server had already
        // accepted, mail clients show the two as one.
        let domain = self.from.email.domain();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .message_id(Some(format!("<jiesu-outbox-{}@{domain}>", mail.id)))
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        match self.transport().await.map_err(|e| e.to_string())? {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::File(file) => file
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// Delivers the mail due at `now` (the wall clock): never-tried mail, and failed mail
    /// whose backoff has passed. Each is marked sent only once the server (or the folder)
    /// accepted it; a failure is recorded and retried later with backoff.
    pub async fn deliver_due(&self, pool: &Pool, now: NaiveDateTime) -> CoreResult<DeliveryReport> {
        self.deliver(pool, Take::Due, now).await
    }

    /// Delivers every waiting mail now, failed ones too, without waiting out their backoff:
    /// `jiesu scheduler deliver`, once the mail server is back.
    pub async fn deliver_all_now(
        &self,
        pool: &Pool,
        now: NaiveDateTime,
    ) -> CoreResult<DeliveryReport> {
        self.deliver(pool, Take::AllNow, now).await
    }

    async fn deliver(
        &self,
        pool: &Pool,
        which: Take,
        now: NaiveDateTime,
    ) -> CoreResult<DeliveryReport> {
        let mut report = DeliveryReport::default();
        loop {
            let batch = blocking(pool, move |conn| outbox::take(conn, which, now, 50)).await?;
            if batch.is_empty() {
                return Ok(report);
            }
            for mail in batch {
                let result = self.send(&mail).await;
                let base = self.retry_base_secs;
                match result {
                    Ok(()) => {
                        blocking(pool, move |conn| outbox::mark_sent(conn, mail.id, now)).await?;
                        report.sent += 1;
                    }
                    Err(error) => {
                        tracing::warn!(mail = %mail.id, %error, "mail not delivered; will retry");
                        blocking(pool, move |conn| {
                            outbox::mark_failed(conn, &mail, &error, base, now).map(|_| ())
                        })
                        .await?;
                        report.failed += 1;
                    }
                }
            }
            if report.failed > 0 {
                // The server is failing; the rest waits for the next round rather than
                // hammering it now.
                return Ok(report);
            }
        }
    }
}

async fn blocking<T, F>(pool: &Pool, f: F) -> CoreResult<T>
where
    F: FnOnce(&mut jiesu_core::db::DbConnection) -> CoreResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || jiesu_core::db::with_connection(&pool, f))
        .await
        .map_err(|e| CoreError::internal_because("blocking task", e))?
}

/// Everything a sweep needs.
#[derive(Clone)]
pub struct Scheduler {
    pub pool: Pool,
    pub calendar: Arc<WorkingCalendar>,
    pub settings: Arc<Settings>,
    pub mailer: Arc<Mailer>,
    /// Where the photos are, for backups.
    pub photos: jiesu_core::photos::Photos,
}

impl Scheduler {
    pub fn new(settings: Settings, pool: Pool) -> CoreResult<Self> {
        parse_cron(&settings.scheduler.cron)?;
        if !settings.scheduler.backup_cron.trim().is_empty() {
            parse_cron_of("scheduler.backup_cron", &settings.scheduler.backup_cron)?;
            settings.database_url()?;
        }
        let calendar =
            WorkingCalendar::load(&settings.calendar, &settings.config_dir.join("calendar"))?;
        let mailer = Mailer::from_settings(&settings)?;
        let photos = jiesu_core::photos::Photos::from_settings(&settings)?;
        Ok(Self {
            photos,
            pool,
            calendar: Arc::new(calendar),
            settings: Arc::new(settings),
            mailer: Arc::new(mailer),
        })
    }

    /// One sweep as of `as_of` (the instant deadlines are judged at; a replay passes a
    /// past or future one), then the delivery of the mail due at `now`, the wall clock:
    /// mail backoff runs in real time whatever instant a sweep replays.
    pub async fn sweep(
        &self,
        as_of: NaiveDateTime,
        now: NaiveDateTime,
    ) -> CoreResult<(SweepReport, DeliveryReport)> {
        let (calendar, settings) = (self.calendar.clone(), self.settings.clone());
        let report = blocking(&self.pool, move |conn| {
            let ctx = SweepContext {
                calendar: &calendar,
                public_url: &settings.server.public_url,
                mail_language: settings.mail.language,
            };
            let mut report = escalation::sweep(conn, as_of, &ctx)?;
            let points = settings.warnings.sorted_points();
            report.warnings = warnings::sweep(conn, as_of, &ctx, &points)?;
            report.reduced =
                jiesu_core::privacy::reduce_expired(conn, as_of, settings.privacy.retention())?;
            Ok::<_, jiesu_core::CoreError>(report)
        })
        .await?;
        for e in &report.escalated {
            tracing::info!(ticket = %e.number, from = e.from_level, to = e.to_level, node = %e.node_name, "escalated");
        }
        for w in &report.warnings.warned {
            tracing::info!(ticket = %w.number, deadline = w.deadline, point = w.point, "warned");
        }
        if report.reduced > 0 {
            tracing::info!(
                tickets = report.reduced,
                "residents' data reduced after the retention period"
            );
        }
        self.forget_expired(now).await?;
        let delivery = self.mailer.deliver_due(&self.pool, now).await?;
        Ok((report, delivery))
    }

    /// Forgets what has expired by the wall clock's `now`: idempotency keys past their
    /// window, signed-out sessions whose tokens have expired anyway, and sign-in failure
    /// counts that have been quiet for a day (a flood of made-up names leaves one each).
    pub async fn forget_expired(&self, now: NaiveDateTime) -> CoreResult<()> {
        let window = self.settings.idempotency.window();
        let (keys, sessions, throttles) = blocking(&self.pool, move |conn| {
            Ok((
                jiesu_core::tickets::logging::purge_idempotency_keys(conn, now - window)?,
                jiesu_core::users::purge_ended_sessions(conn, now)?,
                jiesu_core::signin::purge(conn, now)?,
            ))
        })
        .await?;
        if keys + sessions + throttles > 0 {
            tracing::info!(
                idempotency_keys = keys,
                ended_sessions = sessions,
                signin_counts = throttles,
                "forgot what expired"
            );
        }
        Ok(())
    }

    /// Runs until the task is dropped: a sweep at every cron tick, deliveries in between;
    /// and every hour, the rates of the periods supervisors open most stored.
    pub async fn run(self) {
        tokio::join!(
            self.clone().sweeps(),
            self.clone().statements(),
            self.backups()
        );
    }

    /// A backup now into `scheduler.backup_dir/jiesu-<now>`, then the oldest deleted so
    /// that `backup_keep` remain. Returns the new backup's folder.
    pub async fn backup_now(&self, now: chrono::DateTime<Utc>) -> CoreResult<std::path::PathBuf> {
        let settings = self.settings.clone();
        let pool = self.pool.clone();
        let photos = self.photos.clone();
        tokio::task::spawn_blocking(move || {
            let url = settings.database_url()?;
            let dir = &settings.scheduler.backup_dir;
            jiesu_core::fsutil::create_private_dir(dir).map_err(|e| {
                CoreError::internal_because(format!("creating {}", dir.display()), e)
            })?;
            let dest = dir.join(format!("jiesu-{}", now.format("%Y%m%dT%H%M%SZ")));
            jiesu_core::backup::backup(&url, &pool, &photos, &dest, now, |_, _| {})?;
            jiesu_core::backup::keep_newest(dir, settings.scheduler.backup_keep.max(1))?;
            Ok(dest)
        })
        .await
        .map_err(|e| CoreError::internal_because("blocking task", e))?
    }

    /// At every tick of `scheduler.backup_cron` (if set), `backup_now`.
    async fn backups(self) {
        let expression = self.settings.scheduler.backup_cron.trim().to_owned();
        if expression.is_empty() {
            return;
        }
        let schedule = match parse_cron_of("scheduler.backup_cron", &expression) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e.chain(), "scheduled backups cannot start");
                return;
            }
        };
        tracing::info!(cron = %expression, dir = %self.settings.scheduler.backup_dir.display(), "scheduled backups");
        loop {
            let now = Utc::now();
            let Some(next) = schedule.after(&now).next() else {
                return;
            };
            tokio::time::sleep((next - now).to_std().unwrap_or_default()).await;
            let started = std::time::Instant::now();
            match self.backup_now(next).await {
                Ok(dest) => tracing::info!(
                    dest = %dest.display(),
                    secs = started.elapsed().as_secs(),
                    "backup taken"
                ),
                Err(e) => tracing::error!(error = %e.chain(), at = %e.place(), "backup failed"),
            }
        }
    }

    /// Every hour once it has settled (and at start), computes and stores the rates of the
    /// city and its districts that supervisors open most (`stats::statements`): the
    /// console's periods, ending at midnight in the calendar's time zone, and the API's
    /// default, ending at the hour; so the first supervisor to open them does not wait for
    /// a city's month to be counted. Prunes the old ones.
    async fn statements(self) {
        use jiesu_core::stats::{self, statements};
        let settle = chrono::Duration::minutes(statements::SETTLE_MINUTES + 1);
        loop {
            let now = Utc::now().naive_utc();
            let tz = self.calendar.tz();
            let started = std::time::Instant::now();
            let done = blocking(&self.pool, move |conn| {
                let pruned = statements::prune(conn, now, tz)?;
                Ok((statements::state_periods(conn, now, tz)?, pruned))
            })
            .await;
            let next = match done {
                Ok((computed, pruned)) => {
                    if computed + pruned > 0 {
                        tracing::info!(
                            computed,
                            pruned,
                            secs = started.elapsed().as_secs(),
                            "the hour's rates stored"
                        );
                    }
                    // The next whole hour, once settled.
                    stats::days_to_the_hour(now, 1, tz)
                        .map(|p| p.to + chrono::Duration::hours(1) + settle)
                        .unwrap_or(now + chrono::Duration::hours(1))
                }
                Err(e) => {
                    tracing::error!(error = %e.chain(), at = %e.place(), "storing the hour's rates failed");
                    now + chrono::Duration::minutes(5)
                }
            };
            let wait = (next - Utc::now().naive_utc())
                .to_std()
                .unwrap_or(Duration::from_secs(60));
            tokio::time::sleep(wait).await;
        }
    }

    async fn sweeps(self) {
        let schedule = match parse_cron(&self.settings.scheduler.cron) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e.chain(), "the scheduler cannot start");
                return;
            }
        };
        let every = Duration::from_secs(self.settings.scheduler.deliver_every_secs.max(1));
        tracing::info!(cron = %self.settings.scheduler.cron, "escalation scheduler running");
        loop {
            let now = Utc::now();
            let Some(next) = schedule.after(&now).next() else {
                tracing::warn!("the cron schedule has no future run; the scheduler stops");
                return;
            };
            let wait = (next - now).to_std().unwrap_or_default();
            if wait > every {
                tokio::time::sleep(every).await;
                if let Err(e) = self
                    .mailer
                    .deliver_due(&self.pool, Utc::now().naive_utc())
                    .await
                {
                    tracing::error!(error = %e.chain(), at = %e.place(), "mail delivery failed");
                }
                continue;
            }
            tokio::time::sleep(wait).await;
            match self.sweep(next.naive_utc(), Utc::now().naive_utc()).await {
                Ok((report, delivery)) => tracing::info!(
                    escalated = report.escalated.len(),
                    digests = report.digests,
                    warned = report.warnings.warned.len(),
                    sent = delivery.sent,
                    failed = delivery.failed,
                    "sweep done"
                ),
                Err(e) => tracing::error!(error = %e.chain(), at = %e.place(), "sweep failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_five_field_crontab_line_is_refused_with_the_fix() {
        let err = parse_cron("*/5 * * * *").unwrap_err().to_string();
        assert!(
            err.contains("five-field") && err.contains("\"0 */5 * * * *\""),
            "{err}"
        );
        assert!(parse_cron("0 */5 * * * *").is_ok());
        let err = parse_cron("every five minutes").unwrap_err().to_string();
        assert!(
            err.contains("scheduler.cron") && err.contains("seconds first"),
            "{err}"
        );
    }
}
