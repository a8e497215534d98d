//! Demo data: a small but realistic city (two districts, four streets, eight communities
//! with grids), partner units of every kind, categories with Beijing 12345-style limits,
//! and one account per role with a generated password. Built through the same public
//! functions an administrator's calls go through. Never in production.

use std::path::Path;

use chrono::NaiveDateTime;

use crate::categories::{self, NewCategory, SlaPolicies, SlaRule};
use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgUnitId, PartnerId};
use crate::org::{self, NewOrgUnit};
use crate::partners::{self, NewPartner};
use crate::scope::Actor;
use crate::secrets::random_secret;
use crate::types::{ClockKind, OrgKind, PartnerKind, Priority, Role};
use crate::users::{self, NewUser};

pub const CREDENTIALS_FILE: &str = "demo-credentials.txt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    pub role: Role,
    pub username: String,
    pub password: String,
    pub scope: String,
}

const fn rule(respond_minutes: i32, resolve_minutes: i32, clock: ClockKind) -> SlaRule {
    SlaRule {
        respond_minutes,
        resolve_minutes,
        clock,
    }
}

/// Urgent matters: 2 hours around the clock at every priority's top.
const URGENT: SlaRule = rule(30, 120, ClockKind::Calendar);
/// A working day is 7.5 working hours (09:00–12:00, 13:30–18:00).
const WORKING_DAY: i32 = 450;

/// Water, power, gas, heat: 24 hours, around the clock.
fn utilities() -> SlaPolicies {
    SlaPolicies {
        urgent: URGENT,
        high: rule(60, 24 * 60, ClockKind::Calendar),
        normal: rule(120, 24 * 60, ClockKind::Calendar),
        low: rule(240, 48 * 60, ClockKind::Calendar),
    }
}

/// General requests: 7 working days.
fn general() -> SlaPolicies {
    SlaPolicies {
        urgent: URGENT,
        high: rule(120, 24 * 60, ClockKind::Calendar),
        normal: rule(WORKING_DAY, 7 * WORKING_DAY, ClockKind::Working),
        low: rule(2 * WORKING_DAY, 7 * WORKING_DAY, ClockKind::Working),
    }
}

/// Complex matters (renovation, multi-party): 15 working days.
fn complex() -> SlaPolicies {
    SlaPolicies {
        urgent: URGENT,
        high: rule(WORKING_DAY, 5 * WORKING_DAY, ClockKind::Working),
        normal: rule(2 * WORKING_DAY, 15 * WORKING_DAY, ClockKind::Working),
        low: rule(3 * WORKING_DAY, 15 * WORKING_DAY, ClockKind::Working),
    }
}

fn safety() -> SlaPolicies {
    SlaPolicies {
        urgent: URGENT,
        high: rule(30, 8 * 60, ClockKind::Calendar),
        normal: rule(60, 24 * 60, ClockKind::Calendar),
        low: rule(120, 48 * 60, ClockKind::Calendar),
    }
}

fn demo_categories() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Priority,
    SlaPolicies,
)> {
    vec![
        (
            "safety_hazard",
            "安全隐患",
            "Safety hazard",
            Priority::Urgent,
            safety(),
        ),
        (
            "water_supply",
            "供水",
            "Water supply",
            Priority::High,
            utilities(),
        ),
        (
            "power_supply",
            "供电",
            "Power supply",
            Priority::High,
            utilities(),
        ),
        (
            "gas_supply",
            "燃气",
            "Gas supply",
            Priority::High,
            utilities(),
        ),
        ("heating", "供暖", "Heating", Priority::High, utilities()),
        (
            "environment_sanitation",
            "环境卫生",
            "Sanitation",
            Priority::Normal,
            general(),
        ),
        (
            "property_management",
            "物业服务",
            "Property management",
            Priority::Normal,
            general(),
        ),
        (
            "road_facilities",
            "市政设施",
            "Roads and public facilities",
            Priority::Normal,
            general(),
        ),
        (
            "elderly_care",
            "养老助老",
            "Elderly care",
            Priority::Normal,
            general(),
        ),
        (
            "neighbour_dispute",
            "邻里纠纷",
            "Neighbour dispute",
            Priority::Low,
            general(),
        ),
        (
            "old_community_renovation",
            "老旧小区改造",
            "Old community renovation",
            Priority::Normal,
            complex(),
        ),
    ]
}

/// The readable group of a demo category (Open311's service group).
fn group_of(code: &str) -> &'static str {
    match code {
        "safety_hazard" => "公共安全",
        "water_supply" | "power_supply" | "gas_supply" | "heating" => "水电气热",
        "environment_sanitation" => "城市环境",
        "property_management" | "old_community_renovation" => "住房物业",
        "road_facilities" => "市政设施",
        "elderly_care" => "民生服务",
        _ => "社会治理",
    }
}

