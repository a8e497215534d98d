//! The `jiesu` binary: `serve` (the default), `migrate`, `scheduler`, and admin tasks.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jiesu_api::Application;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::Settings;
use jiesu_core::db::{self, Database, DatabaseUrl, Pool, PoolOptions};
use jiesu_core::ids::{OrgUnitId, PartnerId};
use jiesu_core::replicas::Replicas;
use jiesu_core::tickets::Context;
use jiesu_core::types::Role;
use jiesu_core::users::{self, NewUser};
use jiesu_core::{demo, org, CoreError};
use jiesu_scheduler::Scheduler;

#[derive(Parser)]
#[command(
    name = "jiesu",
    version,
    about = "接诉即办: resident-needs ticketing and dispatch"
)]
struct Cli {
    /// Folder holding base.toml and <environment>.toml.
    #[arg(
        long,
        global = true,
        env = "JIESU_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: PathBuf,
    /// Which config/<environment>.toml to layer on base.toml (e.g. production).
    #[arg(long = "env", global = true, env = "JIESU_ENVIRONMENT")]
    environment: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default): migrates, loads demo data on a fresh embedded database.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// The escalation scheduler: sweeps on its cron schedule and delivers mail.
    Scheduler {
        #[command(subcommand)]
        action: Option<SchedulerCommand>,
    },
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the OpenAPI document of the API (also served at /api/v1/openapi.json).
    Openapi,
}

#[derive(Subcommand)]
enum SchedulerCommand {
    /// Run the scheduler loop (the default).
    Run,
    /// One sweep as of an instant, then deliver the mail due by then; prints what rose.
    Sweep {
        /// An RFC 3339 instant, e.g. 2026-11-24T10:00:00+08:00; default now.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Deliver (or retry) the mail waiting in the outbox now.
    Deliver,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account; the password is read from stdin or generated and printed.
    CreateUser(CreateUserArgs),
    /// Set an account's password (e.g. a locked-out administrator's); its sessions end.
    ResetPassword(ResetPasswordArgs),
    /// Load the demo city into an empty database (refused in production).
    LoadDemo,
    /// Write many tickets at once for benchmarks, with a progress bar (refused in production).
    Generate(GenerateArgs),
    /// Print how the store computes an org node's (or a unit's) rates for a period: the
    /// plan as run on PostgreSQL (EXPLAIN ANALYZE), the query plan on SQLite.
    ExplainRates(ExplainRatesArgs),
    /// Back up the database and the photos into a new folder, while the server runs: a
    /// consistent copy (SQLite `VACUUM INTO`, PostgreSQL `pg_dump` of one snapshot) and a
    /// manifest of rows per table and a checksum per file.
    Backup(BackupArgs),
    /// Restore a backup into an empty database and data folder, after checking every file
    /// against its manifest.
    Restore(RestoreArgs),
    /// Copy this SQLite installation into an empty PostgreSQL database, verify it table by
    /// table, and print the setting to change. Stop `jiesu serve` first.
    MoveTo(MoveToArgs),
}

#[derive(Args)]
struct MoveToArgs {
    /// The empty PostgreSQL database: postgres://…
    url: String,
}

#[derive(Args)]
struct BackupArgs {
    /// The folder to write; it must not exist or be empty.
    dest: PathBuf,
}

#[derive(Args)]
struct RestoreArgs {
    /// A folder written by `jiesu admin backup`.
    src: PathBuf,
}

#[derive(Args)]
struct ExplainRatesArgs {
    /// The org node whose subtree is counted.
    #[arg(
        long,
        conflicts_with = "partner_id",
        required_unless_present = "partner_id"
    )]
    org_unit_id: Option<i64>,
    /// A partner unit instead.
    #[arg(long)]
    partner_id: Option<i64>,
    /// RFC 3339; default 30 days before `--to`.
    #[arg(long)]
    from: Option<String>,
    /// RFC 3339; default now.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args)]
