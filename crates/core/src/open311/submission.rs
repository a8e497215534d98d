//! A request as a channel posts it: checked, placed in a community and logged as a ticket
//! with what the request brought kept beside it.

use super::*;

/// What `POST requests` carries, already read from the form.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub jurisdiction_id: Option<String>,
    pub service_code: String,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
    /// `attribute[CODE]` answers; a multi value list may repeat a code.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// How requests are mapped and read.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    pub intake_community: &'a str,
    pub nearest_centre_max_metres: f64,
    pub list_all_tickets: bool,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub service_request_id: String,
    pub token: String,
    pub service_notice: String,
}

/// An Open311 failure: the status and the specification's `{code, description}` list.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub descriptions: Vec<String>,
}

impl Refusal {
    pub(super) fn new(status: u16, description: impl Into<String>) -> Self {
        Self {
            status,
            descriptions: vec![description.into()],
        }
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(errors) => Refusal {
                status: 400,
                descriptions: errors
                    .iter()
                    .map(|f| format!("{}: {}", open311_field(&f.field), f.message))
                    .collect(),
            },
            CoreError::NotFound(what) => Refusal::new(404, format!("{what} not found")),
            CoreError::Forbidden(why) | CoreError::Unauthenticated(why) => Refusal::new(403, why),
            CoreError::Unavailable { .. } => {
                tracing::error!(error = %e.chain(), at = %e.place(), "open311: unavailable");
                Refusal::new(503, "the service is unavailable; retry")
            }
            CoreError::Conflict { message, .. } => Refusal::new(409, message),
            CoreError::Throttled { .. } => Refusal::new(429, "too many requests"),
            CoreError::Database { .. } | CoreError::Internal { .. } => {
                tracing::error!(error = %e.chain(), at = %e.place(), "open311 internal error");
                Refusal::new(500, "an internal error occurred")
            }
        }
    }
}

/// Our field names in a refusal, spoken as Open311's.
pub(super) fn open311_field(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "latitude" => "lat",
        "longitude" => "long",
        "resident_phone" => "phone",
        "resident_name" => "first_name",
        "address" => "address_string",
        other => other,
    }
}

pub(super) fn blank_to_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn check_attributes(
    defined: &[ServiceAttribute],
    given: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for code in given.keys() {
        if !defined.iter().any(|a| &a.code == code) {
            problems.push(format!(
                "attribute[{code}]: not an attribute of this service"
            ));
        }
    }
    for a in defined.iter().filter(|a| a.variable) {
        let values: Vec<&str> = given
            .get(&a.code)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = format!("attribute[{}]", a.code);
        if values.is_empty() {
            if a.required {
                problems.push(format!("{name}: required"));
            }
            continue;
        }
        let known = |v: &&str| a.values.iter().any(|x| x.key == *v);
        let ok = match a.datatype {
            Datatype::Singlevaluelist => values.len() == 1 && values.iter().all(known),
            Datatype::Multivaluelist => values.iter().all(known),
            Datatype::Number => values.len() == 1 && values[0].parse::<f64>().is_ok(),
            Datatype::Datetime => {
                values.len() == 1 && chrono::DateTime::parse_from_rfc3339(values[0]).is_ok()
            }
            Datatype::String | Datatype::Text => values.len() == 1 && values[0].len() <= 4000,
        };
        if !ok {
            problems.push(format!("{name}: not a valid {:?} value", a.datatype));
        }
    }
    problems
}