/// district (code, name, email) → streets (code, name, email) → communities (code, name)
type Tree = [(
    &'static str,
    &'static str,
    &'static str,
    &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    )],
)];

const TREE: &Tree = &[
    (
        "110105",
        "朝阳区",
        "chaoyang@district.example.com",
        &[
            (
                "110105026",
                "望京街道",
                "wangjing@street.example.com",
                &[
                    ("110105026001", "望京西园一区社区"),
                    ("110105026002", "花家地北里社区"),
                ],
            ),
            (
                "110105004",
                "和平街街道",
                "hepingjie@street.example.com",
                &[
                    ("110105004001", "和平街一社区"),
                    ("110105004002", "樱花园社区"),
                ],
            ),
        ],
    ),
    (
        "110108",
        "海淀区",
        "haidian@district.example.com",
        &[
            (
                "110108015",
                "中关村街道",
                "zhongguancun@street.example.com",
                &[("110108015001", "科源社区"), ("110108015002", "黄庄社区")],
            ),
            (
                "110108019",
                "学院路街道",
                "xueyuanlu@street.example.com",
                &[
                    ("110108019001", "二里庄社区"),
                    ("110108019002", "展春园社区"),
                ],
            ),
        ],
    ),
];

/// Fills an empty database with the demo city and returns the demo logins.
/// Refuses in production and on a database that already holds an org tree.
pub fn seed(
    conn: &mut DbConnection,
    production: bool,
    now: NaiveDateTime,
) -> CoreResult<Vec<DemoLogin>> {
    if production {
        return Err(CoreError::Forbidden(
            "demo data is never loaded with production on",
        ));
    }
    if !org::is_empty(conn)? || users::any_exist(conn)? {
        return Err(CoreError::conflict(
            "the database already holds data; demo data goes into an empty one only",
        ));
    }
    let (admin, mut logins) = seed_admin(conn, now)?;
    let tree = seed_tree(conn, &admin, now)?;
    seed_categories(conn, &admin, now)?;
    let property = seed_partners(conn, &admin, &tree, now)?;
    logins.extend(seed_accounts(conn, &admin, &tree, property, now)?);
    seed_places(conn, &admin)?;
    Ok(logins)
}