struct GenerateArgs {
    /// Closed tickets; with `--days`, by default the days' tickets less the open ones.
    #[arg(long)]
    closed: Option<i64>,
    /// Open tickets, `due` of them past their response deadline at `--as-of`.
    #[arg(long, default_value_t = 0)]
    open: i64,
    #[arg(long, default_value_t = 0)]
    due: i64,
    /// An RFC 3339 instant; default now.
    #[arg(long)]
    as_of: Option<String>,
    /// Give each closed ticket the trail of a worked ticket (dispatch, claim, progress,
    /// resolve, return visit; some escalated, some reopened), as the rates read it.
    #[arg(long)]
    trails: bool,
    /// First grow the tree to a city's size (16 districts, 336 streets, 7,056
    /// communities, and in each street a partner unit per category: about 3,700, once) and
    /// spread the tickets over all its communities, each held by the unit serving its
    /// community in its category.
    #[arg(long)]
    city: bool,
    /// Log the tickets over this many days up to `--as-of`, at a city's rhythm (busier on
    /// weekdays and in office hours, quiet at night, in the calendar's time zone), the open
    /// ones the newest; each closed ticket with its own deadlines and its trail from its
    /// own logging. Without it every ticket is logged two days before `--as-of`.
    #[arg(long)]
    days: Option<i64>,
    /// Tickets a day, with `--days` (Beijing's 12345 takes about 60,000).
    #[arg(long, default_value_t = 60_000)]
    per_day: i64,
    /// Tickets per transaction.
    #[arg(long, default_value_t = 50_000)]
    batch: i64,
}