/// `POST requests`: checks the request, finds its community and logs the ticket as the
/// channel, with what the request brought kept beside it, in one transaction.
pub fn submit(
    conn: &mut DbConnection,
    key_id: i64,
    actor: &Actor,
    input: &Submission,
    policy: &Policy<'_>,
    ctx: &Context<'_>,
) -> Result<Created, Refusal> {
    let mut problems = Vec::new();
    let description = blank_to_none(&input.description);
    if description.is_some_and(|d| d.chars().count() > 4000) {
        problems.push("description: at most 4000 characters".to_owned());
    }
    if let Some(url) = blank_to_none(&input.media_url) {
        let web = url::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !web || url.len() > MAX_MEDIA_URL {
            problems.push(format!(
                "media_url: an http or https URL of at most {MAX_MEDIA_URL} characters"
            ));
        }
    }
    if input.lat.is_some() != input.long.is_some() {
        problems.push("lat, long: give both or neither".to_owned());
    }
    let address_string = blank_to_none(&input.address_string);
    let address_id = blank_to_none(&input.address_id);
    if input.lat.is_none() && address_string.is_none() && address_id.is_none() {
        problems.push("location: give lat and long, address_string or address_id".to_owned());
    }
    let service: Option<(CategoryId, String, bool)> = categories::table
        .filter(categories::code.eq(input.service_code.trim()))
        .select((categories::id, categories::name_zh, categories::active))
        .first(conn)
        .optional()
        .map_err(CoreError::from)?;
    let Some((category_id, service_name, true)) = service else {
        return Err(Refusal::new(
            404,
            format!("service_code {:?} is not a service", input.service_code),
        ));
    };
    let defined = attributes_of(conn, &[category_id])?
        .remove(&category_id)
        .unwrap_or_default();
    problems.extend(check_attributes(&defined, &input.attributes));
    if !problems.is_empty() {
        return Err(Refusal {
            status: 400,
            descriptions: problems,
        });
    }
    let Some(root_path) = (match &actor.scope {
        crate::Scope::Subtree { path, .. } => Some(path.clone()),
        _ => None,
    }) else {
        return Err(Refusal::new(
            403,
            "this key's account is not a channel account",
        ));
    };
    let community = community_for(conn, &root_path, input, address_id, policy)?;
    let title: String = description
        .unwrap_or(&service_name)
        .lines()
        .next()
        .unwrap_or(&service_name)
        .chars()
        .take(60)
        .collect();
    let name = [
        blank_to_none(&input.first_name),
        blank_to_none(&input.last_name),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let address = match (address_string, input.lat.zip(input.long)) {
        (Some(a), _) => a.chars().take(300).collect(),
        (None, Some((lat, long))) => format!("{lat:.6},{long:.6}"),
        (None, None) => address_id.unwrap_or_default().to_owned(),
    };
    let ticket = NewTicket {
        category: input.service_code.trim().to_owned(),
        priority: None,
        title,
        description: description.unwrap_or(&service_name).to_owned(),
        community_id: Some(community),
        grid_id: None,
        address,
        latitude: input.lat,
        longitude: input.long,
        resident_name: (!name.is_empty()).then_some(name),
        resident_phone: blank_to_none(&input.phone).map(str::to_owned),
        households: 1,
        channel: Some(crate::types::IntakeChannel::App),
        hotline_ref: None,
        hotline: None,
    };
    let token = hex::encode(rand::random::<[u8; 12]>());
    let attributes = serde_json::to_string(&input.attributes)
        .map_err(|e| CoreError::internal_because("a request's attributes as JSON", e))?;
    let now = truncate_to_micros(ctx.now);
    let logged = write_tx(conn, |conn| -> CoreResult<logging::Logged> {
        let logged = logging::log(conn, actor, &ticket, None, ctx)?;
        diesel::insert_into(open311_requests::table)
            .values((
                open311_requests::ticket_id.eq(logged.ticket.id),
                open311_requests::key_id.eq(key_id),
                open311_requests::token.eq(&token),
                open311_requests::address_id.eq(address_id),
                open311_requests::email.eq(blank_to_none(&input.email)),
                open311_requests::device_id.eq(blank_to_none(&input.device_id)),
                open311_requests::account_id.eq(blank_to_none(&input.account_id)),
                open311_requests::first_name.eq(blank_to_none(&input.first_name)),
                open311_requests::last_name.eq(blank_to_none(&input.last_name)),
                open311_requests::media_url.eq(blank_to_none(&input.media_url)),
                open311_requests::attributes.eq(&attributes),
                open311_requests::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(logged)
    })?;
    Ok(Created {
        service_notice: service_notice(&service_name, logged.ticket.resolve_by),
        service_request_id: logged.ticket.number,
        token,
    })
}

/// What a request's reporter is told to expect: the same sentence at `POST` and on every
/// read.
pub(super) fn service_notice(service_name: &str, resolve_by: Option<NaiveDateTime>) -> String {
    match resolve_by {
        Some(deadline) => format!(
            "已受理，{service_name}类诉求将于 {} 前办结",
            china_time(deadline)
        ),
        None => format!("已受理，{service_name}类诉求"),
    }
}

/// An org unit as a place: id, kind, parent and path.
pub(super) type Place = (OrgUnitId, OrgKind, Option<OrgUnitId>, String);
pub(super) const PLACE: (
    org_units::id,
    org_units::kind,
    org_units::parent_id,
    org_units::path,
) = (
    org_units::id,
    org_units::kind,
    org_units::parent_id,
    org_units::path,
);

pub(super) fn community_for(
    conn: &mut DbConnection,
    channel_root: &str,
    input: &Submission,
    address_id: Option<&str>,
    policy: &Policy<'_>,
) -> Result<OrgUnitId, Refusal> {
    let by_code = |conn: &mut DbConnection, code: &str, field: &str| -> Result<Place, Refusal> {
        let unit: Option<Place> = org_units::table
            .filter(org_units::code.eq(code))
            .filter(crate::scope::in_subtree(org_units::path, channel_root))
            .select(PLACE)
            .first(conn)
            .optional()
            .map_err(CoreError::from)?;
        unit.ok_or_else(|| {
            Refusal::new(
                400,
                format!("{field}: no place {code:?} in this jurisdiction"),
            )
        })
    };
    let root = match blank_to_none(&input.jurisdiction_id) {
        Some(code) => by_code(conn, code, "jurisdiction_id")?,
        None => org_units::table
            .filter(org_units::path.eq(channel_root))
            .select(PLACE)
            .first(conn)
            .map_err(CoreError::from)?,
    };
    if root.1 == OrgKind::Community {
        return Ok(root.0);
    }
    if let Some(code) = address_id {
        let unit = by_code(conn, code, "address_id")?;
        match unit {
            (id, OrgKind::Community, _, _) => return Ok(id),
            (_, OrgKind::Grid, Some(parent), _) => return Ok(parent),
            _ => return Err(Refusal::new(400, "address_id: name a community or a grid")),
        }
    }
    if let Some((lat, long)) = input.lat.zip(input.long) {
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&long) {
            return Err(Refusal::new(400, "lat, long: not a WGS84 position"));
        }
        let found = locate(
            conn,
            &root.3,
            LatLong { lat, long },
            policy.nearest_centre_max_metres,
        )?;
        if let Some(id) = found {
            return Ok(id);
        }
    }
    if !policy.intake_community.is_empty() {
        let unit = by_code(conn, policy.intake_community, "open311.intake_community")?;
        if unit.1 == OrgKind::Community {
            return Ok(unit.0);
        }
    }
    Err(Refusal::new(
        400,
        "location: outside every community of this jurisdiction, and no intake community is configured",
    ))
}
