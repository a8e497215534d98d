//! Where communities are: a centre and a boundary, and the community a point falls in.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatLong {
    #[validate(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[validate(range(min = -180.0, max = 180.0))]
    pub long: f64,
}

/// A community's place: a centre, a boundary polygon (at least three points), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"centre": {"lat": 39.995, "long": 116.47}, "boundary": [{"lat": 39.992, "long": 116.467}, {"lat": 39.992, "long": 116.473}, {"lat": 39.998, "long": 116.473}, {"lat": 39.998, "long": 116.467}]})))]
pub struct Geo {
    #[validate(nested)]
    pub centre: Option<LatLong>,
    #[serde(default)]
    #[validate(nested)]
    pub boundary: Vec<LatLong>,
}

/// A place as stored: centre latitude and longitude, the boundary as JSON (`to_geo`).
pub(crate) type GeoRow = (Option<f64>, Option<f64>, Option<String>);

/// The columns of a `GeoRow`.
pub(crate) const GEO_COLUMNS: (
    org_unit_geo::centre_lat,
    org_unit_geo::centre_long,
    org_unit_geo::boundary,
) = (
    org_unit_geo::centre_lat,
    org_unit_geo::centre_long,
    org_unit_geo::boundary,
);

pub fn geo_of(conn: &mut DbConnection, actor: &Actor, id: OrgUnitId) -> CoreResult<Geo> {
    crate::org::get(conn, actor, id)?;
    let row: Option<GeoRow> = org_unit_geo::table
        .find(id)
        .select(GEO_COLUMNS)
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Geo {
            centre: None,
            boundary: vec![],
        },
        Some(row) => to_geo(row)?,
    })
}

pub(crate) fn to_geo((lat, long, boundary): GeoRow) -> CoreResult<Geo> {
    Ok(Geo {
        centre: lat.zip(long).map(|(lat, long)| LatLong { lat, long }),
        boundary: match boundary {
            None => vec![],
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| CoreError::internal_because("boundary unreadable", e))?,
        },
    })
}

/// Sets where a community is (administrators).
pub fn set_geo(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgUnitId,
    input: &Geo,
) -> CoreResult<Geo> {
    actor.require_role(&[Role::Admin], "only an administrator edits the org tree")?;
    let mut errors = validate::fields(input);
    if !input.boundary.is_empty() && input.boundary.len() < 3 {
        errors.push(FieldError::new(
            "boundary",
            "too_short",
            "a boundary needs at least three points",
        ));
    }
    if input.centre.is_none() && input.boundary.is_empty() {
        errors.push(FieldError::new(
            "centre",
            "required",
            "give a centre, a boundary or both",
        ));
    }
    let unit = crate::org::get(conn, actor, id)?;
    if unit.kind != OrgKind::Community {
        errors.push(FieldError::new(
            "org_unit",
            "wrong_kind",
            "only communities carry a place",
        ));
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let boundary = (!input.boundary.is_empty())
        .then(|| serde_json::to_string(&input.boundary))
        .transpose()
        .map_err(|e| CoreError::internal_because("a boundary as JSON", e))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::delete(org_unit_geo::table.find(id)).execute(conn)?;
        diesel::insert_into(org_unit_geo::table)
            .values((
                org_unit_geo::org_unit_id.eq(id),
                org_unit_geo::centre_lat.eq(input.centre.map(|c| c.lat)),
                org_unit_geo::centre_long.eq(input.centre.map(|c| c.long)),
                org_unit_geo::boundary.eq(&boundary),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    geo_of(conn, actor, id)
}

/// The community of `root`'s subtree whose boundary holds the point; else the one whose
/// centre is nearest, if within `max_metres`.
pub fn locate(
    conn: &mut DbConnection,
    root_path: &str,
    point: LatLong,
    max_metres: f64,
) -> CoreResult<Option<OrgUnitId>> {
    let rows: Vec<(OrgUnitId, GeoRow)> = org_unit_geo::table
        .inner_join(org_units::table)
        .filter(crate::scope::in_subtree(org_units::path, root_path))
        .filter(org_units::kind.eq(OrgKind::Community))
        .order(org_units::id)
        .select((org_unit_geo::org_unit_id, GEO_COLUMNS))
        .load(conn)?;
    let here = geo::Point::new(point.long, point.lat);
    let mut nearest: Option<(f64, OrgUnitId)> = None;
    for (id, row) in rows {
        let place = to_geo(row)?;
        if place.boundary.len() >= 3 {
            let ring: Vec<(f64, f64)> = place.boundary.iter().map(|p| (p.long, p.lat)).collect();
            if geo::Polygon::new(geo::LineString::from(ring), vec![]).contains(&here) {
                return Ok(Some(id));
            }
        }
        if let Some(c) = place.centre {
            let metres = Haversine.distance(here, geo::Point::new(c.long, c.lat));
            if metres <= max_metres && nearest.is_none_or(|(best, _)| metres < best) {
                nearest = Some((metres, id));
            }
        }
    }
    Ok(nearest.map(|(_, id)| id))
}