/// The demo tree as made: (id, district code, name) of each community, (id, name) of
/// each street and district, in the order of `TREE`.
struct Made {
    communities: Vec<(OrgUnitId, &'static str, &'static str)>,
    streets: Vec<(OrgUnitId, &'static str)>,
    districts: Vec<(OrgUnitId, &'static str)>,
}

/// The administrator, who makes everything else, with its login.
fn seed_admin(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<(Actor, Vec<DemoLogin>)> {
    let mut logins = Vec::new();
    let admin_password = random_secret(16);
    let admin = users::create_unchecked(
        conn,
        &NewUser {
            username: "demo-admin".into(),
            display_name: "演示管理员 Demo admin".into(),
            email: Some("admin@jiesu.example.com".into()),
            password: admin_password.clone(),
            role: Role::Admin,
            org_unit_id: None,
            partner_id: None,
        },
        now,
    )?;
    logins.push(DemoLogin {
        role: Role::Admin,
        username: admin.username,
        password: admin_password,
        scope: "everything".into(),
    });
    Ok((Actor::load(conn, admin.id)?, logins))
}

/// The city, two districts, their streets and communities, three grids per community.
fn seed_tree(conn: &mut DbConnection, admin: &Actor, now: NaiveDateTime) -> CoreResult<Made> {
    let city = org::create(
        conn,
        admin,
        &NewOrgUnit {
            parent_id: None,
            kind: OrgKind::City,
            name: "北京市".into(),
            code: "110000".into(),
            supervisor_emails: vec!["12345@city.example.com".into()],
        },
        now,
    )?;

    let mut tree = Made {
        communities: Vec::new(),
        streets: Vec::new(),
        districts: Vec::new(),
    };
    for (dcode, dname, demail, street_list) in TREE {
        let district = org::create(
            conn,
            admin,
            &NewOrgUnit {
                parent_id: Some(city.id),
                kind: OrgKind::District,
                name: (*dname).into(),
                code: (*dcode).into(),
                supervisor_emails: vec![(*demail).into()],
            },
            now,
        )?;
        tree.districts.push((district.id, dname));
        for (scode, sname, semail, community_list) in *street_list {
            let street = org::create(
                conn,
                admin,
                &NewOrgUnit {
                    parent_id: Some(district.id),
                    kind: OrgKind::Street,
                    name: (*sname).into(),
                    code: (*scode).into(),
                    supervisor_emails: vec![(*semail).into()],
                },
                now,
            )?;
            tree.streets.push((street.id, sname));
            for (ccode, cname) in *community_list {
                let community = org::create(
                    conn,
                    admin,
                    &NewOrgUnit {
                        parent_id: Some(street.id),
                        kind: OrgKind::Community,
                        name: (*cname).into(),
                        code: (*ccode).into(),
                        supervisor_emails: vec![format!("c{ccode}@community.example.com")],
                    },
                    now,
                )?;
                for g in 1..=3 {
                    org::create(
                        conn,
                        admin,
                        &NewOrgUnit {
                            parent_id: Some(community.id),
                            kind: OrgKind::Grid,
                            name: format!("第{g}网格"),
                            code: format!("{ccode}G{g:02}"),
                            supervisor_emails: vec![],
                        },
                        now,
                    )?;
                }
                tree.communities.push((community.id, dcode, cname));
            }
        }
    }
    Ok(tree)
}

/// The categories with their SLA rules.
fn seed_categories(conn: &mut DbConnection, admin: &Actor, now: NaiveDateTime) -> CoreResult<()> {
    for (code, zh, en, priority, sla) in demo_categories() {
        categories::create(
            conn,
            admin,
            &NewCategory {
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
                group: group_of(code).into(),
                default_priority: priority,
                sla,
            },
            now,
        )?;
    }
    Ok(())
}

/// Partner units of every kind, each serving some communities in some categories; returns
/// the first (the property company the demo unit account works for).
fn seed_partners(
    conn: &mut DbConnection,
    admin: &Actor,
    tree: &Made,
    now: NaiveDateTime,
) -> CoreResult<Option<PartnerId>> {
    let in_district = |code: &str| -> Vec<OrgUnitId> {
        tree.communities
            .iter()
            .filter(|(_, d, _)| *d == code)
            .map(|(id, _, _)| *id)
            .collect()
    };
    let chaoyang = in_district("110105");
    let haidian = in_district("110108");
    let wangjing: Vec<OrgUnitId> = chaoyang[..2].to_vec();
    let codes = |list: &[&str]| list.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    type PartnerSpec<'a> = (&'a str, PartnerKind, &'a str, Vec<OrgUnitId>, Vec<String>);
    let partner_specs: Vec<PartnerSpec> = vec![
        (
            "望京宜居物业服务有限公司",
            PartnerKind::Property,
            "service@wangjing-property.example.com",
            wangjing.clone(),
            codes(&[
                "property_management",
                "water_supply",
                "power_supply",
                "heating",
                "environment_sanitation",
                "old_community_renovation",
            ]),
        ),
        (
            "朝阳区实验小学",
            PartnerKind::School,
            "office@cy-school.example.com",
            chaoyang.clone(),
            codes(&["elderly_care", "neighbour_dispute"]),
        ),
        (
            "望京社区卫生服务中心",
            PartnerKind::Hospital,
            "clinic@wangjing-health.example.com",
            wangjing.clone(),
            codes(&["elderly_care", "safety_hazard"]),
        ),
        (
            "朝阳康乐养老照料中心",
            PartnerKind::ElderlyCare,
            "care@kangle.example.com",
            chaoyang.clone(),
            codes(&["elderly_care"]),
        ),
        (
            "城市排水与燃气服务公司",
            PartnerKind::Enterprise,
            "dispatch@utility.example.com",
            [chaoyang.clone(), haidian.clone()].concat(),
            codes(&[
                "water_supply",
                "gas_supply",
                "road_facilities",
                "safety_hazard",
            ]),
        ),
        (
            "阳光社会工作服务中心",
            PartnerKind::SocialOrg,
            "hello@sunshine-sw.example.com",
            [chaoyang.clone(), haidian.clone()].concat(),
            codes(&["neighbour_dispute", "elderly_care"]),
        ),
        (
            "海淀区城市管理委员会",
            PartnerKind::GovernmentDept,
            "duty@hd-cgw.example.com",
            haidian.clone(),
            codes(&["road_facilities", "environment_sanitation", "safety_hazard"]),
        ),
        (
            "中关村志愿者服务队",
            PartnerKind::Other,
            "team@zgc-volunteers.example.com",
            haidian.clone(),
            codes(&["environment_sanitation", "elderly_care"]),
        ),
    ];
    let mut first_partner: Option<PartnerId> = None;
    for (name, kind, email, served, cats) in partner_specs {
        let partner = partners::create(
            conn,
            admin,
            &NewPartner {
                name: name.into(),
                kind,
                contact_email: email.into(),
                contact_phone: Some("010-12345678".into()),
                communities: served,
                categories: cats,
            },
            now,
        )?;
        first_partner.get_or_insert(partner.id);
    }
    Ok(first_partner)
}

/// A street and a district supervisor, a grid member and a unit's staff, with logins.
fn seed_accounts(
    conn: &mut DbConnection,
    admin: &Actor,
    tree: &Made,
    property: Option<PartnerId>,
    now: NaiveDateTime,
) -> CoreResult<Vec<DemoLogin>> {
    let mut logins = Vec::new();
    let wangjing_street = tree.streets[0];
    let chaoyang_district = tree.districts[0];
    let first_community = tree.communities[0];
    let first_grid = org::list(
        conn,
        admin,
        &org::OrgUnitFilter {
            parent_id: Some(first_community.0),
            kind: Some(OrgKind::Grid),
            ..org::OrgUnitFilter::default()
        },
        crate::pagination::PageRequest {
            after: None,
            limit: 1,
        },
    )?
    .items
    .remove(0);
    type AccountSpec<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Role,
        Option<OrgUnitId>,
        Option<PartnerId>,
        String,
    );
    let accounts: Vec<AccountSpec> = vec![
        (
            "demo-supervisor",
            "望京街道 王主任",
            "wangjing@street.example.com",
            Role::Supervisor,
            Some(wangjing_street.0),
            None,
            format!("supervisor of {} (street)", wangjing_street.1),
        ),
        (
            "demo-district",
            "朝阳区 李科长",
            "chaoyang@district.example.com",
            Role::Supervisor,
            Some(chaoyang_district.0),
            None,
            format!("supervisor of {} (district)", chaoyang_district.1),
        ),
        (
            "demo-grid",
            "网格员 张敏",
            "grid1@community.example.com",
            Role::GridMember,
            Some(first_grid.id),
            None,
            format!("grid member of {} {}", first_community.2, first_grid.name),
        ),
        (
            "demo-unit",
            "物业 刘师傅",
            "staff@wangjing-property.example.com",
            Role::UnitStaff,
            None,
            property,
            "staff of 望京宜居物业服务有限公司 (property)".into(),
        ),
    ];
    for (username, display_name, email, role, org_unit_id, partner_id, scope) in accounts {
        let password = random_secret(16);
        users::create_unchecked(
            conn,
            &NewUser {
                username: username.into(),
                display_name: display_name.into(),
                email: Some(email.into()),
                password: password.clone(),
                role,
                org_unit_id,
                partner_id,
            },
            now,
        )?;
        logins.push(DemoLogin {
            role,
            username: username.into(),
            password,
            scope,
        });
    }
    Ok(logins)
}

/// Where the demo communities are (so Open311 coordinates find them) and the extra
/// questions of the property category.
fn seed_places(conn: &mut DbConnection, admin: &Actor) -> CoreResult<()> {
    use crate::open311::{
        self, AttributeList, AttributeValue, Datatype, Geo, LatLong, ServiceAttribute,
    };
    use crate::schema::org_units;
    use diesel::prelude::*;

    let centres: &[(&str, f64, f64)] = &[
        ("110105026001", 39.9950, 116.4700),
        ("110105026002", 39.9780, 116.4680),
        ("110105004001", 39.9700, 116.4230),
        ("110105004002", 39.9660, 116.4320),
        ("110108015001", 39.9830, 116.3180),
        ("110108015002", 39.9760, 116.3230),
        ("110108019001", 39.9900, 116.3500),
        ("110108019002", 39.9990, 116.3560),
    ];
    for (code, lat, long) in centres {
        let Some(id) = org_units::table
            .filter(org_units::code.eq(code))
            .select(org_units::id)
            .first::<OrgUnitId>(conn)
            .optional()?
        else {
            continue;
        };
        let point = |dlat: f64, dlong: f64| LatLong {
            lat: lat + dlat,
            long: long + dlong,
        };
        // A square of about 670 m by 510 m around the centre.
        let boundary = vec![
            point(-0.003, -0.003),
            point(-0.003, 0.003),
            point(0.003, 0.003),
            point(0.003, -0.003),
        ];
        open311::set_geo(
            conn,
            admin,
            id,
            &Geo {
                centre: Some(point(0.0, 0.0)),
                boundary,
            },
        )?;
    }
    let property = categories::ids_by_code(conn, &["property_management".into()])?;
    if let Some(id) = property.get("property_management") {
        let value = |key: &str, name: &str| AttributeValue {
            key: key.into(),
            name: name.into(),
        };
        open311::set_attributes(
            conn,
            admin,
            *id,
            &AttributeList {
                attributes: vec![ServiceAttribute {
                    variable: true,
                    code: "FACILITY".into(),
                    datatype: Datatype::Singlevaluelist,
                    required: false,
                    datatype_description: None,
                    order: 1,
                    description: "哪类设施？Which facility?".into(),
                    values: vec![
                        value("lighting", "楼道照明 Stairwell lights"),
                        value("door", "单元门 Entrance door"),
                        value("elevator", "电梯 Elevator"),
                    ],
                }],
            },
        )?;
    }
    Ok(())
}

/// The demo logins as text: printed once and kept (mode 0600) in the data folder.
pub fn credentials_text(logins: &[DemoLogin]) -> String {
    let mut out = String::from("jiesu demo logins (demo data only; never used in production)\n\n");
    for l in logins {
        out.push_str(&format!(
            "{:<12} {:<16} {:<18} {}\n",
            l.role.as_str(),
            l.username,
            l.password,
            l.scope
        ));
    }
    out
}

pub fn write_credentials(data_dir: &Path, logins: &[DemoLogin]) -> CoreResult<std::path::PathBuf> {
    let path = data_dir.join(CREDENTIALS_FILE);
    crate::fsutil::write_private(&path, credentials_text(logins).as_bytes())?;
    Ok(path)
}

/// A few tickets in the demo city, logged and moved through the same functions the API
/// calls: one left alone (it will escalate), one in the pool, one claimed by a unit.
pub fn seed_tickets(
    conn: &mut DbConnection,
    ctx: &crate::tickets::Context<'_>,
) -> CoreResult<Vec<String>> {
    use crate::ids::UserId;
    use crate::schema::users as users_t;
    use crate::tickets::lifecycle::{self, Action, Target};
    use crate::tickets::logging::{self, NewTicket};
    use diesel::prelude::*;

    let actor = |conn: &mut DbConnection, username: &str| -> CoreResult<Actor> {
        let id: UserId = users_t::table
            .filter(users_t::username.eq(username))
            .select(users_t::id)
            .first(conn)?;
        Actor::load(conn, id)
    };
    let grid = actor(conn, "demo-grid")?;
    let supervisor = actor(conn, "demo-supervisor")?;
    let unit = actor(conn, "demo-unit")?;
    let ticket =
        |category: &str, title: &str, description: &str, address: &str, households: i32| {
            NewTicket {
                category: category.into(),
                priority: None,
                title: title.into(),
                description: description.into(),
                community_id: None,
                grid_id: None,
                address: address.into(),
                latitude: Some(39.9967),
                longitude: Some(116.4700),
                resident_name: Some("陈阿姨".into()),
                resident_phone: Some("13900001111".into()),
                households,
                channel: None,
                hotline_ref: None,
                hotline: None,
            }
        };
    let mut numbers = Vec::new();
    let left_alone = logging::log(
        conn,
        &grid,
        &ticket(
            "property_management",
            "5号楼2单元楼道灯不亮",
            "1至6层声控灯全部不亮，老人夜间上下楼不便",
            "望京西园一区5号楼2单元",
            12,
        ),
        None,
        ctx,
    )?;
    numbers.push(left_alone.ticket.number);
    let pooled = logging::log(
        conn,
        &grid,
        &ticket(
            "environment_sanitation",
            "小区东门垃圾桶满溢",
            "东门垃圾桶两天未清运，异味明显",
            "望京西园一区东门",
            40,
        ),
        None,
        ctx,
    )?;
    lifecycle::transition(
        conn,
        &supervisor,
        pooled.ticket.id,
        &Action::Dispatch {
            to: Target::Pool,
            note: None,
        },
        ctx,
    )?;
    numbers.push(pooled.ticket.number);
    let claimed = logging::log(
        conn,
        &grid,
        &ticket(
            "heating",
            "8号楼暖气不热",
            "室温不足16度，家中有婴儿",
            "望京西园一区8号楼3单元502",
            1,
        ),
        None,
        ctx,
    )?;
    let property = unit.scope.clone();
    if let crate::scope::Scope::Partner { partner } = property {
        lifecycle::transition(
            conn,
            &supervisor,
            claimed.ticket.id,
            &Action::Dispatch {
                to: Target::Partner(partner),
                note: None,
            },
            ctx,
        )?;
        lifecycle::transition(conn, &unit, claimed.ticket.id, &Action::Claim, ctx)?;
    }
    numbers.push(claimed.ticket.number);
    Ok(numbers)
}
