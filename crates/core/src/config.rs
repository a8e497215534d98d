//! Settings, layered: `config/base.toml` → `config/<environment>.toml` → `JIESU_*`
//! environment variables (`JIESU_DATABASE__URL`, `JIESU_AUTH__JWT_SECRET`, …). Every key
//! has a default here, equal to what `config/base.toml` documents.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::db::DatabaseUrl;
use crate::error::{CoreError, CoreResult};

/// Secrets that appear in examples and must never guard a production service.
const PLACEHOLDER_SECRETS: &[&str] = &["change-me", "changeme", "secret", "jwt-secret", "jiesu"];
const MIN_PRODUCTION_SECRET_LEN: usize = 32;
const SECRET_FILE: &str = "jwt-secret.key";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// A production deployment: no demo data, a real JWT secret required.
    pub production: bool,
    /// Holds the embedded SQLite file, generated secrets, demo logins and (later) the outbox.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub demo: DemoSettings,
    pub scheduler: SchedulerSettings,
    pub attachments: AttachmentSettings,
    pub calendar: CalendarSettings,
    pub mail: MailSettings,
    pub hotspots: HotspotSettings,
    pub warnings: WarningSettings,
    pub privacy: PrivacySettings,
    pub open311: Open311Settings,
    pub idempotency: IdempotencySettings,
    pub metrics: MetricsSettings,
    /// The folder the settings were read from; the calendar files are in its `calendar/`.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// Addresses that read it without a token (the scraper on this host by default).
    pub allow_from: Vec<String>,
    /// A bearer token that reads it from anywhere; empty: none. From the environment:
    /// JIESU_METRICS__TOKEN.
    pub token: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            allow_from: vec!["127.0.0.1".into(), "::1".into()],
            token: String::new(),
        }
    }
}

/// `Idempotency-Key` on `POST /tickets`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct IdempotencySettings {
    /// How long a key answers retries with the first ticket; the scheduler forgets older ones.
    pub window_hours: i64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self { window_hours: 24 }
    }
}

impl IdempotencySettings {
    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::hours(self.window_hours.max(1))
    }
}

/// The Open311 GeoReport v2 gateway under `/open311/v2`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Open311Settings {
    /// The code of the community that takes requests whose place maps to no community
    /// (empty: such requests are refused with 400).
    pub intake_community: String,
    /// A point outside every boundary goes to the nearest community centre within this.
    pub nearest_centre_max_metres: f64,
    /// `GET requests` lists every ticket (true) or only those that came in by Open311.
    pub list_all_tickets: bool,
    /// Origins (`https://app.example.cn`) whose browser pages may read the Open311 GET
    /// resources (CORS); `*` allows any. Empty: no cross-origin reads.
    pub cors_allowed_origins: Vec<String>,
    /// The discovery document's human contact and where to ask for an API key.
    pub contact: String,
    pub key_service: String,
}

impl Default for Open311Settings {
    fn default() -> Self {
        Self {
            intake_community: String::new(),
            nearest_centre_max_metres: 1500.0,
            list_all_tickets: false,
            cors_allowed_origins: Vec::new(),
            contact: String::new(),
            key_service: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HotspotSettings {
    /// Tickets of one category in one place over the period that flag a hotspot.
    pub threshold: i64,
}

impl Default for HotspotSettings {
    fn default() -> Self {
        Self { threshold: 5 }
    }
}

/// Warnings before deadlines (临期预警).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct WarningSettings {
    /// Points of each running window, in percent of it (1–99), at which the holder is
    /// warned; empty: no warnings.
    pub points: Vec<u8>,
}

impl Default for WarningSettings {
    fn default() -> Self {
        Self { points: vec![75] }
    }
}

impl WarningSettings {
    /// The points in order, each once.
    pub fn sorted_points(&self) -> Vec<u8> {
        let mut points = self.points.clone();
        points.sort_unstable();
        points.dedup();
        points
    }
}

/// Residents' personal data (the Personal Information Protection Law's retention).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PrivacySettings {
    /// Days after a ticket is closed (or cancelled, or merged) that the scheduler reduces
    /// its resident's name, phone and house number, and the reporter's Open311 contact,
    /// to their masked forms (`privacy::reduce_expired`).
    pub retention_days: u32,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            retention_days: 365,
        }
    }
}

impl PrivacySettings {
    /// How long after closing a ticket keeps its resident's data whole.
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }
}