#[derive(Args)]
struct ResetPasswordArgs {
    #[arg(long)]
    username: String,
    /// Read the password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
struct CreateUserArgs {
    #[arg(long)]
    username: String,
    /// grid_member, unit_staff, supervisor or admin.
    #[arg(long)]
    role: String,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// Org unit id (supervisors: their node; grid members: their grid).
    #[arg(long)]
    org_unit: Option<i64>,
    /// Partner unit id (unit staff).
    #[arg(long)]
    partner: Option<i64>,
    /// Read the password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

fn main() -> ExitCode {
    // Everything the service writes — the database, photos, mail, secrets — holds residents'
    // data or keys: readable by the service's own user only (files 0600, folders 0700).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir, cli.environment.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Scheduler { action } => {
            scheduler(settings, action.unwrap_or(SchedulerCommand::Run))
        }
        Command::Admin(AdminCommand::CreateUser(args)) => create_user(&settings, args),
        Command::Admin(AdminCommand::ResetPassword(args)) => reset_password(&settings, &args),
        Command::Admin(AdminCommand::LoadDemo) => load_demo(&settings),
        Command::Admin(AdminCommand::Generate(args)) => generate(&settings, &args),
        Command::Admin(AdminCommand::ExplainRates(args)) => explain_rates(&settings, &args),
        Command::Admin(AdminCommand::Backup(args)) => backup(&settings, &args),
        Command::Admin(AdminCommand::Restore(args)) => restore(&settings, &args),
        Command::Admin(AdminCommand::MoveTo(args)) => move_to(&settings, &args),
        Command::Openapi => {
            println!("{}", jiesu_api::openapi::Document::new().json);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e.chain(), at = %e.place(), "command failed");
            eprintln!("error: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// How long a command waits at exit for the pool's threads and connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects, brings the schema up to date, runs `work` with the pool, and closes the pool
/// before returning, on success and on error alike: a process must not exit while a pool
/// thread is inside libpq (see `Database::close`).
fn with_database<T>(
    settings: &Settings,
    options: PoolOptions,
    work: impl FnOnce(&Pool) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    with_the_database(settings, options, |database| work(&database.pool))
}

/// `with_database`, for work that needs more of the database than its pool.
fn with_the_database<T>(
    settings: &Settings,
    options: PoolOptions,
    work: impl FnOnce(&Database) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    let url = settings.database_url()?;
    let database = Database::open(&url, options)?;
    let result = migrate_and_report(&database.pool, &url).and_then(|()| work(&database));
    if !database.close(CLOSE_TIMEOUT) {
        tracing::warn!("database connections were still busy at exit");
    }
    result
}

fn migrate_and_report(pool: &Pool, url: &DatabaseUrl) -> Result<(), CoreError> {
    let applied = db::run_migrations(&mut *db::get(pool)?)?;
    for name in &applied {
        tracing::info!(migration = %name, "applied migration");
    }
    tracing::info!(database = %url.redacted(), "database ready");
    Ok(())
}

/// Pool settings for a one-shot command.
fn one_shot(settings: &Settings) -> PoolOptions {
    PoolOptions {
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
        ..PoolOptions::one_shot()
    }
}

/// Pool settings for a long-running process.
fn long_running(settings: &Settings) -> Result<PoolOptions, CoreError> {
    let url = settings.database_url()?;
    Ok(PoolOptions::server(
        settings.pool_size_for(&url),
        Duration::from_secs(settings.database.acquire_timeout_secs),
    ))
}

fn migrate(settings: &Settings) -> Result<(), CoreError> {
    let url = settings.database_url()?;
    let database = Database::open(&url, one_shot(settings))?;
    let applied = db::run_migrations(&mut *db::get(&database.pool)?);
    database.close(CLOSE_TIMEOUT);
    let applied = applied?;
    if applied.is_empty() {
        println!("{}: no pending migrations", url.redacted());
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(())
}

fn serve(settings: Settings) -> Result<(), CoreError> {
    with_the_database(&settings.clone(), long_running(&settings)?, |database| {
        let pool = &database.pool;
        first_start(&settings, pool)?;
        let scheduler = if settings.scheduler.enabled {
            Some(Scheduler::new(settings.clone(), pool.clone())?)
        } else {
            tracing::info!("the scheduler is off here (scheduler.enabled = false)");
            None
        };
        let replicas = Replicas::open(&settings, database)?;
        let system = actix_web::rt::System::new();
        // The server and the scheduler are built inside the runtime that runs them: the
        // SMTP transport's connection pool starts a task on it.
        let served = system
            .block_on(async {
                let app = Application::build(settings.clone(), pool.clone(), replicas.clone())
                    .map_err(|e| CoreError::internal_because("starting the server", e))?;
                let (host, _) = settings
                    .server
                    .bind
                    .rsplit_once(':')
                    .unwrap_or(("127.0.0.1", ""));
                let url = format!("http://{host}:{}", app.port());
                tracing::info!(url = %url, console = %format!("{url}/console/"), "jiesu is serving; the web console is at {url}/console/");
                let scheduler = scheduler.map(|s| actix_web::rt::spawn(s.run()));
                let served = app.run_until_stopped().await;
                if let Some(task) = scheduler {
                    task.abort();
                    let _ = task.await;
                }
                served.map_err(|e| CoreError::internal_because("server", e))
            });
        if !replicas.close(CLOSE_TIMEOUT) {
            tracing::warn!("replica connections were still busy at exit");
        }
        served?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// On an empty database: a bootstrap admin from the environment, or the demo city on the
/// embedded default.
fn first_start(settings: &Settings, pool: &Pool) -> Result<(), CoreError> {
    let mut conn = db::get(pool)?;
    if users::any_exist(&mut conn)? {
        return Ok(());
    }
    if let (Ok(username), Ok(password)) = (
        std::env::var("JIESU_BOOTSTRAP_ADMIN_USERNAME"),
        std::env::var("JIESU_BOOTSTRAP_ADMIN_PASSWORD"),
    ) {
        let user = users::create_unchecked(
            &mut conn,
            &NewUser {
                display_name: username.clone(),
                username,
                email: None,
                password,
                role: Role::Admin,
                org_unit_id: None,
                partner_id: None,
            },
            now(),
        )?;
        tracing::info!(username = %user.username, "created the bootstrap administrator");
        return Ok(());
    }
    if settings.is_embedded_default()
        && settings.demo.seed_on_first_start
        && org::is_empty(&mut conn)?
    {
        seed_demo(settings, &mut conn)?;
    } else {
        tracing::warn!("no accounts yet: create the first administrator with `jiesu admin create-user --role admin --username NAME`");
    }
    Ok(())
}

fn seed_demo(
    settings: &Settings,
    conn: &mut jiesu_core::db::DbConnection,
) -> Result<(), CoreError> {
    let logins = demo::seed(conn, settings.production, now())?;
    let calendar =
        WorkingCalendar::load(&settings.calendar, &settings.config_dir.join("calendar"))?;
    let ctx = Context {
        now: now(),
        calendar: &calendar,
        reference: &Default::default(),
        public_url: &settings.server.public_url,
        mail_language: settings.mail.language,
    };
    let tickets = demo::seed_tickets(conn, &ctx)?;
    let path = demo::write_credentials(&settings.data_dir, &logins)?;
    println!("{}", demo::credentials_text(&logins));
    println!(
        "These demo logins are kept in {} (readable by you only).",
        path.display()
    );
    tracing::info!(file = %path.display(), tickets = %tickets.join(", "), "loaded the demo city");
    Ok(())
}

fn scheduler(settings: Settings, action: SchedulerCommand) -> Result<(), CoreError> {
    let options = match action {
        SchedulerCommand::Run => long_running(&settings)?,
        _ => one_shot(&settings),
    };
    let as_of = match &action {
        SchedulerCommand::Sweep { as_of: Some(text) } => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| {
                    CoreError::invalid(
                        "as-of",
                        "invalid",
                        format!("{text:?} is not an RFC 3339 instant: {e}"),
                    )
                })?
                .naive_utc(),
        ),
        _ => None,
    };
    with_database(&settings.clone(), options, move |pool| {
        let scheduler = Scheduler::new(settings, pool.clone())?;
        let runtime = tokio::runtime::Runtime::new()
            .map_err(|e| CoreError::internal_because("runtime", e))?;
        runtime.block_on(async move {
            match action {
                SchedulerCommand::Run => {
                    tokio::select! {
                        _ = scheduler.clone().run() => {}
                        _ = shutdown_signal() => tracing::info!("stopping the scheduler"),
                    }
                    Ok(())
                }
                SchedulerCommand::Sweep { .. } => {
                    let as_of = as_of.unwrap_or_else(now);
                    let (report, delivery) = scheduler.sweep(as_of, now()).await?;
                    println!(
                        "sweep as of {}Z: {} ticket(s) escalated, {} digest(s) queued",
                        as_of,
                        report.escalated.len(),
                        report.digests
                    );
                    for e in &report.escalated {
                        println!(
                            "  {}  level {} -> {}  {}  to {}",
                            e.number,
                            e.from_level,
                            e.to_level,
                            e.node_name,
                            e.digest_recipients.join(", ")
                        );
                    }
                    println!(
                        "warnings: {} ticket(s) near a deadline, {} mail(s) queued",
                        report.warnings.warned.len(),
                        report.warnings.mails
                    );
                    for w in &report.warnings.warned {
                        println!(
                            "  {}  {} deadline {}Z, {}% of it gone  to {}",
                            w.number,
                            w.deadline,
                            w.due_at,
                            w.point,
                            w.recipients.join(", ")
                        );
                    }
                    println!(
                        "privacy: {} closed ticket(s) past the retention period reduced",
                        report.reduced
                    );
                    println!(
                        "mail: {} sent, {} failed (retried later)",
                        delivery.sent, delivery.failed
                    );
                    Ok(())
                }
                SchedulerCommand::Deliver => {
                    let delivery = scheduler
                        .mailer
                        .deliver_all_now(&scheduler.pool, now())
                        .await?;
                    println!(
                        "mail: {} sent, {} failed (retried later)",
                        delivery.sent, delivery.failed
                    );
                    Ok(())
                }
            }
        })
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn load_demo(settings: &Settings) -> Result<(), CoreError> {
    if settings.production {
        return Err(CoreError::Forbidden(
            "demo data is never loaded with production on",
        ));
    }
    with_database(settings, one_shot(settings), |pool| {
        seed_demo(settings, &mut *db::get(pool)?)
    })
}

fn generate(settings: &Settings, args: &GenerateArgs) -> Result<(), CoreError> {
    if settings.production {
        return Err(CoreError::Forbidden(
            "generated tickets are never written with production on",
        ));
    }
    let as_of = args
        .as_of
        .as_deref()
        .map_or_else(|| Ok(now()), |t| instant("as_of", t))?;
    let tz = WorkingCalendar::load(&settings.calendar, &settings.config_dir.join("calendar"))?.tz();
    with_database(settings, one_shot(settings), |pool| {
        generate_tickets(pool, args, as_of, tz)
    })
}

fn backup(settings: &Settings, args: &BackupArgs) -> Result<(), CoreError> {
    let url = settings.database_url()?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} photos ({eta} left)",
        )
        .map_err(|e| CoreError::internal_because("the progress bar", e))?
        .progress_chars("=> "),
    );
    let photos = jiesu_core::photos::Photos::from_settings(settings)?;
    let manifest = with_database(settings, one_shot(settings), |pool| {
        jiesu_core::backup::backup(
            &url,
            pool,
            &photos,
            &args.dest,
            chrono::Utc::now(),
            |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
    })?;
    bar.finish_and_clear();
    println!(
        "backed up {} ({}, migration {}): {} rows in {} tables, {} files, into {}",
        url.redacted(),
        manifest.backend,
        manifest.migration,
        manifest.tables.values().sum::<i64>(),
        manifest.tables.len(),
        manifest.files.len(),
        args.dest.display()
    );
    Ok(())
}

fn restore(settings: &Settings, args: &RestoreArgs) -> Result<(), CoreError> {
    let url = settings.database_url()?;
    let known = db::latest_known_migration(url.backend())?;
    // Not through `with_database`: opening the pool would create and migrate the target.
    let photos = jiesu_core::photos::Photos::from_settings(settings)?;
    let manifest = jiesu_core::backup::restore(&args.src, &url, &photos, &known)?;
    println!(
        "restored the backup of {} ({} rows in {} tables, migration {}) into {}; start jiesu as usual",
        manifest.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        manifest.tables.values().sum::<i64>(),
        manifest.tables.len(),
        manifest.migration,
        url.redacted()
    );
    Ok(())
}

fn move_to(settings: &Settings, args: &MoveToArgs) -> Result<(), CoreError> {
    let target = DatabaseUrl::parse(&args.url)?;
    let DatabaseUrl::Postgres(target_url) = &target else {
        return Err(CoreError::invalid(
            "url",
            "not_postgres",
            "move-to copies into PostgreSQL: give a postgres://… URL",
        ));
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} {msg:24} [{bar:30}] {human_pos}/{human_len} rows",
        )
        .map_err(|e| CoreError::internal_because("the progress bar", e))?
        .progress_chars("=> "),
    );
    let moved = with_database(settings, one_shot(settings), |pool| {
        jiesu_core::moving::move_to_postgres(
            &mut *db::get(pool)?,
            target_url,
            |table, done, total| {
                bar.set_message(table.to_owned());
                bar.set_length(u64::try_from(total).unwrap_or(0));
                bar.set_position(u64::try_from(done).unwrap_or(0));
            },
        )
    })?;
    bar.finish_and_clear();
    println!(
        "moved {} rows in {} tables to {}, each table verified.\n\
         Now set `database.url` to it (config/<environment>.toml, or JIESU_DATABASE__URL={}) \
         and start jiesu; the photos stay in {}.",
        moved.values().sum::<i64>(),
        moved.len(),
        target.redacted(),
        target.redacted(),
        settings.data_dir.display()
    );
    Ok(())
}

fn instant(field: &'static str, text: &str) -> Result<chrono::NaiveDateTime, CoreError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .map_err(|e| CoreError::invalid(field, "invalid", format!("{text:?}: {e}")))
}

fn explain_rates(settings: &Settings, args: &ExplainRatesArgs) -> Result<(), CoreError> {
    use jiesu_core::stats::{setwise, Cohort, Period};
    let to = args
        .to
        .as_deref()
        .map_or_else(|| Ok(now()), |t| instant("to", t))?;
    let from = match &args.from {
        Some(text) => instant("from", text)?,
        None => to - chrono::Duration::days(30),
    };
    let period = Period::new(from, to)?;
    with_database(settings, one_shot(settings), |pool| {
        let conn = &mut *db::get(pool)?;
        let cohort = match (args.org_unit_id, args.partner_id) {
            (_, Some(partner)) => Cohort::partner(PartnerId(partner)),
            (Some(node), None) => Cohort::subtree(jiesu_core::scope::visible_path(
                conn,
                &jiesu_core::Scope::Everything,
                OrgUnitId(node),
            )?),
            (None, None) => {
                return Err(CoreError::invalid(
                    "org_unit_id",
                    "required",
                    "name an org node or a partner unit",
                ))
            }
        };
        println!("{}", setwise::explain(conn, &cohort, period)?);
        Ok(())
    })
}

fn generate_tickets(
    pool: &Pool,
    args: &GenerateArgs,
    as_of: chrono::NaiveDateTime,
    tz: jiesu_core::loadgen::Tz,
) -> Result<(), CoreError> {
    let closed = match (args.closed, args.days) {
        (Some(closed), _) => closed,
        (None, Some(days)) => days.saturating_mul(args.per_day) - args.open,
        (None, None) => 0,
    };
    let total = u64::try_from(closed + args.open).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} tickets ({per_sec}, {eta} left)",
        )
        .map_err(|e| CoreError::internal_because("the progress bar", e))?
        .progress_chars("=> "),
    );
    let spec = jiesu_core::loadgen::Spec {
        closed,
        open: args.open,
        due: args.due,
        as_of,
        trails: args.trails,
        city: args.city,
        days: args.days,
        tz,
    };
    jiesu_core::loadgen::generate(&mut *db::get(pool)?, spec, args.batch, |n| bar.inc(n))?;
    bar.finish();
    println!(
        "generated {} closed and {} open ticket(s), {} due at {}Z",
        closed, args.open, args.due, as_of
    );
    Ok(())
}

/// The first line of standard input, or a generated password (and whether it was).
fn password_from(stdin: bool) -> Result<(String, bool), CoreError> {
    if !stdin {
        return Ok((users::generated_password(), true));
    }
    if std::io::stdin().is_terminal() {
        eprintln!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CoreError::internal_because("reading the password", e))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

fn reset_password(settings: &Settings, args: &ResetPasswordArgs) -> Result<(), CoreError> {
    let (password, generated) = password_from(args.password_stdin)?;
    let user = with_database(settings, one_shot(settings), |pool| {
        jiesu_core::signin::reset_password_unchecked(
            &mut *db::get(pool)?,
            &args.username,
            &password,
            now(),
        )
    })?;
    println!(
        "reset the password of {} {} (id {}); its sessions have ended",
        user.role, user.username, user.id
    );
    if !user.active {
        println!("note: the account is disabled; an administrator enables it");
    }
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

fn create_user(settings: &Settings, args: CreateUserArgs) -> Result<(), CoreError> {
    let role: Role = args
        .role
        .parse()
        .map_err(|e: jiesu_core::types::UnknownVariant| {
            CoreError::invalid("role", "invalid", e.to_string())
        })?;
    let (password, generated) = password_from(args.password_stdin)?;
    let user = with_database(settings, one_shot(settings), |pool| {
        users::create_unchecked(
            &mut *db::get(pool)?,
            &NewUser {
                display_name: args.display_name.unwrap_or_else(|| args.username.clone()),
                username: args.username,
                email: args.email,
                password: password.clone(),
                role,
                org_unit_id: args.org_unit.map(OrgUnitId),
                partner_id: args.partner.map(PartnerId),
            },
            now(),
        )
    })?;
    println!("created {} {} (id {})", user.role, user.username, user.id);
    if generated {
        println!("password: {password}");
    }
    Ok(())
}
