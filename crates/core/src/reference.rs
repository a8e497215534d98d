//! What every create reads and hardly ever changes — a category with its SLA rules, an org
//! unit's kind, parent, path and code — kept a second by each process (`moka`), so logging
//! a ticket does not read them from the database each time.
//!
//! A change made by this process (a category or an org unit edited) takes effect here at
//! once: its handler calls `forget_all`. One made by another process takes effect here when
//! the kept copy expires, within `FRESH_FOR`. What is not found is never kept (it may be
//! created the next moment).

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use crate::categories::SlaRule;
use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::ids::{CategoryId, OrgUnitId};
use crate::schema::{categories as categories_t, org_units, sla_policies};
use crate::types::{OrgKind, Priority};

/// The longest a change made on another process waits to take effect on this one.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// At most this many of each kept (a city has about 40,000 org units with its grids).
const CAPACITY: u64 = 100_000;

/// An org unit's place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub kind: OrgKind,
    pub parent_id: Option<OrgUnitId>,
    pub path: String,
    pub code: String,
}

/// The kept reference data of one database. Cloned, it is the same store.
#[derive(Clone)]
pub struct Reference {
    units: moka::sync::Cache<OrgUnitId, Arc<Unit>>,
    categories: moka::sync::Cache<String, Arc<Vec<CategoryRule>>>,
    /// The ticket-number sequences known to exist (never dropped, so kept for good).
    sequences: moka::sync::Cache<String, ()>,
}

/// A store whose entries expire `FRESH_FOR` after they were put in, holding at most
/// `capacity`: what a process keeps of what another process may change (here, and the
/// API's accounts behind tokens).
pub fn kept_a_second<K, V>(capacity: u64) -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .time_to_live(FRESH_FOR)
        .build()
}

impl Default for Reference {
    fn default() -> Self {
        Reference {
            units: kept_a_second(CAPACITY),
            categories: kept_a_second(CAPACITY),
            sequences: moka::sync::Cache::new(CAPACITY),
        }
    }
}

impl Reference {
    /// An org unit by its id; `None` if there is none.
    pub fn unit(&self, conn: &mut DbConnection, id: OrgUnitId) -> CoreResult<Option<Arc<Unit>>> {
        if let Some(unit) = self.units.get(&id) {
            return Ok(Some(unit));
        }
        let row: Option<(OrgKind, Option<OrgUnitId>, String, String)> = org_units::table
            .find(id)
            .select((
                org_units::kind,
                org_units::parent_id,
                org_units::path,
                org_units::code,
            ))
            .first(conn)
            .optional()?;
        Ok(row.map(|(kind, parent_id, path, code)| {
            let unit = Arc::new(Unit {
                kind,
                parent_id,
                path,
                code,
            });
            self.units.insert(id, unit.clone());
            unit
        }))
    }

    /// A category by its code with its SLA rules, one per priority; empty when there is no
    /// such category.
    pub fn category_rules(
        &self,
        conn: &mut DbConnection,
        code: &str,
    ) -> CoreResult<Arc<Vec<CategoryRule>>> {
        if let Some(rules) = self.categories.get(code) {
            return Ok(rules);
        }
        let rules = Arc::new(category_rules_now(conn, code)?);
        if !rules.is_empty() {
            self.categories.insert(code.to_owned(), rules.clone());
        }
        Ok(rules)
    }

    /// Whether the ticket-number sequence `name` is known to exist.
    pub fn knows_sequence(&self, name: &str) -> bool {
        self.sequences.contains_key(name)
    }

    /// `name` exists (committed).
    pub fn know_sequence(&self, name: &str) {
        self.sequences.insert(name.to_owned(), ());
    }

    /// After this process changed a category, its rules or the org tree.
    pub fn forget_all(&self) {
        self.units.invalidate_all();
        self.categories.invalidate_all();
    }
}

/// One SLA rule of a category: (id, default priority, active, priority, rule).
pub type CategoryRule = (CategoryId, Priority, bool, Priority, SlaRule);

/// A category by its code with its four SLA rules, in one query; empty when there is no
/// such category.
fn category_rules_now(conn: &mut DbConnection, code: &str) -> CoreResult<Vec<CategoryRule>> {
    Ok(categories_t::table
        .inner_join(sla_policies::table)
        .filter(categories_t::code.eq(code))
        .select((
            categories_t::id,
            categories_t::default_priority,
            categories_t::active,
            sla_policies::priority,
            (
                sla_policies::respond_minutes,
                sla_policies::resolve_minutes,
                sla_policies::clock,
            ),
        ))
        .load::<(
            CategoryId,
            Priority,
            bool,
            Priority,
            (i32, i32, crate::types::ClockKind),
        )>(conn)?
        .into_iter()
        .map(|(id, default, active, p, (respond, resolve, clock))| {
            (
                id,
                default,
                active,
                p,
                SlaRule {
                    respond_minutes: respond,
                    resolve_minutes: resolve,
                    clock,
                },
            )
        })
        .collect())
}
