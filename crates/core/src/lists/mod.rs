//! The three lists (DESIGN.md §6). A community's **needs** (需求清单): pressing needs
//! entered by a supervisor or gathered from tickets (several households, one problem).
//! Partner units' **resources** (资源清单): what they can offer. **Projects** (项目清单): a
//! need matched with a resource or a unit, with an owner, milestones and a due date,
//! followed like tickets through states with an append-only event trail. A unit may also
//! claim a published need as a project (双向认领).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{
    CategoryId, MilestoneId, NeedId, OrgUnitId, PartnerId, ProjectId, ResourceId, TicketId,
};
use crate::pagination::{Page, PageRequest};
use crate::schema::{
    categories, need_tickets, org_units, partner_communities, project_events, project_milestones,
    resource_communities, tickets,
};
use crate::scope::{can_see_org_unit, in_subtree, Actor, Scope};
use crate::types::{NeedSource, NeedStatus, OrgKind, Priority, ProjectStatus, Role};
use crate::validate;

mod needs;
mod overdue;
mod projects;
mod resources;

pub use needs::*;
pub use overdue::*;
pub use projects::*;
pub use resources::*;