/// How mail leaves: `.eml` files in a folder (the embedded default), or a mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MailTransport {
    File,
    Smtp,
}

impl TryFrom<String> for MailTransport {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "file" => Ok(MailTransport::File),
            "smtp" => Ok(MailTransport::Smtp),
            _ => Err(format!("{text:?}: must be file or smtp")),
        }
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SmtpTls {
    /// Plain text; production refuses it unless `mail.smtp.allow_plaintext`.
    None,
    Starttls,
    Tls,
}

impl TryFrom<String> for SmtpTls {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            _ => Err(format!("{text:?}: must be none, starttls or tls")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// `file` (each mail an `.eml` file in `outbox_dir`) or `smtp`.
    pub transport: MailTransport,
    pub from: String,
    /// For the file transport; empty means `<data_dir>/outbox`.
    pub outbox_dir: String,
    /// First retry after this many seconds, doubling with each failed attempt (at most an hour).
    pub retry_base_secs: i64,
    /// `zh` (the default) or `en`: the language of the mails' words.
    pub language: crate::mail::MailLanguage,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Production refuses `tls = "none"` unless this is set (a relay on the same host).
    pub allow_plaintext: bool,
    pub username: String,
    /// From the environment: JIESU_MAIL__SMTP__PASSWORD.
    pub password: String,
    pub timeout_secs: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            from: "接诉即办 jiesu <noreply@jiesu.localhost>".into(),
            outbox_dir: String::new(),
            retry_base_secs: 30,
            language: crate::mail::MailLanguage::Zh,
            smtp: SmtpSettings::default(),
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            allow_plaintext: false,
            username: String::new(),
            password: String::new(),
            timeout_secs: 20,
        }
    }
}

impl Settings {
    /// Where the file transport writes mails.
    pub fn outbox_dir(&self) -> PathBuf {
        if self.mail.outbox_dir.trim().is_empty() {
            self.data_dir.join("outbox")
        } else {
            PathBuf::from(&self.mail.outbox_dir)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct CalendarSettings {
    /// IANA time zone of the working hours and holidays.
    pub timezone: String,
    /// Working periods of a working day, `HH:MM-HH:MM`.
    pub working_hours: Vec<String>,
    /// The usual working days of the week (`mon` … `sun`); holidays and make-up days
    /// from the calendar files override them.
    pub working_days: Vec<String>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            timezone: "Asia/Shanghai".into(),
            working_hours: vec!["09:00-12:00".into(), "13:30-18:00".into()],
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AttachmentSettings {
    /// Largest photo accepted on a ticket.
    pub max_bytes: usize,
    /// An S3-compatible bucket for the photos; without a bucket they are files under
    /// `<data_dir>/attachments`.
    pub s3: S3Settings,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            s3: S3Settings::default(),
        }
    }
}

/// An S3-compatible bucket (MinIO, Ceph, a cloud provider's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// Empty: photos stay in the data folder.
    pub bucket: String,
    /// The service's URL, e.g. `https://minio.example.gov.cn:9000`; empty: AWS's own.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    /// From the environment: JIESU_ATTACHMENTS__S3__SECRET_ACCESS_KEY.
    pub secret_access_key: String,
    /// Allow an `http://` endpoint (a service on the same host or network).
    pub allow_http: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub bind: String,
    /// How people reach this service; links in mails start with it.
    pub public_url: String,
    /// Largest request body accepted; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// A request body must arrive whole within this (a slow client is cut off with 408).
    pub body_timeout_secs: u64,
    /// Production refuses an `http://` public URL unless this is set.
    pub allow_http: bool,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (sign-in
    /// throttling, logs); from anyone else the header is ignored.
    pub trusted_proxies: Vec<String>,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://PATH`; empty means `<data_dir>/jiesu.db`.
    pub url: String,
    /// Connections; 0 picks for the store: 16 on PostgreSQL, 1 on SQLite, where writers
    /// take turns anyway and waiting in the pool's queue beats SQLite's busy-wait.
    pub pool_size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout_secs: u64,
    /// PostgreSQL streaming replicas for the reads that tolerate a little lag (rates,
    /// lists, exports, hotspots, the console's overview, Open311 reads). In the
    /// environment, one variable with the URLs separated by commas. Ignored on SQLite.
    pub replica_urls: Vec<String>,
    /// A replica further behind the primary than this is skipped (its reads go to the
    /// primary) until it catches up.
    pub replica_max_lag_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// HS256 key. Outside production an empty one is generated once and kept in the data folder.
    pub jwt_secret: String,
    pub token_ttl_minutes: i64,
    /// Failed logins in a row after which each further attempt must wait.
    pub max_failed_logins: i32,
    /// The wait after the first lockout; it doubles with every further failure.
    pub lockout_base_secs: i64,
    pub lockout_max_secs: i64,
    /// Failed sign-ins from one address, whatever the names, within `address_window_secs`
    /// after which that address waits out the window.
    pub max_failed_logins_per_address: i32,
    pub address_window_secs: i64,
    /// Password checks (argon2, ~19 MiB each) running at once in this process; 0 means
    /// one per core. Others wait up to `password_wait_ms`, then get 503 with Retry-After.
    pub password_checks: usize,
    pub password_wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `jiesu_api=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DemoSettings {
    /// Load the demo city when the embedded default starts on an empty database.
    pub seed_on_first_start: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SchedulerSettings {
    /// Run the escalation sweep inside `jiesu serve`.
    pub enabled: bool,
    /// Six or seven fields, seconds first (`0 */5 * * * *`).
    pub cron: String,
    /// How often the sender looks for mail to deliver or retry.
    pub deliver_every_secs: u64,
    /// When to take a backup (`jiesu admin backup`), seconds first like `cron`; empty: never.
    pub backup_cron: String,
    /// Where scheduled backups go, each in a folder `jiesu-<UTC instant>`.
    pub backup_dir: PathBuf,
    /// How many scheduled backups to keep; older ones are deleted after each new one.
    pub backup_keep: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            production: false,
            data_dir: PathBuf::from("data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            auth: AuthSettings::default(),
            log: LogSettings::default(),
            demo: DemoSettings::default(),
            scheduler: SchedulerSettings::default(),
            attachments: AttachmentSettings::default(),
            calendar: CalendarSettings::default(),
            mail: MailSettings::default(),
            hotspots: HotspotSettings::default(),
            warnings: WarningSettings::default(),
            privacy: PrivacySettings::default(),
            open311: Open311Settings::default(),
            idempotency: IdempotencySettings::default(),
            metrics: MetricsSettings::default(),
            config_dir: PathBuf::from("config"),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
            workers: 0,
            body_timeout_secs: 60,
            allow_http: false,
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: 30,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 0,
            acquire_timeout_secs: 5,
            replica_urls: Vec::new(),
            replica_max_lag_secs: 5.0,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            token_ttl_minutes: 720,
            max_failed_logins: 5,
            lockout_base_secs: 2,
            lockout_max_secs: 900,
            max_failed_logins_per_address: 30,
            address_window_secs: 900,
            password_checks: 0,
            password_wait_ms: 2000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            seed_on_first_start: true,
        }
    }
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            cron: "0 */5 * * * *".into(),
            deliver_every_secs: 15,
            backup_cron: String::new(),
            backup_dir: PathBuf::from("backups"),
            backup_keep: 7,
        }
    }
}

impl Settings {
    /// Reads `<config_dir>/base.toml`, then `<config_dir>/<environment>.toml`, then the
    /// `JIESU_` environment. Missing files are fine; a malformed one is an error naming it.
    pub fn load(config_dir: &Path, environment: Option<&str>) -> CoreResult<Self> {
        let mut builder = config::Config::builder().add_source(
            config::File::from(config_dir.join("base.toml"))
                .format(config::FileFormat::Toml)
                .required(false),
        );
        if let Some(env) = environment.filter(|e| !e.is_empty()) {
            builder = builder.add_source(
                config::File::from(config_dir.join(format!("{env}.toml")))
                    .format(config::FileFormat::Toml)
                    .required(false),
            );
        }
        let mut settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("JIESU")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("database.replica_urls"),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| CoreError::invalid("config", "invalid", e.to_string()))?;
        settings.config_dir = config_dir.to_path_buf();
        settings.check()?;
        Ok(settings)
    }

    /// The rules a configuration must satisfy before anything starts.
    pub fn check(&self) -> CoreResult<()> {
        let mut problems = Vec::new();
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            problems.push(crate::FieldError::new(
                "server.bind",
                "invalid",
                format!("{:?} is not an address:port", self.server.bind),
            ));
        }
        if self.auth.token_ttl_minutes <= 0 {
            problems.push(crate::FieldError::new(
                "auth.token_ttl_minutes",
                "range",
                "must be positive",
            ));
        }
        if self.production && self.mail.transport == MailTransport::File {
            problems.push(crate::FieldError::new(
                "mail.transport",
                "invalid",
                "production mails supervisors through SMTP: set JIESU_MAIL__TRANSPORT=smtp",
            ));
        }
        if self.warnings.points.iter().any(|p| !(1..=99).contains(p)) {
            problems.push(crate::FieldError::new(
                "warnings.points",
                "range",
                "each point is a percentage of the window from 1 to 99",
            ));
        }
        if self.privacy.retention_days == 0 {
            problems.push(crate::FieldError::new(
                "privacy.retention_days",
                "range",
                "must be at least one day: a resident's contact is needed until the ticket is done",
            ));
        }
        if !(self.database.replica_max_lag_secs.is_finite()
            && self.database.replica_max_lag_secs > 0.0)
        {
            problems.push(crate::FieldError::new(
                "database.replica_max_lag_secs",
                "range",
                "must be a positive number of seconds",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(crate::FieldError::new(
                "log.format",
                "invalid",
                "must be text or json",
            ));
        }
        if self.production {
            problems.extend(self.insecure_in_production());
            let secret = self.auth.jwt_secret.trim();
            if secret.is_empty() {
                problems.push(crate::FieldError::new(
                    "auth.jwt_secret",
                    "required",
                    "production needs a JWT secret: set JIESU_AUTH__JWT_SECRET",
                ));
            } else if PLACEHOLDER_SECRETS.contains(&secret.to_ascii_lowercase().as_str())
                || secret.len() < MIN_PRODUCTION_SECRET_LEN
            {
                problems.push(crate::FieldError::new(
                    "auth.jwt_secret",
                    "weak",
                    format!(
                        "production refuses a placeholder or a secret shorter than {MIN_PRODUCTION_SECRET_LEN} bytes"
                    ),
                ));
            }
        }
        for proxy in &self.server.trusted_proxies {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                problems.push(crate::FieldError::new(
                    "server.trusted_proxies",
                    "invalid",
                    format!("{proxy:?} is not an IP address"),
                ));
            }
        }
        for origin in &self.open311.cors_allowed_origins {
            let ok = origin == "*"
                || url::Url::parse(origin).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.path() == "/"
                        && !origin.ends_with('/')
                });
            if !ok {
                problems.push(crate::FieldError::new(
                    "open311.cors_allowed_origins",
                    "invalid",
                    format!(
                        "{origin:?} is not an origin such as https://app.example.gov.cn, nor *"
                    ),
                ));
            }
        }
        if let Err(CoreError::Invalid(mut errs)) = self.database_url() {
            problems.append(&mut errs);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid(problems))
        }
    }

    /// Settings that expose residents' data on the wire, refused in production unless
    /// explicitly allowed.
    fn insecure_in_production(&self) -> Vec<crate::FieldError> {
        let mut problems = Vec::new();
        if self.server.public_url.starts_with("http://") && !self.server.allow_http {
            problems.push(crate::FieldError::new(
                "server.public_url",
                "insecure",
                "production is reached over https (behind a TLS-terminating proxy, give its \
                 https:// address); set server.allow_http = true only on a closed network",
            ));
        }
        if self.mail.transport == MailTransport::Smtp
            && self.mail.smtp.tls == SmtpTls::None
            && !self.mail.smtp.allow_plaintext
        {
            problems.push(crate::FieldError::new(
                "mail.smtp.tls",
                "insecure",
                "production sends mail over starttls or tls; set mail.smtp.allow_plaintext = \
                 true only for a relay on the same host",
            ));
        }
        problems
    }

    /// The public URL is https: cookies are `Secure` and HSTS is sent.
    pub fn serves_https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// `database.pool_size`, or the store's own default when it is 0.
    pub fn pool_size_for(&self, url: &DatabaseUrl) -> u32 {
        match (self.database.pool_size, url) {
            (0, DatabaseUrl::Sqlite(_)) => 1,
            (0, DatabaseUrl::Postgres(_)) => 16,
            (n, _) => n,
        }
    }

    pub fn database_url(&self) -> CoreResult<DatabaseUrl> {
        if self.database.url.trim().is_empty() {
            Ok(DatabaseUrl::sqlite_in(&self.data_dir))
        } else {
            DatabaseUrl::parse(&self.database.url)
        }
    }

    /// True for the embedded default: SQLite in the data folder, not production.
    pub fn is_embedded_default(&self) -> bool {
        !self.production && self.database.url.trim().is_empty()
    }

    /// The JWT key. Outside production a missing one is generated once and kept in
    /// `<data_dir>/jwt-secret.key` (mode 0600), so tokens survive a restart.
    pub fn jwt_secret(&self) -> CoreResult<String> {
        let configured = self.auth.jwt_secret.trim();
        if !configured.is_empty() {
            return Ok(configured.to_owned());
        }
        if self.production {
            return Err(CoreError::invalid(
                "auth.jwt_secret",
                "required",
                "production needs a JWT secret",
            ));
        }
        let path = self.data_dir.join(SECRET_FILE);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            if !existing.trim().is_empty() {
                return Ok(existing.trim().to_owned());
            }
        }
        let secret = crate::secrets::random_secret(48);
        crate::fsutil::write_private(&path, secret.as_bytes())?;
        tracing::info!(path = %path.display(), "generated a JWT secret for this data folder");
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    #[test]
    fn base_toml_documents_exactly_the_defaults() {
        let text = std::fs::read_to_string(repo_config_dir().join("base.toml")).unwrap();
        let from_file: Settings = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        assert_eq!(from_file, Settings::default());
    }

    #[test]
    fn production_refuses_missing_placeholder_and_short_secrets() {
        for secret in ["", "change-me", "short-but-not-a-placeholder"] {
            let mut s = Settings {
                production: true,
                ..Settings::default()
            };
            s.auth.jwt_secret = secret.into();
            let err = s.check().unwrap_err().to_string();
            assert!(err.contains("auth.jwt_secret"), "{secret:?}: {err}");
        }
        let mut ok = Settings {
            production: true,
            ..Settings::default()
        };
        ok.auth.jwt_secret = "x".repeat(40);
        ok.server.public_url = "https://jiesu.example.gov.cn".into();
        let err = ok.check().unwrap_err().to_string();
        assert!(
            err.contains("mail.transport"),
            "production mails through SMTP: {err}"
        );
        ok.mail.transport = MailTransport::Smtp;
        ok.check().unwrap();
    }

    #[test]
    fn production_refuses_plain_http_and_plaintext_smtp_unless_allowed() {
        let mut s = Settings {
            production: true,
            ..Settings::default()
        };
        s.auth.jwt_secret = "x".repeat(40);
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp.tls = SmtpTls::None;
        let err = s.check().unwrap_err().to_string();
        assert!(
            err.contains("server.public_url") && err.contains("mail.smtp.tls"),
            "{err}"
        );
        s.server.allow_http = true;
        s.mail.smtp.allow_plaintext = true;
        s.check().unwrap();
        // Outside production both are fine: the embedded default serves http on loopback.
        let dev = Settings {
            mail: MailSettings {
                transport: MailTransport::Smtp,
                smtp: SmtpSettings {
                    tls: SmtpTls::None,
                    ..SmtpSettings::default()
                },
                ..MailSettings::default()
            },
            ..Settings::default()
        };
        dev.check().unwrap();
    }

    #[test]
    fn an_unknown_mail_transport_is_refused_naming_the_choices() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.toml"),
            "[mail]\ntransport = \"pigeon\"\n",
        )
        .unwrap();
        let err = Settings::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("pigeon") && err.contains("smtp"), "{err}");
    }

    #[test]
    fn the_mail_language_is_zh_or_en_and_anything_else_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.toml"), "[mail]\nlanguage = \"en\"\n").unwrap();
        let settings = Settings::load(dir.path(), None).unwrap();
        assert_eq!(settings.mail.language, crate::mail::MailLanguage::En);
        std::fs::write(dir.path().join("base.toml"), "[mail]\nlanguage = \"fr\"\n").unwrap();
        let err = Settings::load(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("fr") && err.contains("zh") && err.contains("en"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut s = Settings::default();
        s.server.bind = "localhost".into();
        s.database.url = "mysql://x".into();
        let err = s.check().unwrap_err().to_string();
        assert!(
            err.contains("server.bind") && err.contains("database.url"),
            "{err}"
        );
    }

    #[test]
    fn generated_secret_is_kept_in_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let first = s.jwt_secret().unwrap();
        assert!(first.len() >= 48);
        assert_eq!(s.jwt_secret().unwrap(), first);
    }
}
